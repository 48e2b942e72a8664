"""`audience`: count and list a three-tag expression over 1,000,000 contacts (~5 tags each).

The project's path is the whole of it: parse, compile (with its tag lookup), count, then fetch
every id. The baseline is the fastest of several hand-written SQL queries for the same set in
the same run (joins in the best order, NOT EXISTS, GROUP BY … HAVING, INTERSECT/EXCEPT and, on
PostgreSQL, array operators over contact_tag_set's GIN index), each
counted and listed the same way, in interleaved rounds (best round; medians in details). Targets: broad (~200,000 matches) ≤ 1 s, narrow (< 20,000; its rarest
tag is on ~3% of contacts) ≤ 100 ms, each within 1.3x of the fastest hand-written query.
"""
from __future__ import annotations

import io
import random
import statistics
import time

from bench.common import best_of, cn_mobile, fresh_app, peak_rss_mb, person_name, result

TAGS = 120
# Tag i is on a contact with probability P0 / (i+1)^S: a few tags on most contacts, a long tail.
P0, S = 0.7, 0.9
BROAD = "tag:t000 AND tag:t001 AND NOT tag:t002"
NARROW = "tag:t000 AND NOT tag:t002 AND tag:t030"  # written with the rarest tag last on purpose


def _probability(i: int) -> float:
    return P0 / (i + 1) ** S


def _generate(n: int, seed: int = 5):
    rng = random.Random(seed)
    members = {}
    for i in range(TAGS):
        k = int(round(n * _probability(i)))
        members[i] = sorted(rng.sample(range(1, n + 1), k))
    return rng, members


def _load(db, n: int, postgres: bool):
    """Bulk-load n contacts and their tags (COPY on PostgreSQL, executemany on SQLite)."""
    from campaigner.audience.models import Contact, ContactTag, Tag

    rng, members = _generate(n)
    now = "2024-01-01 00:00:00"
    tag_rows = [(i + 1, f"t{i:03d}", f"t{i:03d}", len(members[i]), "") for i in range(TAGS)]
    start = time.perf_counter()
    if postgres:
        conn = db.connection()
        cur = conn.cursor()
        buf = io.StringIO()
        for cid in range(1, n + 1):
            buf.write(f"{cid}\t{person_name(rng)}\t{cn_mobile(rng)}\t{{}}\t{now}\t{now}\n")
        buf.seek(0)
        cur.copy_expert("COPY contact (id, name, phone, attributes, created_at, updated_at) FROM STDIN", buf)
        buf = io.StringIO()
        for row in tag_rows:
            buf.write("\t".join(str(v) for v in row) + "\n")
        buf.seek(0)
        cur.copy_expert("COPY tag (id, name, key, size, description) FROM STDIN", buf)
        cur.execute("DROP INDEX IF EXISTS contact_tag_contact_id_tag_id")
        cur.execute("ALTER TABLE contact_tag DROP CONSTRAINT contact_tag_pkey")
        buf = io.StringIO()
        for i in range(TAGS):
            tag_id = i + 1
            for cid in members[i]:
                buf.write(f"{tag_id}\t{cid}\t{now}\t\n")
        buf.seek(0)
        cur.copy_expert("COPY contact_tag (tag_id, contact_id, added_at, source) FROM STDIN", buf)
        cur.execute("ALTER TABLE contact_tag ADD PRIMARY KEY (tag_id, contact_id)")
        cur.execute('CREATE INDEX contact_tag_contact_id_tag_id ON contact_tag (contact_id, tag_id)')
        cur.execute("SELECT setval('contact_id_seq', %s)", (n,))
        cur.execute("SELECT setval('tag_id_seq', %s)", (TAGS,))
        conn.commit()
        old = conn.autocommit
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE contact_tag")
        cur.execute("VACUUM ANALYZE contact")
        cur.execute("VACUUM ANALYZE tag")
        cur.execute("VACUUM ANALYZE contact_tag_set")
        conn.autocommit = old
    else:
        conn = db.connection()
        db.execute_sql("DROP INDEX IF EXISTS contact_tag_contact_id_tag_id")
        with db.atomic():
            conn.executemany("INSERT INTO contact (id, name, phone, attributes, created_at, updated_at) "
                             "VALUES (?, ?, ?, '{}', ?, ?)",
                             ((cid, person_name(rng), cn_mobile(rng), now, now) for cid in range(1, n + 1)))
            conn.executemany("INSERT INTO tag (id, name, key, size, description) VALUES (?, ?, ?, ?, ?)", tag_rows)
            conn.executemany("INSERT INTO contact_tag (tag_id, contact_id, added_at, source) VALUES (?, ?, ?, '')",
                             ((i + 1, cid, now) for i in range(TAGS) for cid in members[i]))
        db.execute_sql("CREATE INDEX contact_tag_contact_id_tag_id ON contact_tag (contact_id, tag_id)")
        db.execute_sql("ANALYZE")
    load_s = time.perf_counter() - start
    assert Contact.select().count() == n
    links = ContactTag.select().count()
    assert Tag.select().count() == TAGS
    return members, load_s, links


