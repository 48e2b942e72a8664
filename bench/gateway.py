"""Benchmark `gateway`: a 10,000-contact SMS campaign against an HTTP gateway on loopback that answers after 20 ms.

The gateway runs in a process of its own (a threaded HTTP/1.1 server that
sleeps 20 ms per request and counts each message id). One `campaigner worker`
process sends the campaign; its concurrency comes from the send threads of
each batch. The baseline, in the same run, is one blocking send after another
through the same channel code.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from bench.common import result
from bench.worker_process import (make_contacts, peak_rss_mb, register_in_process, start_worker, stop_worker,
                                  wait_completed, write_plugin)

GATEWAY = textwrap.dedent('''
    import collections, json, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(0.020)
            with lock:
                seen[body["id"]] += 1
                n = sum(seen.values())
            reply = json.dumps({"id": f"gw-{n}"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self):
            with lock:
                reply = json.dumps({"messages": sum(seen.values()), "distinct": len(seen)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
''')


def _counts(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def run(args) -> dict:
    n = 2_000 if args.quick else 10_000
    baseline_n = 100 if args.quick else 200
    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{gateway.stdout.readline().strip()}/send"
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, fresh_app_for(args) as app:
            from campaigner.campaigns.services import create_campaign, schedule_campaign
            from campaigner.content.models import ContentItem
            from campaigner.db import database
            from campaigner.deliveries.models import Delivery
            from campaigner.settings_store import set_value

            import os

            os.environ["BENCH_GATEWAY"] = url
            plugin_dir = write_plugin(Path(tmp) / "plugins")
            register_in_process(app, plugin_dir)
            make_contacts(n)
            with database.connection_context():
                set_value("delivery_engine", {"batch_size": 500, "send_threads": 32})
                content = ContentItem.create(title="SMS", slug="sms", status="approved",
                                             body="【品牌】{{ name }}，会员日八折，回 TD 退订")

            # Baseline: the same channel, one blocking send after another.
            from campaigner import Message
            from campaigner.plugins import configured_channel

            with database.connection_context():
                channel = configured_channel("bench_sms")
            start = time.perf_counter()
            for i in range(baseline_n):
                channel.send(Message(to=f"+8613800000{i:03d}", body="baseline"), f"baseline-{i}")
            baseline_rate = baseline_n / (time.perf_counter() - start)

            worker = start_worker(app, plugin_dir, {"BENCH_GATEWAY": url})
            try:
                with database.connection_context():
                    campaign = create_campaign(name="SMS blast", content=content, channels=["bench_sms"])
                    start = time.perf_counter()
                    schedule_campaign(campaign)
                end = wait_completed([campaign.id], timeout=600, process=worker)
                rss = peak_rss_mb(worker)
            finally:
                stop_worker(worker)
            with database.connection_context():
                sent = Delivery.select().where(Delivery.source_id == campaign.id, Delivery.status == "sent").count()
            counts = _counts(url)
    finally:
        gateway.terminate()
        gateway.wait(5)
    received = counts["messages"] - baseline_n
    if sent != n or received != n or counts["distinct"] != n + baseline_n:
        raise RuntimeError(f"sent {sent}, gateway received {received} ({counts['distinct']} distinct) of {n}")
    rate = n / (end - start)
    return result("gateway", args.backend, n, rate, "sends/s", baseline=baseline_rate, baseline_unit="sends/s",
                  ratio=baseline_rate / rate, target=">= 500 sends/s from one worker process",
                  seconds=round(end - start, 3), gateway_latency_ms=20, gateway_received=received,
                  worker_peak_rss_mb=round(rss, 1))


def fresh_app_for(args):
    from bench.common import fresh_app

    return fresh_app(args.backend)
