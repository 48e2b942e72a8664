"""The embedded database under concurrent writes: writers wait their turn, none gets a 500."""
from __future__ import annotations

import threading
import uuid

import requests

WRITERS_PER_KIND = 3


def test_concurrent_writers_of_several_kinds_get_no_server_error(live_server, api_token):
    headers = api_token("admin")
    session = requests.Session()
    calendar = session.post(f"{live_server}/api/v1/calendars", headers=headers, json={"name": "周计划"}, timeout=30)
    assert calendar.status_code == 201, calendar.text
    calendar_id = calendar.json()["id"]
    for weekday in range(7):
        slot = session.post(f"{live_server}/api/v1/calendars/{calendar_id}/slots", headers=headers,
                            json={"weekday": weekday, "time": "09:30", "theme": "早安"}, timeout=30)
        assert slot.status_code == 201, slot.text

    def request_for(kind: str, n: int):
        tag = uuid.uuid4().hex[:6]
        return {
            "rfm": ("POST", "/api/v1/rfm/recompute", {}),
            "apply": ("POST", f"/api/v1/calendars/{calendar_id}/apply", {"start": f"2031-0{n + 1}-01", "weeks": 4}),
            "contact": ("POST", "/api/v1/contacts", {"name": f"王芳{n}", "external_id": f"c-{tag}",
                                                     "phone": f"+861380013{n:04d}", "tags": ["vip", f"t{tag}"]}),
            "tag": ("POST", "/api/v1/tags", {"key": f"兴趣:{tag}"}),
            "content": ("POST", "/api/v1/content", {"title": f"新品 {tag}", "body": "拿铁第二杯半价"}),
            "goal": ("POST", "/api/v1/analytics/goals", {"name": f"g{tag}", "metric": "conversions", "target": 5,
                                                         "period_start": "2026-01-01", "period_end": "2026-12-31"}),
        }[kind]

    jobs = [request_for(kind, n) for kind in ("rfm", "apply", "contact", "tag", "content", "goal")
            for n in range(WRITERS_PER_KIND)]
    start = threading.Barrier(len(jobs))
    answers: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def write(method, path, body):
        with requests.Session() as own:
            start.wait()
            response = own.request(method, live_server + path, headers=headers, json=body, timeout=120)
        with lock:
            answers.append((path, response.status_code, response.text[:200]))

    threads = [threading.Thread(target=write, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(jobs) >= 8 and len(answers) == len(jobs)
    failed = [a for a in answers if not 200 <= a[1] < 300]
    assert not failed, failed