def _expected(members, n: int, expression: str) -> set[int]:
    """The set by plain Python, to prove every query returns the same contacts."""
    sets = {f"t{i:03d}": set(ids) for i, ids in members.items()}
    if expression == BROAD:
        return (sets["t000"] & sets["t001"]) - sets["t002"]
    if expression == NARROW:
        return (sets["t000"] & sets["t030"]) - sets["t002"]
    raise ValueError(expression)


def _hand_written(postgres: bool, expression: str) -> dict[str, str]:
    """Hand-written SQL for the same set in several shapes; tag ids are t{i} = i+1."""
    if expression == BROAD:
        req, exc = [2, 1], 3  # rarest required first: t001 (id 2) before t000 (id 1)
    else:
        req, exc = [31, 1], 3
    a, b = req
    cross = "JOIN" if postgres else "CROSS JOIN"
    shapes = {
        "join_rarest_first": f"SELECT x.contact_id FROM contact_tag x JOIN contact_tag y ON y.tag_id = {b} "
                             f"AND y.contact_id = x.contact_id LEFT JOIN contact_tag z ON z.tag_id = {exc} "
                             f"AND z.contact_id = x.contact_id WHERE x.tag_id = {a} AND z.contact_id IS NULL",
        "join_pinned_order": f"SELECT x.contact_id FROM contact_tag x {cross} contact_tag y ON y.tag_id = {b} "
                             f"AND y.contact_id = x.contact_id LEFT JOIN contact_tag z ON z.tag_id = {exc} "
                             f"AND z.contact_id = x.contact_id WHERE x.tag_id = {a} AND z.contact_id IS NULL",
        "exists": f"SELECT x.contact_id FROM contact_tag x WHERE x.tag_id = {a} AND EXISTS (SELECT 1 FROM "
                  f"contact_tag y WHERE y.tag_id = {b} AND y.contact_id = x.contact_id) AND NOT EXISTS (SELECT 1 "
                  f"FROM contact_tag z WHERE z.tag_id = {exc} AND z.contact_id = x.contact_id)",
        "group_by_having": f"SELECT contact_id FROM contact_tag WHERE tag_id IN ({a}, {b}, {exc}) GROUP BY contact_id "
                           f"HAVING SUM(CASE WHEN tag_id = {exc} THEN 1 ELSE 0 END) = 0 "
                           f"AND COUNT(*) = 2",
        "intersect_except": f"SELECT contact_id FROM contact_tag WHERE tag_id = {a} INTERSECT SELECT contact_id "
                            f"FROM contact_tag WHERE tag_id = {b} EXCEPT SELECT contact_id FROM contact_tag "
                            f"WHERE tag_id = {exc}",
    }
    if postgres:
        del shapes["join_pinned_order"]  # the same text as join_rarest_first there
        # Each contact's tag ids as an array with a GIN index (migrations/0002_contact_tag_set.py).
        shapes["tag_array_gin"] = (f"SELECT contact_id FROM contact_tag_set WHERE tag_ids @> ARRAY[{a}, {b}] "
                                   f"AND NOT tag_ids && ARRAY[{exc}]")
    return shapes


