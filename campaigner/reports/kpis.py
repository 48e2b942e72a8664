"""The seeds' numbers over a period [start, end) UTC: growth, retention, repurchase, coupon redemption.

- net growth: joins minus losses (losses once WeCom reports deleted staff accounts);
- retention rate: of the contacts active in the period before (same length), the share active again in this one;
- repurchase rate: of this period's buyers, the share who bought twice or more in it;
- coupon redemption: of the codes issued in the period, the share redeemed (so far).

Group activity (messages and active members per group) joins here once WeCom groups land.
Each is one or two indexed queries; nothing loops over contacts.
"""
from __future__ import annotations

import datetime as dt

from peewee import JOIN, SQL, Case, fn

from campaigner.audience.models import Order
from campaigner.deliveries.models import Delivery
from campaigner.offers.models import CouponCode
from campaigner.reports.activity import ACTIVITY_SOURCES, JOIN_SOURCES, LOSS_SOURCES, count_contacts, count_rows, union

# metric -> what it measures (labels live in analytics.forms.METRIC_LABELS)
REPORT_METRICS = ("net_growth", "retention_rate", "repurchase_rate", "coupon_redemption")


def _pct(part, whole) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def joins(start: dt.datetime, end: dt.datetime) -> int:
    return count_rows(JOIN_SOURCES, start, end)


def losses(start: dt.datetime, end: dt.datetime) -> int:
    return count_rows(LOSS_SOURCES, start, end)


def net_growth(start: dt.datetime, end: dt.datetime) -> int:
    return joins(start, end) - losses(start, end)


def active_contacts(start: dt.datetime, end: dt.datetime) -> int:
    return count_contacts(ACTIVITY_SOURCES, start, end)


def retention_rate(start: dt.datetime, end: dt.datetime) -> float | None:
    """Share of the previous period's active contacts who are active in this one."""
    before = start - (end - start)
    previous = union(ACTIVITY_SOURCES, before, start)
    current = union(ACTIVITY_SOURCES, start, end)
    prev_ids = Order.select(SQL("p.contact_id")).from_(previous.alias("p"))
    cur_ids = Order.select(SQL("c.contact_id")).from_(current.alias("c"))
    kept = Order.select(fn.COUNT(SQL("*"))).from_((prev_ids & cur_ids).alias("k")).scalar() or 0  # INTERSECT: distinct
    return _pct(kept, count_contacts(ACTIVITY_SOURCES, before, start))


def buyers(start: dt.datetime, end: dt.datetime) -> tuple[int, int, float]:
    """(buyers, orders, revenue) of the period."""
    row = (Order.select(fn.COUNT(fn.DISTINCT(Order.contact)), fn.COUNT(SQL("*")), fn.SUM(Order.amount))
           .where(Order.occurred_at >= start, Order.occurred_at < end).tuples().first())
    return int(row[0] or 0), int(row[1] or 0), float(row[2] or 0)


def repurchase_rate(start: dt.datetime, end: dt.datetime) -> float | None:
    """Share of the period's buyers who bought twice or more in it (复购率 as shops report it).

    Counted within the period only: "had bought before" would need an index probe per buyer into
    all earlier orders, which at tens of thousands of buyers a week cost most of the review.
    """
    per_buyer = (Order.select(Order.contact.alias("cid"), fn.COUNT(SQL("*")).alias("n"))
                 .where(Order.occurred_at >= start, Order.occurred_at < end).group_by(Order.contact).alias("b"))
    total, again = (Order.select(fn.COUNT(SQL("*")), fn.SUM(_when(per_buyer.c.n >= 2)))
                    .from_(per_buyer).tuples().first())
    return _pct(int(again or 0), int(total or 0))


def coupons(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(issued, redeemed) of the codes reserved in the period (issued: sent, or redeemed)."""
    issued = (Delivery.status == "sent") | (CouponCode.status == "redeemed")
    row = (CouponCode.select(fn.COUNT(SQL("*")), fn.SUM(_when(CouponCode.status == "redeemed")))
           .join(Delivery, JOIN.LEFT_OUTER, on=(Delivery.id == CouponCode.delivery_id))
           .where(CouponCode.reserved_at >= start, CouponCode.reserved_at < end, issued).tuples().first())
    return int(row[0] or 0), int(row[1] or 0)


def _when(condition):
    return Case(None, [(condition, 1)], 0)


def coupon_redemption(start: dt.datetime, end: dt.datetime) -> float | None:
    issued, redeemed = coupons(start, end)
    return _pct(redeemed, issued)


def metric_value(metric: str, start: dt.datetime, end: dt.datetime) -> float | None:
    """One of REPORT_METRICS over [start, end) (rates in percent)."""
    if metric == "net_growth":
        return float(net_growth(start, end))
    if metric == "retention_rate":
        return retention_rate(start, end)
    if metric == "repurchase_rate":
        return repurchase_rate(start, end)
    if metric == "coupon_redemption":
        return coupon_redemption(start, end)
    raise ValueError(f"unknown KPI metric {metric!r}")
