"""`reports`: the weekly review and a 12-week cohort triangle over 1,000,000 contacts and 5,000,000 orders.

The project's path is the whole of each: `reports.weekly.weekly_review` (every figure of the week and of
the week before, the days, goals, campaigns, calendars) and `reports.cohorts.cohort_triangle` (cohort
sizes, active members per week after joining, revenue per week). The baseline is hand-written SQL for
the same figures in the same run (PostgreSQL: date_trunc-style week arithmetic on the local time;
SQLite: julianday arithmetic with the zone's fixed offset), whose answers are checked against the
project's. Times are the best of several interleaved rounds (medians in details).

Data: contacts join evenly over the two years before 2026-11-30 (UTC); each order falls at a uniform
moment of those two years and belongs to a random contact that had joined by then (about 48,000 orders a
week at full size). Loaded with generate_series on PostgreSQL and a
recursive CTE on SQLite, indexes built after the load. The review's goals, campaigns and calendars are
empty here: their cost grows with campaigns, not contacts. Clicks are empty too (the activity union
still reads the table). Target: each ≤ 500 ms on PostgreSQL at 1,000,000 contacts.
"""
from __future__ import annotations

import datetime as dt
import statistics
import time

from bench.common import fresh_app, peak_rss_mb, result

TZ = "Asia/Shanghai"
START, REF = "2024-11-30 00:00:00", "2026-11-30 00:00:00"
WEEK = dt.date(2026, 11, 23)  # the last whole local week before REF
WEEKS = 12


def _without_indexes(db, tables: list[str], postgres: bool):
    """Drop the secondary indexes of `tables` and return the statements that rebuild them."""
    rebuild = []
    for table in tables:
        if postgres:
            rows = db.execute_sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                                  "AND indexname NOT LIKE '%%_pkey'", (table,)).fetchall()
        else:
            rows = db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                  "AND sql IS NOT NULL", (table,)).fetchall()
        for name, sql in rows:
            db.execute_sql(f'DROP INDEX "{name}"')
            rebuild.append(sql)
    return rebuild


def _load(db, n: int, orders: int, postgres: bool) -> float:
    began = time.perf_counter()
    rebuild = _without_indexes(db, ["contact", "orders"], postgres)
    if postgres:
        db.execute_sql(
            "INSERT INTO contact (id, name, attributes, created_at, updated_at) "
            "SELECT g, 'c' || g, '{}', t, t FROM (SELECT g, TIMESTAMP %s + ((g - 1)::float8 / %s) * INTERVAL '730 days' "
            "AS t FROM generate_series(1, %s) g) s", (START, n, n))
        db.execute_sql("SELECT setval(pg_get_serial_sequence('contact', 'id'), %s)", (n,))
        # An order at a uniform moment of the two years, by a contact who had joined by then.
        db.execute_sql(
            "INSERT INTO orders (contact_id, amount, occurred_at, source, created_at) "
            "SELECT 1 + floor(random() * %s * r)::int, round((10 + random() * 490)::numeric, 2), "
            "TIMESTAMP %s + r * INTERVAL '730 days', 'bench', TIMESTAMP %s "
            "FROM (SELECT random() AS r FROM generate_series(1, %s)) x", (n, START, REF, orders))
    else:
        db.execute_sql(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?) "
            "INSERT INTO contact (id, name, attributes, created_at, updated_at) "
            "SELECT x, 'c' || x, '{}', datetime(julianday(?) + (x - 1) * 730.0 / ?), "
            "datetime(julianday(?) + (x - 1) * 730.0 / ?) FROM g", (n, START, n, START, n))
        # MATERIALIZED: each random() drawn once per order, however often the outer query names it.
        db.execute_sql(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?), "
            "d AS MATERIALIZED (SELECT abs(random()) / 9.2233720368547758e18 AS r, "
            "abs(random()) / 9.2233720368547758e18 AS r2 FROM g) "
            "INSERT INTO orders (contact_id, amount, occurred_at, source, created_at) "
            "SELECT 1 + CAST(r2 * ? * r AS INTEGER), round(10 + abs(random()) / 9.2233720368547758e18 * 490, 2), "
            "datetime(julianday(?) + r * 730), 'bench', ? FROM d", (orders, n, START, REF))
    for sql in rebuild:
        db.execute_sql(sql)
    if postgres:  # what autovacuum does in production: statistics, and a visibility map for index-only scans
        db.execute_sql("VACUUM ANALYZE contact")
        db.execute_sql("VACUUM ANALYZE orders")
    else:
        db.execute_sql("ANALYZE")
    return time.perf_counter() - began


# ---------------------------------------------------------------- the hand-written SQL


