"""Benchmark `inbound`: encrypted WeCom add-contact callbacks over HTTP, then processing the ledger.

The real app runs under gunicorn (2 workers x 4 threads) with the wecom channel configured. A
Python client (keep-alive connections in threads) posts N distinct add_external_contact
callbacks, each signed and encrypted beforehand with wechatpy as WeCom would (so the client's
cost is only HTTP), and times each acknowledgement. Every acknowledged callback must have its
ledger row (stored before the answer). The baseline is a static file from the same server under
the same load, in the same run.

Then the ledger is processed in this process (`process_pending`, what the worker's task runs):
each event creates the staff account, the customer's identity and contact, the relationship and a
``joined`` event. Its baseline is the rate at which the same process inserts ledger rows one by one
(`record_inbound_event`), in the same run. Every event must end ``done`` with its relationship.
"""
from __future__ import annotations

import http.client
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.common import fresh_app, percentile, result
from bench.redirect import STATIC_PATH, _free_port, _python_load, _start_gunicorn, _stop


def _post_all(base: str, requests: list[tuple[str, bytes]], connections: int) -> dict:
    """Post every request once over `connections` keep-alive connections; latencies in ms."""
    from urllib.parse import urlsplit

    host = urlsplit(base)
    chunks = [requests[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    bad = [0] * connections

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        for path, body in chunks[i]:
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers={"Content-Type": "text/xml"})
            response = conn.getresponse()
            answer = response.read()
            latencies[i].append((time.perf_counter() - start) * 1000)
            if response.status != 200 or answer != b"success":
                bad[i] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = [x for lat in latencies for x in lat]
    return {"requests": len(every), "rps": len(every) / elapsed, "bad": sum(bad), "seconds": elapsed,
            "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99)}


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    backend = getattr(args, "backend", "sqlite")
    n = 2000 if quick else 10_000
    connections = 16
    workers, threads = 2, 4
    from campaigner.testing_wecom import CallbackSender, random_aes_key

    aes = random_aes_key()
    config = {"account": "main", "corp_id": "ww-bench", "secret": "bench-secret", "callback_token": "bench-token",
              "encoding_aes_key": aes}
    with fresh_app(backend) as app, tempfile.TemporaryDirectory(prefix="bench-inbound-") as tmp:
        from campaigner.channels.config import save_config
        from campaigner.db import database
        from campaigner.events.models import Event
        from campaigner.inbound.models import InboundEvent
        from campaigner.inbound.services import process_pending, record_inbound_event
        from campaigner.wecom.models import ContactOwner

        with database.connection_context():
            save_config(app.extensions["campaigner"].plugins.channel("wecom"), config, app.config["CAMPAIGNER"])
        sender = CallbackSender("", "bench-token", aes, "ww-bench")
        requests = []
        for i in range(n):
            args_, body = sender.encrypted(sender.add_external_contact(f"staff{i % 3}", f"wm{i:07d}",
                                                                       state=f"code{i % 20}"))
            requests.append((f"/hooks/wecom/main?{urlencode(args_)}", body))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        database.close()
        proc = _start_gunicorn(app, port, workers, threads, Path(tmp) / "gunicorn.log")
        try:
            _python_load([STATIC_PATH], base, 2, connections)  # warm up every worker
            static = _python_load([STATIC_PATH], base, 5 if quick else 10, connections)
            accepted = _post_all(base, requests, connections)
        finally:
            _stop(proc)
        with database.connection_context():
            stored = InboundEvent.select().where(InboundEvent.provider == "wecom").count()
        if accepted["bad"] or stored != n:
            raise RuntimeError(f"{accepted['bad']} callbacks refused; {stored} of {n} stored")

        # Baseline for processing: this process inserting ledger rows one by one.
        with database.connection_context():
            started = time.perf_counter()
            for i in range(n):
                record_inbound_event("bench", "noop", f"b{i}", {"i": i})
            insert_seconds = time.perf_counter() - started
            InboundEvent.update(status="done").where(InboundEvent.provider == "bench").execute()
            started = time.perf_counter()
            report = process_pending()
            process_seconds = time.perf_counter() - started
            owners = ContactOwner.select().count()
            joined = Event.select().where(Event.kind == "joined").count()
            done = InboundEvent.select().where(InboundEvent.provider == "wecom", InboundEvent.status == "done").count()
        if done != n or owners != n or joined != n:
            raise RuntimeError(f"processed {done} of {n}; {owners} relationships, {joined} joined events")
    processed_rate = n / process_seconds
    return result(
        "inbound", backend, n, accepted["rps"], "callbacks/s accepted",
        baseline=static["rps"], baseline_unit="requests/s (static file, same server, same load)",
        ratio=static["rps"] / accepted["rps"] if accepted["rps"] else None,
        target=">= 1000 callbacks/s accepted, p99 acknowledge <= 100 ms, >= 2000 events/s processed (SQLite)",
        server=f"gunicorn gthread, {workers} workers x {threads} threads", connections=connections,
        load_tool="python (keep-alive threads, bodies encrypted beforehand)",
        ack_p50_ms=accepted["p50_ms"], ack_p99_ms=accepted["p99_ms"], static_p99_ms=static["p99_ms"],
        processed_per_s=round(processed_rate, 1), processed=report.done,
        ledger_inserts_per_s=round(n / insert_seconds, 1),
        processing_ratio=round((n / insert_seconds) / processed_rate, 3),
        note="2 cores shared by seven engineers' test runs: absolute rates are depressed; compare ratios",
    )
