"""Content library: how fast the library page's search answers on a large library.

Items are written through `save_content` (each with its first version), from
realistic Chinese and English posts; then the search the library page runs
(substring over title and body, with and without filters, first and a later page)
is timed for Chinese and English terms. Also reported: the save rate, and
an idempotent re-import of the sample library.
"""
from __future__ import annotations

import random
import time

from bench.common import Timer, fresh_app, peak_rss_mb, percentile, result

PHRASES = ["燕麦拿铁回归，第二杯半价", "周一冲煮小课堂：手冲水温怎么选", "会员闪购限量 50 包", "积雪草修护精华上市",
           "防晒霜到底要涂多少", "早 C 晚 A 新手怎么开始", "Cold brew at home in 12 hours", "Your skin barrier, explained",
           "Members-only flash sale on Wednesday", "Live Q&A with our formulator tonight", "新人券 15 元已到账",
           "生日礼券 50 元，本月内可用", "沉睡会员唤醒：回归礼免费领", "耶加雪菲 227g 会员价 68 元"]
TAGS = ["咖啡", "护肤", "新品", "促销", "周一", "周三", "周五", "会员", "RFM", "English", "夏季", "秋季"]
KINDS = ["moments", "community", "script", "article", "sms", "welcome"]
QUERIES = ["拿铁", "修护精华", "闪购", "flash sale", "barrier", "不存在的词"]


def _make_items(n: int, rng: random.Random) -> float:
    from campaigner.content.services import save_content

    with Timer() as t:
        for i in range(n):
            body = "\n\n".join(rng.choice(PHRASES) + "。" + rng.choice(PHRASES) for _ in range(rng.randint(2, 6)))
            variants = {"sms": rng.choice(PHRASES)} if rng.random() < 0.4 else {}
            save_content(None, {"title": f"{rng.choice(PHRASES)} #{i}", "slug": f"item-{i}", "kind": rng.choice(KINDS),
                                "tags": rng.sample(TAGS, rng.randint(1, 3)), "body": "{{ name | 朋友 }}，" + body,
                                "variants": variants, "status": rng.choice(["draft", "approved", "approved"])})
    return t.seconds


def run(args) -> dict:
    from campaigner.content import search
    from campaigner.content.library_files import SAMPLE_LIBRARY, import_directory
    from campaigner.db import database

    n = 2_000 if args.quick else 10_000
    rng = random.Random(4)
    with fresh_app(args.backend) as _app, database.connection_context():
        save_seconds = _make_items(n, rng)
        cases = []
        for q in QUERIES:
            cases += [search.Filters(q=q), search.Filters(q=q, status="approved", kind="moments"),
                      search.Filters(q=q, tag="咖啡", channel="sms")]
        cases += [search.Filters(), search.Filters(tag="护肤"), search.Filters(channel="sms")]
        # Each case's best of 3 runs: the machine is shared, and the best run is the
        # one least disturbed by others; the p95 over cases is then the slow searches.
        timings, matches = [], {}
        for filters in cases:
            for page in (1, 3):
                runs = []
                for _ in range(3):
                    start = time.perf_counter()
                    found = search.search(filters, page)
                    runs.append(time.perf_counter() - start)
                timings.append(min(runs))
                matches[filters.q or "-"] = max(matches.get(filters.q or "-", 0), found.total)
        with Timer() as first_import:
            first = import_directory(SAMPLE_LIBRARY)
        with Timer() as second_import:
            second = import_directory(SAMPLE_LIBRARY)
    p95 = percentile(timings, 95) * 1000
    return result("content", args.backend, n, p95, "ms (p95 over search cases, best of 3 each)",
                  target="p95 under 100 ms for 10,000 items",
                  p50_ms=round(percentile(timings, 50) * 1000, 2), max_ms=round(max(timings) * 1000, 2),
                  cases=len(timings), matches_per_query=matches,
                  saves_per_second=round(n / save_seconds, 1),
                  sample_import_first=f"{first.summary()} in {first_import.seconds * 1000:.0f} ms",
                  sample_import_again=f"{second.summary()} in {second_import.seconds * 1000:.0f} ms",
                  peak_rss_mb=round(peak_rss_mb(), 1))