def _review_by_hand(db, postgres: bool) -> dict:
    from campaigner.analytics.timeseries import utc_bounds

    p = "%s" if postgres else "?"
    out = {}
    for label, monday in (("this", WEEK), ("before", WEEK - dt.timedelta(days=7))):
        s, e = utc_bounds(monday, monday + dt.timedelta(days=6), TZ)
        ps = s - (e - s)

        def one(sql, params):
            return db.execute_sql(sql, params).fetchone()

        active = (f"SELECT contact_id FROM orders WHERE occurred_at >= {p} AND occurred_at < {p} UNION "
                  f"SELECT contact_id FROM clicks WHERE at >= {p} AND at < {p} AND contact_id IS NOT NULL "
                  f"AND NOT is_bot")
        figures = {"joins": one(f"SELECT COUNT(*) FROM contact WHERE created_at >= {p} AND created_at < {p}",
                                (s, e))[0]}
        figures["active"] = one(f"SELECT COUNT(*) FROM ({active}) u", (s, e, s, e))[0]
        previous = one(f"SELECT COUNT(*) FROM ({active}) u", (ps, s, ps, s))[0]
        kept = one(f"SELECT COUNT(*) FROM (SELECT * FROM ({active}) p INTERSECT SELECT * FROM ({active}) t) k",
                   (ps, s, ps, s, s, e, s, e))[0]
        figures["retention_rate"] = round(100.0 * kept / previous, 1) if previous else None
        buyers, count, revenue = one(f"SELECT COUNT(DISTINCT contact_id), COUNT(*), SUM(amount) FROM orders "
                                     f"WHERE occurred_at >= {p} AND occurred_at < {p}", (s, e))
        figures.update(buyers=buyers, orders=count, revenue=round(float(revenue or 0), 2))
        total, again = one(
            f"SELECT COUNT(*), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM (SELECT contact_id, COUNT(*) AS n "
            f"FROM orders WHERE occurred_at >= {p} AND occurred_at < {p} GROUP BY contact_id) b", (s, e))
        figures["repurchase_rate"] = round(100.0 * (again or 0) / total, 1) if total else None
        figures["coupons"] = tuple(one(
            f"SELECT COUNT(*), SUM(CASE WHEN c.status = 'redeemed' THEN 1 ELSE 0 END) FROM coupon_codes c LEFT JOIN "
            f"delivery d ON d.id = c.delivery_id WHERE c.reserved_at >= {p} AND c.reserved_at < {p} AND "
            f"(d.status = 'sent' OR c.status = 'redeemed')", (s, e)))
        out[label] = figures
    s, e = utc_bounds(WEEK, WEEK + dt.timedelta(days=6), TZ)
    def day(column: str) -> str:
        if postgres:
            return f"CAST(({column} AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai' AS DATE)"
        return f"date({column}, '+480 minutes')"

    joins = dict(db.execute_sql(f"SELECT {day('created_at')}, COUNT(*) FROM contact WHERE created_at "
                                f">= {p} AND created_at < {p} GROUP BY 1", (s, e)).fetchall())
    orders = {d: (n, b) for d, n, b in db.execute_sql(
        f"SELECT {day('occurred_at')}, COUNT(*), COUNT(DISTINCT contact_id) FROM orders "
        f"WHERE occurred_at >= {p} AND occurred_at < {p} GROUP BY 1", (s, e)).fetchall()}
    out["days"] = [(str(d)[:10], joins.get(d, 0), orders.get(d, (0, 0))[0]) for d in sorted(set(joins) | set(orders))]
    return out


def _cohorts_by_hand(db, postgres: bool) -> dict:
    from campaigner.analytics.timeseries import utc_bounds
    from campaigner.reports.cohorts import week_start

    first = week_start(WEEK + dt.timedelta(days=6)) - dt.timedelta(weeks=WEEKS - 1)
    s, _ = utc_bounds(first, first, TZ)
    _, e = utc_bounds(first, first + dt.timedelta(weeks=WEEKS) - dt.timedelta(days=1), TZ)
    p = "%s" if postgres else "?"
    def week(column: str) -> str:
        if postgres:
            return (f"floor(extract(epoch FROM (({column} AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai') - "
                    f"TIMESTAMP '{first.isoformat()}') / 604800)::int")
        return f"CAST((julianday({column}) + 8 / 24.0 - julianday('{first.isoformat()}')) / 7 AS INTEGER)"

    sizes = dict(db.execute_sql(f"SELECT {week('created_at')}, COUNT(*) FROM contact "
                                f"WHERE created_at >= {p} AND created_at < {p} GROUP BY 1", (s, e)).fetchall())
    active = {(cw, aw): n for cw, aw, n in db.execute_sql(
        f"SELECT {week('c.created_at')} AS cw, {week('a.at')} AS aw, COUNT(DISTINCT c.id) "
        f"FROM contact c JOIN (SELECT contact_id, occurred_at AS at FROM orders WHERE occurred_at >= {p} AND "
        f"occurred_at < {p} UNION ALL SELECT contact_id, at FROM clicks WHERE at >= {p} AND at < {p} AND "
        f"contact_id IS NOT NULL AND NOT is_bot) a ON a.contact_id = c.id WHERE c.created_at >= {p} AND "
        f"c.created_at < {p} GROUP BY 1, 2", (s, e, s, e, s, e)).fetchall()}
    revenue = {(cw, aw): round(float(v), 2) for cw, aw, v in db.execute_sql(
        f"SELECT {week('c.created_at')}, {week('o.occurred_at')}, SUM(o.amount) "
        f"FROM contact c JOIN orders o ON o.contact_id = c.id WHERE c.created_at >= {p} AND c.created_at < {p} "
        f"AND o.occurred_at >= {p} AND o.occurred_at < {p} GROUP BY 1, 2", (s, e, s, e)).fetchall()}
    return {"sizes": sizes, "active": active, "revenue": revenue}


