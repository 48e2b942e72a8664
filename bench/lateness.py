"""Benchmark `lateness`: from a campaign's send time to its first send, 200 campaigns spread across a minute.

Each campaign targets a few contacts of its own and is scheduled (through
the service, as the UI does) for a moment in the coming minute; one
`campaigner worker` process runs them. The no-op channel appends the wall
time of every send to a file, so lateness is measured where the message
leaves, not where the engine thinks it did.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from bench.common import fresh_app, percentile, result
from bench.worker_process import make_contacts, register_in_process, start_worker, stop_worker, wait_completed, write_plugin

PER_CAMPAIGN = 3


def run(args) -> dict:
    items, spread = (60, 20.0) if args.quick else (200, 60.0)
    with tempfile.TemporaryDirectory(prefix="bench-lateness-") as tmp, fresh_app(args.backend) as app:
        from campaigner.audience.services import add_tags
        from campaigner.audience.models import Contact
        from campaigner.campaigns.services import create_campaign, schedule_campaign
        from campaigner.content.models import ContentItem
        from campaigner.db import database, utcnow

        sends_file = Path(tmp) / "sends.tsv"
        plugin_dir = write_plugin(Path(tmp) / "plugins")
        register_in_process(app, plugin_dir)
        make_contacts(items * PER_CAMPAIGN)
        with database.connection_context():
            ids = [c for (c,) in Contact.select(Contact.id).order_by(Contact.id).tuples()]
            for i, contact_id in enumerate(ids):
                add_tags(Contact.get_by_id(contact_id), [f"lateness:{i // PER_CAMPAIGN}"])
            content = ContentItem.create(title="Ping", slug="ping", status="approved", body="{{ name }}")
        worker = start_worker(app, plugin_dir, {"BENCH_SENDS": str(sends_file)})
        try:
            first_at = utcnow() + dt.timedelta(seconds=3)
            planned = {}
            with database.connection_context():
                for i in range(items):
                    send_at = first_at + dt.timedelta(seconds=spread * i / items)
                    campaign = create_campaign(name=f"ping {i}", content=content, channels=["bench_noop"],
                                               audience=f'tag:"lateness:{i}"', send_at=send_at)
                    schedule_campaign(campaign)
                    planned[campaign.id] = send_at
            wait_completed(list(planned), timeout=spread + 120, process=worker)
        finally:
            stop_worker(worker)
        first_send: dict[int, float] = {}
        for line in sends_file.read_text().splitlines():
            at, key = line.split("\t")
            campaign_id = int(key.split(":")[1])
            first_send[campaign_id] = min(first_send.get(campaign_id, float("inf")), float(at))
    if len(first_send) != items:
        raise RuntimeError(f"only {len(first_send)} of {items} campaigns sent")
    epoch = dt.datetime(1970, 1, 1)
    late_ms = [(first_send[cid] - (send_at - epoch).total_seconds()) * 1000 for cid, send_at in planned.items()]
    p99 = percentile(late_ms, 99)
    return result("lateness", args.backend, items, p99, "ms", target="p99 <= 1500 ms",
                  p50_ms=round(percentile(late_ms, 50), 1), p99_ms=round(p99, 1), max_ms=round(max(late_ms), 1),
                  min_ms=round(min(late_ms), 1), spread_s=spread)
