"""Benchmark `fanout`: a 100,000-contact campaign from due to all sent, through a real worker process.

The campaign goes through the whole engine: the eta task, the set-based
fan-out, leased batches (the engine's default size) claimed by its default
number of send chains, the checks of the moment (opt-outs, caps, quiet hours), personalised rendering, link
shortening, a no-op channel, and the recording of every outcome. The
baseline, in the same database and run, is the physical floor of the same
writes: a raw ``INSERT … SELECT`` of the same delivery rows and a batched raw
``UPDATE`` of them to sent, 500 at a time.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import fresh_app, result
from bench.worker_process import (make_contacts, peak_rss_mb, register_in_process, start_worker, stop_worker,
                                  wait_completed, write_plugin)
from campaigner.deliveries.policy import ENGINE_DEFAULTS


BATCH = ENGINE_DEFAULTS["batch_size"]  # the engine's default, and the baseline's UPDATE batches


def _baseline() -> float:
    """Raw INSERT … SELECT of one delivery per contact, then UPDATE to sent in batches of `BATCH`.

    Into an empty table with the same columns and indexes as `delivery`, so
    neither side pays for the other's rows.
    """
    from campaigner.db import database, utcnow
    from campaigner.deliveries.models import Delivery

    class BaselineDelivery(Delivery):
        class Meta:
            table_name = "delivery_baseline"

    now = utcnow()
    p = database.param
    with database.connection_context():
        database.create_tables([BaselineDelivery])
        start = time.perf_counter()
        with database.atomic():
            database.execute_sql(
                "INSERT INTO delivery_baseline (source_type, source_id, contact_id, channel, status, reason, attempts, "
                "idempotency_key, marketing, send_after, created_at, updated_at) "
                f"SELECT 'campaign', 1, id, 'bench_noop', 'queued', '', 0, "
                f"'campaign:1:' || CAST(id AS TEXT), {p}, {p}, {p}, {p} FROM contact", (True, now, now, now))
        ids = [r[0] for r in database.execute_sql("SELECT id FROM delivery_baseline ORDER BY id").fetchall()]
        for i in range(0, len(ids), BATCH):
            chunk = ids[i:i + BATCH]
            with database.atomic():
                database.execute_sql(
                    f"UPDATE delivery_baseline SET status = 'sent', sent_at = {p}, updated_at = {p} "
                    f"WHERE id IN ({', '.join([p] * len(chunk))})", (now, now, *chunk))
        elapsed = time.perf_counter() - start
        database.drop_tables([BaselineDelivery])
    return elapsed


def run(args) -> dict:
    n = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp, fresh_app(args.backend) as app:
        from campaigner.campaigns.services import create_campaign, schedule_campaign
        from campaigner.content.models import ContentItem
        from campaigner.db import database
        from campaigner.deliveries.models import Delivery
        from campaigner.settings_store import set_value

        plugin_dir = write_plugin(Path(tmp) / "plugins")
        register_in_process(app, plugin_dir)
        make_contacts(n)
        with database.connection_context():
            set_value("delivery_engine", {"batch_size": BATCH, "parallel_batches": None})
            content = ContentItem.create(title="Offer", slug="offer", status="approved",
                                         body="{{ name }}，您好！本周会员日全场八折，回复 TD 退订。")
        baseline_s = _baseline()

        worker = start_worker(app, plugin_dir, {})
        try:
            with database.connection_context():
                campaign = create_campaign(name="Member day", content=content, channels=["bench_noop"])
                start = time.perf_counter()
                schedule_campaign(campaign)
            end = wait_completed([campaign.id], timeout=600, process=worker)
            rss = peak_rss_mb(worker)
        finally:
            stop_worker(worker)
        elapsed = end - start
        with database.connection_context():
            sent = Delivery.select().where(Delivery.source_id == campaign.id, Delivery.status == "sent").count()
            from campaigner.campaigns.models import Campaign

            row = Campaign.get_by_id(campaign.id)
            phases = {"started_after_s": (row.started_at - row.send_at).total_seconds(),
                      "fanned_out_after_s": (row.fanned_out_at - row.send_at).total_seconds(),
                      "completed_after_s": (row.completed_at - row.send_at).total_seconds()}
        if sent != n:
            raise RuntimeError(f"only {sent} of {n} deliveries were sent")
    rate = n / elapsed
    return result("fanout", args.backend, n, rate, "deliveries/s", baseline=n / baseline_s, baseline_unit="rows/s",
                  ratio=elapsed / baseline_s,
                  target=">= 20000 deliveries/s on sqlite, >= 12000 on postgres; ratio <= 5; worker RSS < 300 MB",
                  seconds=round(elapsed, 3), baseline_seconds=round(baseline_s, 3), sent=sent,
                  worker_peak_rss_mb=round(rss, 1), **{k: round(v, 3) for k, v in phases.items()})