# ---------------------------------------------------------------- the project's path


def _review(db) -> dict:
    from campaigner.reports.weekly import weekly_review

    review = weekly_review(WEEK, TZ)
    return review


def _cohorts(db):
    from campaigner.reports.cohorts import cohort_triangle

    return cohort_triangle(WEEK + dt.timedelta(days=6), WEEKS, TZ)


def _same_review(review, by_hand) -> bool:
    for label, figures in (("this", review.figures), ("before", review.previous)):
        hand = by_hand[label]
        mine = {k: figures[k] for k in ("joins", "active", "retention_rate", "buyers", "orders", "repurchase_rate")}
        if mine != {k: hand[k] for k in mine} or abs(figures["revenue"] - hand["revenue"]) > 0.01:
            return False
    days = [(d["day"].isoformat(), d["joins"], d["orders"]) for d in review.days if d["joins"] or d["orders"]]
    return days == by_hand["days"]


def _same_cohorts(rows, by_hand) -> bool:
    for i, row in enumerate(rows):
        if row.size != by_hand["sizes"].get(i, 0):
            return False
        for k, n in enumerate(row.active):
            if n != by_hand["active"].get((i, i + k), 0):
                return False
        for k, amount in enumerate(row.revenue):
            if abs(float(amount) - by_hand["revenue"].get((i, i + k), 0.0)) > 0.01:
                return False
    return True


def _rounds(functions: dict, rounds: int) -> dict[str, list[float]]:
    """Each function run once per round, interleaved, in ms."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            began = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - began) * 1000)
    return times


def run(args) -> dict:
    from campaigner.db import database, is_postgres

    n = 50_000 if args.quick else 1_000_000
    orders = 5 * n
    with fresh_app(args.backend, TIMEZONE=TZ) as _app, database.connection_context():
        postgres = is_postgres()
        load_s = _load(database, n, orders, postgres)
        review, hand_review = _review(database), _review_by_hand(database, postgres)
        rows, hand_cohorts = _cohorts(database), _cohorts_by_hand(database, postgres)
        review_ok, cohorts_ok = _same_review(review, hand_review), _same_cohorts(rows, hand_cohorts)
        times = _rounds({"review": lambda: _review(database), "review_sql": lambda: _review_by_hand(database, postgres),
                         "cohorts": lambda: _cohorts(database),
                         "cohorts_sql": lambda: _cohorts_by_hand(database, postgres)}, 5)
    best = {k: min(v) for k, v in times.items()}
    medians = {f"{k}_median_ms": round(statistics.median(v), 1) for k, v in times.items()}
    review_ratio, cohorts_ratio = best["review"] / best["review_sql"], best["cohorts"] / best["cohorts_sql"]
    worst = "review" if best["review"] >= best["cohorts"] else "cohorts"
    return result(
        "reports", args.backend, n, best[worst], "ms", baseline=best[f"{worst}_sql"], baseline_unit="ms",
        ratio=best[worst] / best[f"{worst}_sql"],
        target="weekly review and cohort triangle each <= 500 ms on PostgreSQL at 1,000,000 contacts, 5,000,000 orders",
        value_is=worst, review_ms=round(best["review"], 1), review_sql_ms=round(best["review_sql"], 1),
        review_ratio=round(review_ratio, 3), cohorts_ms=round(best["cohorts"], 1),
        cohorts_sql_ms=round(best["cohorts_sql"], 1), cohorts_ratio=round(cohorts_ratio, 3), **medians,
        review_matches_sql=review_ok, cohorts_match_sql=cohorts_ok, contacts=n, orders=orders,
        week=WEEK.isoformat(), weeks=WEEKS, week_orders=review.figures["orders"],
        cohort_members=sum(r.size for r in rows), load_s=round(load_s, 1),
        targets_met=best["review"] <= 500 and best["cohorts"] <= 500 and review_ok and cohorts_ok,
        peak_rss_mb=round(peak_rss_mb(), 1),
    )
