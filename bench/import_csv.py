"""`import`: 100,000 contact rows from a GBK CSV file imported (validated, deduplicated, tagged) in ≤ 30 s.

Memory: the same import of 100,000 and of 1,000,000 rows (``--quick``: 10,000 and 100,000) each
in a process of its own reading the file from disk (`bench.import_memory`), whose peak RSS must
stay ≤ 200 MB and ≤ 300 MB: rows are staged in the database, never all held in memory.

The baseline is the physical floor: the raw ``executemany`` of the same rows into the
contact table, without validation, tags or timeline. Then the same file with 1% bad
rows is imported twice: all or nothing (it must write nothing) and skipping bad rows
(it must write exactly the good ones).
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from bench.common import cn_mobile, fresh_app, peak_rss_mb, person_name, result, zipf_index

INTERESTS = ["咖啡", "茶", "烘焙", "健身", "旅行", "美妆", "母婴", "数码", "阅读", "宠物", "户外", "音乐",
             "电影", "摄影", "美食", "家居", "汽车", "理财", "教育", "游戏"]
CHANNELS = ["门店", "线上", "直播", "社群", "公众号", "小程序", "朋友推荐", "展会"]
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "南京", "武汉"]
MAPPING = {"会员ID": "external_id", "姓名": "name", "手机": "phone", "邮箱": "email", "兴趣": "tags",
           "渠道": "tag_group:渠道", "城市": "attr:城市"}


def make_file(n: int, bad_every: int = 0, seed: int = 7) -> tuple[bytes, list[list[str]], int]:
    """(GBK CSV bytes, its data rows, how many rows are bad) with realistic Chinese shop data."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(MAPPING))
    rows, bad = [], 0
    phones = unique_phones(rng)
    for i in range(n):
        phone = next(phones)  # as shops export them: without +86
        if bad_every and i % bad_every == bad_every - 1:
            phone = "12345"  # not a phone number
            bad += 1
        interests = "|".join(sorted({INTERESTS[zipf_index(rng, len(INTERESTS))] for _ in range(rng.randint(1, 3))}))
        email = f"user{i}@example.com" if rng.random() < 0.4 else ""
        row = [f"M{i:07d}", person_name(rng), phone, email, interests,
               CHANNELS[zipf_index(rng, len(CHANNELS))], rng.choice(CITIES)]
        writer.writerow(row)
        rows.append(row)
    return out.getvalue().encode("gbk"), rows, bad


def unique_phones(rng: random.Random):
    """Mobile numbers without +86, never the same twice: two rows with one number are one person (merged)."""
    seen = set()
    while True:
        phone = cn_mobile(rng)[3:]
        if phone not in seen:
            seen.add(phone)
            yield phone


