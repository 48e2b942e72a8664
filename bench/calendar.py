"""Week view with 2,000 entries in view: how long the page takes to render (target <= 100 ms).

A brand with 200 community groups and moments calendars plans ten touches a
week in each: 2,000 entries between 07:00 and 22:00 in one week. Most have
approved content, 600 are published (half of them sent: completed campaigns
with deliveries, some failed), and some calendars share an audience, so
conflicts are flagged too. The page is fetched through the
Flask test client as a signed-in editor, the full page and the htmx grid
fragment, best of N with the median too, in wall-clock time (the headline)
and in CPU time of the process (which a busy shared machine inflates less). The baseline is the same page with
an empty week: the fixed cost of a page, so `ratio` shows what 2,000 entries add.
"""
from __future__ import annotations

import datetime as dt
import random
import time

from bench.common import fresh_app, percentile, peak_rss_mb, person_name, result

ENTRIES = 2000
CALENDARS = 200
TARGET_MS = 100.0


def _seed(rng: random.Random, monday: dt.date) -> dict:
    from campaigner.accounts.services import create_user
    from campaigner.audience.models import Contact
    from campaigner.calendars.models import Calendar, CalendarEntry
    from campaigner.calendars.services import local_to_utc
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem
    from campaigner.db import database, utcnow
    from campaigner.deliveries.engine import SOURCE
    from campaigner.deliveries.models import Delivery

    now = utcnow()
    with database.atomic():
        create_user("bench-editor@example.com", "editor", "password-123")
        contacts = []
        for i in range(50):
            contacts.append(Contact.create(name=person_name(rng), chat_id=f"wx-{i}", external_id=f"b-{i}").id)
        content = [ContentItem.create(title=f"{rng.choice(['咖啡', '拿铁', 'Flash sale', '抽奖', 'Tips'])} #{i}",
                                      slug=f"bench-{i}", kind=rng.choice(["moments", "community"]),
                                      status="approved" if i % 7 else "draft", body="hello").id for i in range(200)]
        calendars = []
        for i in range(CALENDARS):
            kind = "community" if i % 2 else "moments"
            # Every tenth pair of calendars shares its group, so some touches collide.
            group = f"group:g{i // 2}" if i % 20 < 2 else f"group:g{i}"
            calendars.append(Calendar.create(name=f"{'社群' if kind == 'community' else '朋友圈'} {i}", kind=kind,
                                             channel="chat", groups=[group], timezone="Asia/Shanghai",
                                             min_gap_minutes=120).id)
        rows = []
        for n in range(ENTRIES):
            day = monday + dt.timedelta(days=rng.randrange(7))
            at = dt.time(7 + rng.randrange(16), rng.choice([0, 15, 30, 45]))
            rows.append({"calendar": calendars[n % CALENDARS], "send_at": local_to_utc(day, at, "Asia/Shanghai"),
                         "theme": rng.choice(["每日干货", "限时秒杀", "幸运抽奖", "新品", "Morning tips"]),
                         "content": rng.choice(content) if rng.random() < 0.9 else None, "status": "draft",
                         "created_at": now, "updated_at": now})
        for start in range(0, len(rows), 500):
            CalendarEntry.insert_many(rows[start:start + 500]).execute()
        entries = list(CalendarEntry.select(CalendarEntry.id, CalendarEntry.content, CalendarEntry.send_at)
                       .where(CalendarEntry.content.is_null(False)))
        sent_campaigns = 0
        for entry in rng.sample(entries, 600):  # 600 published: half already sent
            done = rng.random() < 0.5
            campaign = Campaign.create(name=f"entry {entry.id}", content=entry.content_id, channels=["chat"],
                                       send_at=entry.send_at, status="completed" if done else "scheduled",
                                       origin=f"calendar_entry:{entry.id}")
            CalendarEntry.update(campaign=campaign.id, status="scheduled").where(CalendarEntry.id == entry.id).execute()
            if done:
                sent_campaigns += 1
                outcome = rng.random()
                Delivery.insert_many([
                    {"source_type": SOURCE, "source_id": campaign.id, "contact": contact, "channel": "chat",
                     "status": "failed" if (outcome < 0.1 or (outcome < 0.2 and k == 0)) else "sent",
                     "idempotency_key": f"c{campaign.id}-{contact}", "sent_at": now, "created_at": now,
                     "updated_at": now, "send_after": now}
                    for k, contact in enumerate(rng.sample(contacts, 5))]).execute()
    return {"calendars": CALENDARS, "entries": ENTRIES, "published": 600, "sent_campaigns": sent_campaigns}


def _timed(client, url: str, repeat: int, headers=None, cpu: list | None = None) -> tuple[list[float], str]:
    """Wall-clock ms of each of `repeat` fetches (and, into `cpu`, this process's CPU ms of each)."""
    times, body = [], ""
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers or {})
        body = response.get_data(as_text=True)
        times.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return times, body


def run(args) -> dict:
    repeat = 7 if args.quick else 25
    rng = random.Random(7)
    monday = dt.date(2030, 1, 7)
    with fresh_app(args.backend, WTF_CSRF_ENABLED=False, TESTING=True) as app:
        from campaigner.db import database

        with database.connection_context():
            seeded = _seed(rng, monday)
        client = app.test_client()
        login = client.post("/login", data={"email": "bench-editor@example.com", "password": "password-123"})
        if login.status_code != 302:
            raise RuntimeError("the bench editor could not sign in")
        url = f"/calendars/week?week={monday.isoformat()}"
        _timed(client, url, 2)  # warm caches, templates, translations
        cpu: list[float] = []  # CPU time does not grow when other work shares the machine; wall time does
        page_times, page = _timed(client, url, repeat, cpu=cpu)
        shown = page.count('class="cal-entry')
        if shown != ENTRIES:
            raise RuntimeError(f"the week view showed {shown} entries, not {ENTRIES}")
        fragment_times, fragment = _timed(client, url, repeat, headers={"HX-Request": "true"})
        one_calendar_times, one = _timed(client, f"/calendars/1/?week={monday.isoformat()}", repeat)
        empty_times, _ = _timed(client, f"/calendars/week?week={(monday + dt.timedelta(days=70)).isoformat()}", repeat)
        best = min(page_times)
        baseline = min(empty_times)
        return result(
            "calendar", args.backend, ENTRIES, best, "ms", baseline=baseline, baseline_unit="ms (empty week page)",
            ratio=best / baseline if baseline else None, target=f"<= {TARGET_MS:.0f} ms with {ENTRIES} entries",
            met=best <= TARGET_MS, p50_ms=round(percentile(page_times, 50), 2),
            cpu_best_ms=round(min(cpu), 2), cpu_p50_ms=round(percentile(cpu, 50), 2),
            fragment_best_ms=round(min(fragment_times), 2), fragment_p50_ms=round(percentile(fragment_times, 50), 2),
            one_calendar_best_ms=round(min(one_calendar_times), 2), one_calendar_entries=one.count('class="cal-entry'),
            entries_shown=shown, with_conflicts=page.count("has-conflict"), sent_shown=page.count('st-sent">'),
            page_kb=round(len(page.encode()) / 1024, 1), fragment_has_html_tag="<html" in fragment,
            repeat=repeat, peak_rss_mb=round(peak_rss_mb(), 1), **seeded)