def _count_and_list_sql(db, sql: str):
    count = db.execute_sql(f"SELECT COUNT(*) FROM ({sql}) AS q").fetchone()[0]
    ids = [row[0] for row in db.execute_sql(sql).fetchall()]
    return count, ids


def _measure(db, members, n: int, expression: str, postgres: bool, repeat: int) -> dict:
    from campaigner.audience.expressions import count_and_ids, explain

    expected = _expected(members, n, expression)

    def ours():
        return count_and_ids(expression)  # parse, compile (with its tag lookup), count, list

    count, ids = ours()
    if count != len(expected) or set(ids) != expected or len(ids) != count:
        raise AssertionError(f"{expression}: compiled query found {count} contacts, expected {len(expected)}")
    candidates = {"ours": ours}
    for name, sql in _hand_written(postgres, expression).items():
        b_count, b_ids = _count_and_list_sql(db, sql)
        if b_count != len(expected) or set(b_ids) != expected:
            raise AssertionError(f"hand-written {name} found {b_count}, expected {len(expected)}")
        candidates[name] = lambda sql=sql: _count_and_list_sql(db, sql)
    # Rounds that interleave every candidate, so a burst of load on this shared machine hits
    # them all alike. Each is scored by its best round (the least disturbed, as best_of does);
    # the medians are kept too, since the best of several hand-written shapes is the luckiest
    # of several times as many draws.
    rounds = {name: [] for name in candidates}
    for round_number in range(repeat):
        order = list(candidates)
        random.Random(round_number).shuffle(order)
        for name in order:
            rounds[name].append(best_of(candidates[name], 1))
    best = {name: min(times) for name, times in rounds.items()}
    median = {name: statistics.median(times) for name, times in rounds.items()}
    ours_s = best.pop("ours")
    baselines = best
    fastest = min(baselines, key=baselines.get)
    fastest_median = min((n for n in median if n != "ours"), key=median.get)
    return {"expression": expression, "matches": count, "ms": ours_s * 1000,
            "baseline_ms": baselines[fastest] * 1000, "baseline_shape": fastest,
            "ratio": ours_s / baselines[fastest],
            "median_ms": median["ours"] * 1000, "baseline_median_ms": median[fastest_median] * 1000,
            "median_ratio": median["ours"] / median[fastest_median],
            "baselines_ms": {k: round(v * 1000, 1) for k, v in baselines.items()},
            "sql": explain(expression).split("\n")[0]}


def run(args) -> dict:
    """Load 1,000,000 contacts (100,000 with --quick), then measure the broad and the narrow expression."""
    from campaigner.audience.services import refresh_tag_sizes
    from campaigner.db import database, is_postgres

    n = 100_000 if args.quick else 1_000_000
    repeat = 9
    with fresh_app(args.backend) as _app, database.connection_context():
        postgres = is_postgres()
        members, load_s, links = _load(database, n, postgres)
        start = time.perf_counter()
        refresh_tag_sizes()
        refresh_s = time.perf_counter() - start
        broad = _measure(database, members, n, BROAD, postgres, repeat)
        narrow = _measure(database, members, n, NARROW, postgres, repeat)
    ok = (broad["ms"] <= 1000 and narrow["ms"] <= 100 and broad["ratio"] <= 1.3 and narrow["ratio"] <= 1.3)
    return result(
        "audience", args.backend, n, broad["ms"], "ms",
        baseline=broad["baseline_ms"], baseline_unit="ms", ratio=broad["ratio"],
        target="broad <= 1000 ms, narrow <= 100 ms, each ratio <= 1.3 (at 1,000,000 contacts)",
        narrow_ms=round(narrow["ms"], 2), narrow_ratio=round(narrow["ratio"], 3),
        narrow_baseline_ms=round(narrow["baseline_ms"], 2), broad=broad, narrow=narrow,
        contacts=n, contact_tags=links, tags_per_contact=round(links / n, 2),
        load_s=round(load_s, 1), refresh_tag_sizes_s=round(refresh_s, 2), targets_met=ok,
        peak_rss_mb=round(peak_rss_mb(), 1),
    )
