"""Counting rows per local day in SQL, the same way on SQLite and PostgreSQL.

Timestamps are naive UTC. PostgreSQL converts each one to the instance's time
zone exactly (``AT TIME ZONE``). SQLite has no time-zone database: it shifts by
the zone's current UTC offset, exact for zones without daylight saving (China's)
and an hour off around a DST change elsewhere.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from peewee import SQL, NodeList, Value, fn

from campaigner.db import is_postgres


def local_day(field, tz: str):
    """A SQL expression for the local date (in `tz`) of the UTC timestamp `field`."""
    if is_postgres():
        local = NodeList((NodeList((field, SQL("AT TIME ZONE 'UTC'"))), SQL("AT TIME ZONE"), Value(tz)))
        return NodeList((SQL("CAST("), local, SQL("AS DATE)")), glue=" ")
    offset = dt.datetime.now(ZoneInfo(tz)).utcoffset() or dt.timedelta(0)
    return fn.date(field, f"{int(offset.total_seconds() // 60):+d} minutes")


def as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def local_day_counts(query, field, tz: str, distinct=None) -> dict[dt.date, dict]:
    """{local date: {"count": rows, "unique": distinct values of `distinct`}} for the rows of `query`."""
    day = local_day(field, tz)
    columns = [day.alias("day"), fn.COUNT(SQL("*"))]
    if distinct is not None:
        columns.append(fn.COUNT(fn.DISTINCT(distinct)))
    out = {}
    for row in query.select(*columns).group_by(SQL("1")).tuples():
        out[as_date(row[0])] = {"count": int(row[1]), "unique": int(row[2]) if distinct is not None else int(row[1])}
    return out


def utc_bounds(start: dt.date, end: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """Naive UTC [from, to) covering the local days `start`..`end` (both included) in `tz`."""
    zone = ZoneInfo(tz)

    def utc(day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)

    return utc(start), utc(end + dt.timedelta(days=1))


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
