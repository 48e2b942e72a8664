"""Cohorts by join week (retention triangle, value per member), lifetime value, and value per acquisition source.

Weeks are local (the instance's zone), Monday to Sunday. A week's bounds are
computed here as UTC instants, and SQL puts each timestamp in its week with one
``CASE`` over those bounds: the same on SQLite and PostgreSQL, exact across a
daylight-saving change, and the range conditions stay on indexed columns
(`contact.created_at`, `orders.occurred_at`).

A cohort member is retained in week k when it was active (ordered or clicked;
replies once WeCom lands) in the k-th week after the week it joined. Week 0
counts the members active in their join week. Value per member is the revenue
of the cohort's orders up to week k divided by the cohort's size (a lifetime
value curve).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from peewee import SQL, Case, fn

from campaigner.analytics.timeseries import utc_bounds
from campaigner.audience.models import Contact, ContactTag, Order, Tag, TagGroup
from campaigner.db import is_postgres
from campaigner.reports.activity import ACTIVITY_SOURCES, ENGAGEMENT_SOURCES, orders, union
from campaigner.settings_store import get_value

CENT = Decimal("0.01")
SOURCE_GROUP_KEY = "reports.source_tag_group"
DEFAULT_SOURCE_GROUP = "渠道"
RETAINED_AFTER_DAYS = 30


def week_start(day: dt.date) -> dt.date:
    """The Monday of `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def week_bounds(first: dt.date, weeks: int, tz: str) -> list[dt.datetime]:
    """UTC instants of local Monday midnights: weeks + 1 bounds from the week of `first`."""
    return [utc_bounds(first + dt.timedelta(weeks=i), first + dt.timedelta(weeks=i), tz)[0] for i in range(weeks + 1)]


def bucket(field, bounds: list[dt.datetime]):
    """A SQL expression: the index of the week (in `bounds`) that `field` falls in."""
    return Case(None, [(field < b, i) for i, b in enumerate(bounds[1:-1])], len(bounds) - 2)


@dataclass
class CohortRow:
    week: dt.date
    size: int
    active: list[int] = field(default_factory=list)  # week 0, 1, … as far as the data reaches
    revenue: list[Decimal] = field(default_factory=list)  # revenue of the week (not cumulative)

    @property
    def rates(self) -> list[float | None]:
        return [round(100.0 * n / self.size, 1) if self.size else None for n in self.active]

    @property
    def value_per_member(self) -> list[Decimal | None]:
        """Cumulative revenue per member at each week: the cohort's lifetime value so far."""
        out, running = [], Decimal(0)
        for amount in self.revenue:
            running += amount
            out.append((running / self.size).quantize(CENT) if self.size else None)
        return out


def cohort_triangle(last_day: dt.date, weeks: int, tz: str) -> list[CohortRow]:
    """The cohorts of the `weeks` weeks up to the one holding `last_day`, oldest first."""
    first = week_start(last_day) - dt.timedelta(weeks=weeks - 1)
    bounds = week_bounds(first, weeks, tz)
    start, end = bounds[0], bounds[-1]
    joined = (Contact.created_at >= start) & (Contact.created_at < end)
    rows = [CohortRow(first + dt.timedelta(weeks=i), 0, [0] * (weeks - i), [Decimal(0)] * (weeks - i))
            for i in range(weeks)]
    for cohort, size in (Contact.select(bucket(Contact.created_at, bounds), fn.COUNT(SQL("*")))
                         .where(joined).group_by(SQL("1")).tuples()):
        rows[int(cohort)].size = int(size)
    # One pass over the window's activity: orders carry their amount, engagement none, so the same rows
    # give the active members (distinct) and the revenue of each cell.
    activity = union([_orders_with_amount, *[_without_amount(s) for s in ENGAGEMENT_SOURCES]], start, end).alias("a")
    cohort_week = bucket(Contact.created_at, bounds)
    active_week = bucket(activity.c.at, bounds)
    inner = (Contact.select(cohort_week.alias("cw"), active_week.alias("aw"), Contact.id.alias("cid"),
                            activity.c.amount.alias("amount"))
             .join(activity, on=(activity.c.contact_id == Contact.id)).where(joined))
    for cohort, week, count, amount in (Contact.select(SQL("cw"), SQL("aw"), fn.COUNT(fn.DISTINCT(SQL("cid"))),
                                                       fn.SUM(SQL("amount")))
                                        .from_(inner.alias("x")).group_by(SQL("cw"), SQL("aw")).tuples()):
        cohort, k = int(cohort), int(week) - int(cohort)
        if 0 <= k < len(rows[cohort].active):
            rows[cohort].active[k] = int(count)
            rows[cohort].revenue[k] = Decimal(str(amount or 0)).quantize(CENT)
    return rows


def _orders_with_amount(start, end):
    return orders(start, end).select_extend(Order.amount.alias("amount"))


def _without_amount(source):
    def rows(start, end):
        return source(start, end).select_extend(SQL("NULL").alias("amount"))
    return rows


def lifetime_value(start: dt.datetime | None = None, end: dt.datetime | None = None) -> dict:
    """Revenue so far per contact and per buyer, over the contacts that joined in [start, end) (all by default)."""
    contacts = Contact.select(Contact.id)
    if start is not None:
        contacts = contacts.where(Contact.created_at >= start)
    if end is not None:
        contacts = contacts.where(Contact.created_at < end)
    members = contacts.count()
    buyers, revenue = (Order.select(fn.COUNT(fn.DISTINCT(Order.contact)), fn.SUM(Order.amount))
                       .where(Order.contact.in_(contacts)).tuples().first() or (0, 0))
    revenue = Decimal(str(revenue or 0)).quantize(CENT)
    return {"contacts": members, "buyers": int(buyers or 0), "revenue": revenue,
            "per_contact": (revenue / members).quantize(CENT) if members else None,
            "per_buyer": (revenue / buyers).quantize(CENT) if buyers else None}


# ---------------------------------------------------------------- value per source


def source_group() -> str:
    """The tag group whose tags name a contact's acquisition source (渠道 by default)."""
    return get_value(SOURCE_GROUP_KEY) or DEFAULT_SOURCE_GROUP


def tag_sources(group: str):
    """(contact_id, source) from the tags of `group`: a contact with two source tags counts for both."""
    return (ContactTag.select(ContactTag.contact.alias("contact_id"), Tag.name.alias("source"))
            .join(Tag).join(TagGroup).where(TagGroup.name == group))


# Live codes (渠道活码, WeCom) add a resolver here: (contact_id, source) of the code each contact came through.
SOURCE_RESOLVERS = [lambda: tag_sources(source_group())]


def value_by_source(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[dict]:
    """Per source, of the contacts that joined in [start, end): adds, retained after 30 days, buyers, revenue."""
    out: dict[str, dict] = {}

    def row(source: str) -> dict:
        return out.setdefault(source, {"source": source, "adds": 0, "retained": 0, "eligible": 0, "buyers": 0,
                                       "revenue": Decimal(0)})

    joined = (Contact.created_at >= start) & (Contact.created_at < end)
    matured = Contact.created_at <= now - dt.timedelta(days=RETAINED_AFTER_DAYS)
    for resolve in SOURCE_RESOLVERS:
        sources = resolve().alias("s")
        base = Contact.select().join(sources, on=(sources.c.contact_id == Contact.id)).where(joined)
        for source, adds, eligible in (base.select(sources.c.source, fn.COUNT(SQL("*")),
                                                   fn.SUM(Case(None, [(matured, 1)], 0)))
                                       .group_by(sources.c.source).tuples()):
            r = row(source)
            r["adds"] += int(adds)
            r["eligible"] += int(eligible or 0)
        for source, buyers, revenue in (base.select(sources.c.source, fn.COUNT(fn.DISTINCT(Order.contact)),
                                                    fn.SUM(Order.amount))
                                        .join(Order, on=(Order.contact == Contact.id))
                                        .group_by(sources.c.source).tuples()):
            r = row(source)
            r["buyers"] += int(buyers)
            r["revenue"] += Decimal(str(revenue or 0)).quantize(CENT)
        activity = union(ACTIVITY_SOURCES).alias("a")
        for source, retained in (base.select(sources.c.source, fn.COUNT(fn.DISTINCT(Contact.id)))
                                 .join(activity, on=(activity.c.contact_id == Contact.id))
                                 .where(matured, activity.c.at >= _plus_days(Contact.created_at, RETAINED_AFTER_DAYS))
                                 .group_by(sources.c.source).tuples()):
            row(source)["retained"] += int(retained)
    for r in out.values():
        r["retention_rate"] = round(100.0 * r["retained"] / r["eligible"], 1) if r["eligible"] else None
        r["revenue_per_add"] = (r["revenue"] / r["adds"]).quantize(CENT) if r["adds"] else None
    return sorted(out.values(), key=lambda r: (-r["adds"], r["source"]))


def _plus_days(column, days: int):
    """`column` + `days` days in SQL (SQLite keeps timestamps as ISO text, which compares in time order)."""
    if is_postgres():
        return column + SQL(f"INTERVAL '{int(days)} days'")
    return fn.datetime(column, f"+{int(days)} days")