def write_file(path: str, n: int, seed: int = 7) -> None:
    """The same kind of GBK file as `make_file`, written row by row to `path` (a million rows never in memory)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="gbk", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(list(MAPPING))
        phones = unique_phones(rng)
        for i in range(n):
            interests = "|".join(sorted({INTERESTS[zipf_index(rng, len(INTERESTS))] for _ in range(rng.randint(1, 3))}))
            email = f"user{i}@example.com" if rng.random() < 0.4 else ""
            writer.writerow([f"M{i:07d}", person_name(rng), next(phones), email, interests,
                             CHANNELS[zipf_index(rng, len(CHANNELS))], rng.choice(CITIES)])


def memory_run(backend: str, n: int) -> dict:
    """Import an n-row file in a process of its own; its rows, seconds and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="campaigner-bench-import-") as tmp:
        path = os.path.join(tmp, f"contacts-{n}.csv")
        write_file(path, n)
        done = subprocess.run([sys.executable, "-m", "bench.import_memory", path, backend], capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if done.returncode:
            raise AssertionError(f"the {n}-row import failed: {done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"import memory, {backend}, {n} rows: {figures}", file=sys.stderr, flush=True)
        return figures


def _baseline(backend: str, rows: list[list[str]]) -> float:
    """Raw executemany of the same rows into contact: the floor any import stands on."""
    from campaigner.db import database, is_postgres

    with fresh_app(backend), database.connection_context():
        now = "2024-01-01 00:00:00"
        params = [(r[0], r[1], r[2], r[3] or None, '{"城市": "%s"}' % r[6], now, now) for r in rows]
        start = time.perf_counter()
        with database.atomic():
            cursor = database.cursor()
            sql = ("INSERT INTO contact (external_id, name, phone, email, attributes, created_at, updated_at) "
                   "VALUES (%s)" % ", ".join([database.param] * 7))
            if is_postgres():
                from psycopg2.extras import execute_batch

                execute_batch(cursor, sql, params, page_size=1000)
            else:
                cursor.executemany(sql, params)
        seconds = time.perf_counter() - start
        count = database.execute_sql("SELECT COUNT(*) FROM contact").fetchone()[0]
        if count != len(rows):
            raise AssertionError(f"baseline wrote {count} rows, expected {len(rows)}")
    return seconds


def run(args) -> dict:
    """Import 100,000 rows (10,000 with --quick) and the same file with bad rows, against the raw floor."""
    from campaigner.audience import importer
    from campaigner.audience.models import Contact, ContactTag
    from campaigner.db import database

    n = 10_000 if args.quick else 100_000
    data, rows, _ = make_file(n)
    baseline_s = _baseline(args.backend, rows)

    with fresh_app(args.backend), database.connection_context():
        start = time.perf_counter()
        outcome = importer.import_contacts(data, MAPPING)
        import_s = time.perf_counter() - start
        if not outcome.imported or outcome.created != n or Contact.select().count() != n:
            raise AssertionError(f"import wrote {Contact.select().count()} contacts, expected {n}: {outcome.errors[:3]}")
        links = ContactTag.select().count()
        start = time.perf_counter()
        again = importer.import_contacts(data, MAPPING)
        reimport_s = time.perf_counter() - start
        if again.created or again.updated or again.unchanged != n:
            raise AssertionError("re-importing the same file changed contacts")

    bad_data, _, bad = make_file(n, bad_every=100, seed=8)
    with fresh_app(args.backend), database.connection_context():
        start = time.perf_counter()
        refused = importer.import_contacts(bad_data, MAPPING, strict=True)  # a bad phone refuses its row
        refused_s = time.perf_counter() - start
        if refused.imported or Contact.select().count() != 0 or len(refused.errors) != bad:
            raise AssertionError("a file with bad rows was not refused whole")
        start = time.perf_counter()
        skipped = importer.import_contacts(bad_data, MAPPING, skip_bad_rows=True, strict=True)
        skip_s = time.perf_counter() - start
        if Contact.select().count() != n - bad or skipped.skipped != bad:
            raise AssertionError(f"skip bad rows wrote {Contact.select().count()}, expected {n - bad}")

    file_mb = round(len(data) / 1e6, 2)
    del data, bad_data, rows  # the memory runs generate their own files
    small, large = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    memory = {size: memory_run(args.backend, size) for size in (small, large)}

    return result(
        "import", args.backend, n, import_s, "s",
        baseline=baseline_s, baseline_unit="s", ratio=import_s / baseline_s,
        target="100,000 rows <= 30 s; peak RSS <= 200 MB at 100,000 rows and <= 300 MB at 1,000,000",
        rows_per_s=round(n / import_s), contact_tags_written=links, file_mb=file_mb,
        encoding="gbk", reimport_unchanged_s=round(reimport_s, 2),
        bad_rows=bad, all_or_nothing_refused_s=round(refused_s, 2), all_or_nothing_written=0,
        skip_bad_rows_s=round(skip_s, 2), skip_bad_rows_written=n - bad,
        peak_rss_mb=round(peak_rss_mb(), 1),
        memory={f"{size}_rows": figures for size, figures in memory.items()},
        memory_ok=(memory[small]["peak_rss_mb"] <= 200
                   and memory[large]["peak_rss_mb"] <= (300 if not args.quick else 200)),
    )
