"""Benchmark `redirect`: /s/<code> under gunicorn (2 workers) driven by wrk on loopback.

Links are made in a fresh database (half of them a contact's own delivery
links, half shared), gunicorn serves the real app, and wrk (Debian's `wrk`;
a bounded Python load generator where it is missing) requests random codes
with a browser's user agent for a fixed time. The baseline is a static file
from the same server in the same run. Then a Python client sends an exact
number of requests to links of their own. After gunicorn stops gracefully the
clicks are counted: every redirect wrk received has its row (wrk stops with a
request in flight on each connection, so up to one row more per connection),
and the exact pass has exactly one row per request.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import fresh_app, person_name, result

ROOT = Path(__file__).resolve().parent.parent
BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Mobile/15E148 MicroMessenger/8.0.44 NetType/WIFI Language/zh_CN")
STATIC_PATH = "/static/app.css"


def _make_links(n_links: int, seed: int = 8, prefix: str = "bench") -> list[str]:
    from campaigner.audience.models import Contact
    from campaigner.db import database, utcnow
    from campaigner.links.models import ShortLink
    from campaigner.links.shortener import new_code, url_hash

    rng = random.Random(seed)
    now = utcnow()
    with database.connection_context(), database.atomic():
        for start in range(0, n_links // 2, 500):
            rows = [{"name": person_name(rng), "external_id": f"{prefix}-{start + i}"}
                    for i in range(min(500, n_links // 2 - start))]
            Contact.insert_many(rows).execute()
        contacts = [c for (c,) in Contact.select(Contact.id).where(Contact.external_id.startswith(f"{prefix}-"))
                    .order_by(Contact.id).tuples()]
        links = []
        for i in range(n_links):
            url = f"https://shop.example.com/item/{rng.randint(1, 5000)}?from=bench&i={i}"
            links.append({"code": new_code(), "target": url, "original_url": url, "url_hash": url_hash(url),
                          "kind": "delivery" if i % 2 == 0 else "manual", "channel": "sms",
                          "contact": contacts[i // 2] if i % 2 == 0 and i // 2 < len(contacts) else None,
                          "created_at": now, "updated_at": now})
        for start in range(0, len(links), 500):
            ShortLink.insert_many(links[start:start + 500]).execute()
    return [link["code"] for link in links]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(app, port: int, workers: int, threads: int, log_path: Path) -> subprocess.Popen:
    settings = app.config["CAMPAIGNER"]
    env = {**os.environ,
           "CAMPAIGNER_INSTANCE_PATH": settings["INSTANCE_PATH"], "CAMPAIGNER_DATABASE_URL": settings["DATABASE_URL"],
           "CAMPAIGNER_QUEUE_URL": settings["QUEUE_URL"], "CAMPAIGNER_SECRET_KEY": settings["SECRET_KEY"],
           "CAMPAIGNER_BASE_URL": f"http://127.0.0.1:{port}"}
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
               "--worker-class", "gthread" if threads > 1 else "sync", "--bind", f"127.0.0.1:{port}",
               "--graceful-timeout", "30", "--log-level", "warning", "campaigner.app:create_app()"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{STATIC_PATH}", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not answer within 60 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)  # graceful: each worker writes the clicks it still buffers
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("gunicorn did not stop within 60 s")


WRK_SCRIPT = """
local codes = {%s}
wrk.headers["User-Agent"] = "%s"
request = function()
  return wrk.format("GET", "/s/" .. codes[math.random(#codes)])
end
"""

WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def _wrk(url: str, seconds: float, connections: int, script: str | None) -> dict:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency",
               "-H", f"User-Agent: {BROWSER_UA}"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = {}
    for pct, value, unit in WRK_LATENCY.findall(out):
        latency[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "bad": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "p50_ms": latency.get("50"), "p99_ms": latency.get("99")}


def _python_load(url_paths: list[str], base: str, seconds: float, connections: int,
                 total: int | None = None) -> dict:
    """A bounded keep-alive load generator: for `seconds`, or until exactly `total` responses came back.

    Used where wrk is missing (slower: the client competes for CPU), and for the
    exact count of recorded clicks, which wrk's time-boxed runs can't give.
    """
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    stop_at = time.monotonic() + seconds
    counts, bad, latencies = [0] * connections, [0] * connections, [[] for _ in range(connections)]
    quota = None if total is None else [total // connections + (i < total % connections) for i in range(connections)]

    def worker(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        while time.monotonic() < stop_at and counts[i] < (quota[i] if quota else 2_000_000):
            start = time.perf_counter()
            conn.request("GET", rng.choice(url_paths), headers={"User-Agent": BROWSER_UA})
            response = conn.getresponse()
            response.read()
            latencies[i].append((time.perf_counter() - start) * 1000)
            counts[i] += 1
            if response.status >= 400:
                bad[i] += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    from bench.common import percentile

    every = [x for lat in latencies for x in lat]
    return {"requests": sum(counts), "rps": sum(counts) / elapsed, "bad": sum(bad), "socket_errors": 0,
            "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99)}


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    backend = getattr(args, "backend", "sqlite")
    n_links = 1000 if quick else 10_000
    seconds = 5 if quick else 15
    connections = 16
    workers, threads = 2, 4
    tool = "wrk" if shutil.which("wrk") else "python"
    with fresh_app(backend) as app, tempfile.TemporaryDirectory(prefix="bench-redirect-") as tmp:
        from campaigner.db import database
        from campaigner.links.models import Click

        codes = _make_links(n_links)
        # Links only the exact pass uses: after it, their clicks must number exactly its requests.
        exact_codes = _make_links(100, seed=9, prefix="exact")
        exact_requests = 1000 if quick else 3000
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        database.close()
        proc = _start_gunicorn(app, port, workers, threads, Path(tmp) / "gunicorn.log")
        try:
            if tool == "wrk":
                script = Path(tmp) / "codes.lua"
                script.write_text(WRK_SCRIPT % (",".join(json.dumps(c) for c in codes), BROWSER_UA))
                warm = _wrk(base + "/", 2, connections, str(script))
                static = _wrk(base + STATIC_PATH, seconds, connections, None)
                redirect = _wrk(base + "/", seconds, connections, str(script))
            else:
                paths = [f"/s/{c}" for c in codes]
                warm = _python_load(paths, base, 2, connections)
                static = _python_load([STATIC_PATH], base, seconds, connections)
                redirect = _python_load(paths, base, seconds, connections)
            exact = _python_load([f"/s/{c}" for c in exact_codes], base, 600, 4, total=exact_requests)
        finally:
            _stop(proc)
        from campaigner.links.models import ShortLink

        with database.connection_context():
            exact_rows = Click.select().join(ShortLink).where(ShortLink.code.in_(exact_codes)).count()
            rows = Click.select().count() - exact_rows
            bots = Click.select().where(Click.is_bot == True).count()  # noqa: E712
        if exact["requests"] != exact_requests or exact_rows != exact_requests:
            raise RuntimeError(f"exact pass: {exact['requests']} redirects answered, {exact_rows} clicks recorded")
        answered = warm["requests"] + redirect["requests"]
        # wrk stops mid-request on each connection when time is up: those the server
        # answered but wrk did not count may have rows too (at most one per connection).
        all_recorded = answered <= rows <= answered + 2 * connections
        if redirect["bad"] or warm["bad"]:
            raise RuntimeError(f"{redirect['bad'] + warm['bad']} redirects answered with an error")
        if not all_recorded:
            raise RuntimeError(f"{answered} redirects answered but {rows} clicks recorded")
    return result(
        "redirect", backend, redirect["requests"], redirect["rps"], "requests/s",
        baseline=static["rps"], baseline_unit="requests/s (static file, same server)",
        ratio=static["rps"] / redirect["rps"] if redirect["rps"] else None,
        target=">= 1000 requests/s with gunicorn, 2 workers; every click recorded",
        load_tool=tool, server=f"gunicorn gthread, {workers} workers x {threads} threads",
        connections=connections, seconds=seconds, links=n_links,
        p50_ms=redirect["p50_ms"], p99_ms=redirect["p99_ms"],
        static_p50_ms=static["p50_ms"], static_p99_ms=static["p99_ms"],
        redirects_answered=answered, clicks_recorded=rows, clicks_flagged_bot=bots,
        exact_pass_redirects=exact["requests"], exact_pass_clicks_recorded=exact_rows,
        socket_errors=redirect["socket_errors"],
    )
