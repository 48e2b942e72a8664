"""Benchmark `logs`: the delivery log's first page and a filtered page over 1,000,000 deliveries.

The deliveries (50 campaigns of 20,000 contacts, SMS and chat, mostly sent,
some failed, skipped, unknown or deferred) are written with one set-based
INSERT. Pages are requested through the app as an ops user sees them (query,
names of contacts and campaigns, HTML); the baseline is the raw keyset SQL of
the same page.
"""
from __future__ import annotations

import time

from bench.common import best_of, fresh_app, result
from bench.worker_process import make_contacts

CAMPAIGNS = 50


def _fill(n: int, contacts: int) -> None:
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem
    from campaigner.db import database, is_postgres, utcnow

    per_campaign = n // CAMPAIGNS
    with database.connection_context():
        pct = "%%" if is_postgres() else "%"  # psycopg2 reads a lone % as a placeholder
        content = ContentItem.create(title="Offer", slug="offer", status="approved", body="hi")
        for i in range(CAMPAIGNS):
            Campaign.create(name=f"Campaign {i + 1}", content=content, channels=["chat", "sms"], status="completed")
        numbers = (f"SELECT generate_series(0, {n - 1}) AS n" if is_postgres() else
                   f"WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {n - 1}) "
                   "SELECT n FROM seq")
        status = (f"CASE WHEN (n * 37) {pct} 1000 < 900 THEN 'sent' WHEN (n * 37) {pct} 1000 < 930 THEN 'failed' "
                  f"WHEN (n * 37) {pct} 1000 < 960 THEN 'skipped' WHEN (n * 37) {pct} 1000 < 970 THEN 'unknown' "
                  f"WHEN (n * 37) {pct} 1000 < 985 THEN 'deferred' ELSE 'cancelled' END")
        campaign = f"(n / {per_campaign} + 1)"
        contact = f"((((n {pct} {per_campaign}) * {contacts // per_campaign or 1}) + {campaign}) {pct} {contacts} + 1)"
        base = utcnow().replace(microsecond=0)
        at = (f"(TIMESTAMP '{base:%Y-%m-%d %H:%M:%S}' - make_interval(secs => {n} - n))" if is_postgres() else
              f"datetime('{base:%Y-%m-%d %H:%M:%S}', '-' || ({n} - n) || ' seconds')")
        sql = (
            "INSERT INTO delivery (source_type, source_id, contact_id, channel, status, reason, attempts, "
            "idempotency_key, provider_id, error, marketing, send_after, created_at, updated_at, sent_at) "
            f"SELECT 'campaign', {campaign}, {contact}, CASE WHEN n {pct} 2 = 0 THEN 'sms' ELSE 'chat' END, st, "
            "CASE WHEN st = 'skipped' THEN 'capped' ELSE '' END, 1, "
            f"'campaign:' || CAST({campaign} AS TEXT) || ':' || CAST({contact} AS TEXT), "
            "CASE WHEN st = 'sent' THEN 'p' || CAST(n AS TEXT) END, "
            "CASE WHEN st = 'failed' THEN 'PermanentError: number is not in service' END, "
            f"{'TRUE' if is_postgres() else '1'}, {at}, {at}, {at}, CASE WHEN st = 'sent' THEN {at} END "
            f"FROM (SELECT n, {status} AS st FROM ({numbers}) AS numbers) AS rows")
        with database.atomic():
            database.execute_sql(sql)
        if is_postgres():
            database.execute_sql("ANALYZE delivery")  # what autovacuum does after a bulk load


def run(args) -> dict:
    n, contacts = (100_000, 20_000) if args.quick else (1_000_000, 100_000)
    with fresh_app(args.backend, TESTING=True, WTF_CSRF_ENABLED=False) as app:
        from campaigner.accounts.services import create_user
        from campaigner.db import database

        make_contacts(contacts)
        start = time.perf_counter()
        _fill(n, contacts)
        fill_s = time.perf_counter() - start
        with database.connection_context():
            from campaigner.deliveries.models import Delivery

            total = Delivery.select().count()
            create_user("ops@example.com", "ops", "bench-password-1")
        if total != n:
            raise RuntimeError(f"{total} deliveries written of {n}")
        client = app.test_client()
        response = client.post("/login", data={"email": "ops@example.com", "password": "bench-password-1"})
        if response.status_code != 302:
            raise RuntimeError("could not sign in")
        campaign = CAMPAIGNS // 2
        pages = {
            "first": "/deliveries/",
            "filtered": f"/deliveries/?campaign={campaign}&status=failed",
            "status": "/deliveries/?status=unknown",
            "channel": "/deliveries/?channel=sms",
        }
        timings, rows_seen = {}, {}
        for name, url in pages.items():
            def fetch(url=url, name=name):
                page = client.get(url)
                if page.status_code != 200:
                    raise RuntimeError(f"{url}: {page.status_code}")
                rows_seen[name] = page.get_data(as_text=True).count('href="/deliveries/')
            timings[name] = best_of(fetch, 7) * 1000
        # The next page of the filtered log, by its cursor.
        page = client.get(pages["filtered"]).get_data(as_text=True)
        import re

        cursor = re.search(r"before=(\d+)", page)
        timings["filtered_next"] = best_of(
            lambda: client.get(f"{pages['filtered']}&before={cursor.group(1)}"), 7) * 1000 if cursor else None

        p = database.param
        with database.connection_context():
            raw_first = best_of(lambda: database.execute_sql(
                "SELECT * FROM delivery ORDER BY id DESC LIMIT 51").fetchall(), 7) * 1000
            raw_filtered = best_of(lambda: database.execute_sql(
                f"SELECT * FROM delivery WHERE source_type = 'campaign' AND source_id IN ({p}) AND status = {p} "
                "ORDER BY id DESC LIMIT 51", (campaign, "failed")).fetchall(), 7) * 1000
    slowest = max(timings["first"], timings["filtered"])
    baseline = max(raw_first, raw_filtered)
    return result("logs", args.backend, n, slowest, "ms", baseline=baseline, baseline_unit="ms",
                  ratio=slowest / baseline if baseline else None, target="<= 50 ms for the first and a filtered page",
                  **{f"{k}_ms": round(v, 2) for k, v in timings.items() if v is not None},
                  raw_first_ms=round(raw_first, 3), raw_filtered_ms=round(raw_filtered, 3),
                  fill_s=round(fill_s, 1), rows_on_pages=rows_seen)
