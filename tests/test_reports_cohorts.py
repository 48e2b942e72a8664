"""A cohort triangle, lifetime value and value per source from fixed data with answers worked out by hand.

Instance zone Asia/Shanghai. Weeks (Monday to Sunday, local): W0 = 2026-11-02, W1 = 11-09, W2 = 11-16,
W3 = 11-23 (the week of 2026-11-30's report is W4 = 11-30; the triangle of 4 weeks up to 11-29 is W0–W3).

    contact  joined (local)      source  activity (local)                                 orders
    a        W0 Mon 11-02 10:00  门店    order W0 (11-03, 100), click W1 (11-10), order W3 (11-24, 50)
    b        W0 Sun 11-08 23:30  线上    click W2 (11-17)                                  —
    c        W0 Wed 11-04        线上    none                                              —
    d        W1 Mon 11-09 00:10  门店    order W1 (11-09, 80), order W1 (11-12, 20)
    e        W2 Tue 11-17        —       order W3 (11-25, 30)
    f        W3 Sun 11-29 23:59  门店    click W3 (11-29 23:59:30)
    g        joined 10-30 (before W0): its order in W1 counts for no cohort

    Boundaries are local: b joined Sunday 23:30 local = 15:30 UTC, still W0; d joined Monday 00:10 local =
    Sunday 16:10 UTC, already W1 in Shanghai.

Triangle (active members / size, then rate):
    W0 size 3: wk0 1 (a)   wk1 1 (a)  wk2 1 (b)  wk3 1 (a)   -> 33.3% each
    W1 size 1: wk0 1 (d)   wk1 0      wk2 0                  -> 100, 0, 0
    W2 size 1: wk0 0       wk1 1 (e)                         -> 0, 100
    W3 size 1: wk0 1 (f)                                     -> 100
Value per member, cumulative: W0 100/3 = 33.33, 33.33, 33.33, 150/3 = 50.00; W1 100.00, 100.00, 100.00;
W2 0.00, 30.00; W3 0.00.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigner.audience.models import Contact, Order
from campaigner.audience.services import add_tags
from campaigner.db import database
from campaigner.reports import cohorts

TZ = "Asia/Shanghai"


def local(y, m, d, hh=12, mm=0, ss=0) -> dt.datetime:
    """A Shanghai wall-clock time as naive UTC."""
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=ZoneInfo(TZ)).astimezone(dt.timezone.utc).replace(tzinfo=None)


@pytest.fixture
def people(app):
    from campaigner.links.models import Click, ShortLink

    with database.connection_context():
        def person(name, joined, source=None, orders=(), clicks=()):
            c = Contact.create(name=name, created_at=joined)
            if source:
                add_tags(c.id, [f"渠道:{source}"])
            for at, amount in orders:
                Order.create(contact=c, amount=Decimal(amount), occurred_at=at)
            for i, at in enumerate(clicks):
                link = ShortLink.create(code=f"{name}-{i}", target="https://example.com", kind="delivery", contact=c)
                Click.create(link=link, contact=c, visitor=f"c:{c.id}", at=at)
            return c.id

        return {
            "a": person("a", local(2026, 11, 2, 10), "门店", orders=[(local(2026, 11, 3), "100"), (local(2026, 11, 24), "50")],
                        clicks=[local(2026, 11, 10)]),
            "b": person("b", local(2026, 11, 8, 23, 30), "线上", clicks=[local(2026, 11, 17)]),
            "c": person("c", local(2026, 11, 4), "线上"),
            "d": person("d", local(2026, 11, 9, 0, 10), "门店", orders=[(local(2026, 11, 9, 8), "80"),
                                                                      (local(2026, 11, 12), "20")]),
            "e": person("e", local(2026, 11, 17), orders=[(local(2026, 11, 25), "30")]),
            "f": person("f", local(2026, 11, 29, 23, 59), "门店", clicks=[local(2026, 11, 29, 23, 59, 30)]),
            "g": person("g", local(2026, 10, 30), orders=[(local(2026, 11, 10), "999")]),
        }


def test_cohort_triangle_from_fixed_data(people):
    with database.connection_context():
        rows = cohorts.cohort_triangle(dt.date(2026, 11, 29), 4, TZ)
    assert [r.week for r in rows] == [dt.date(2026, 11, 2), dt.date(2026, 11, 9), dt.date(2026, 11, 16),
                                      dt.date(2026, 11, 23)]
    assert [r.size for r in rows] == [3, 1, 1, 1]
    assert [r.active for r in rows] == [[1, 1, 1, 1], [1, 0, 0], [0, 1], [1]]
    assert [r.rates for r in rows] == [[33.3, 33.3, 33.3, 33.3], [100.0, 0.0, 0.0], [0.0, 100.0], [100.0]]
    money = [[str(v) for v in r.value_per_member] for r in rows]
    assert money == [["33.33", "33.33", "33.33", "50.00"], ["100.00", "100.00", "100.00"], ["0.00", "30.00"],
                     ["0.00"]]


def test_value_per_source_counts_adds_buyers_revenue_and_thirty_day_retention(people):
    now = local(2026, 12, 9)  # a (joined 11-02) and b, c (11-04, 11-08) are past 30 days; d (11-09) is too
    with database.connection_context():
        rows = cohorts.value_by_source(local(2026, 11, 2, 0), local(2026, 11, 30, 0), now)
    by = {r["source"]: r for r in rows}
    assert set(by) == {"门店", "线上"}
    assert (by["门店"]["adds"], by["门店"]["buyers"], str(by["门店"]["revenue"])) == (3, 2, "250.00")
    # 门店: a, d and f; matured 30 days by 12-09: a (11-02), d (11-09 00:10 local). Neither active after day 30.
    assert (by["门店"]["eligible"], by["门店"]["retained"]) == (2, 0)
    assert (by["线上"]["adds"], by["线上"]["buyers"], by["线上"]["revenue"]) == (2, 0, Decimal("0"))
    assert by["门店"]["revenue_per_add"] == Decimal("83.33")


def test_thirty_day_retention_counts_activity_after_day_thirty(people):
    from campaigner.links.models import Click, ShortLink

    with database.connection_context():
        link = ShortLink.create(code="late", target="https://example.com", kind="delivery", contact=people["c"])
        Click.create(link=link, contact=people["c"], visitor="late", at=local(2026, 12, 5))  # day 31 for c
        rows = cohorts.value_by_source(local(2026, 11, 2, 0), local(2026, 11, 30, 0), local(2026, 12, 9))
    online = next(r for r in rows if r["source"] == "线上")
    assert (online["eligible"], online["retained"], online["retention_rate"]) == (2, 1, 50.0)


def test_lifetime_value_per_contact_and_buyer(people):
    with database.connection_context():
        ltv = cohorts.lifetime_value(local(2026, 11, 2, 0), local(2026, 11, 30, 0))
    assert ltv == {"contacts": 6, "buyers": 3, "revenue": Decimal("280.00"), "per_contact": Decimal("46.67"),
                   "per_buyer": Decimal("93.33")}
