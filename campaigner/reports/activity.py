"""Where the reports read joins, activity and losses: one list per kind, so new sources plug in.

Each source is a function ``(start, end) -> query`` selecting ``(contact_id, at)``
rows (UTC, ``start <= at < end``; None for an open end). Today:

- joins: a contact's creation (`Contact.created_at`);
- activity: orders and human clicks; engagement (fan tiers) is the clicks;
- losses: none yet.

The WeCom work adds its sources here: customer adds as joins, replies and
group messages as engagement, and a customer deleting the staff account
(删除好友) as a loss — which lifecycle reads as churn and growth subtracts.
"""
from __future__ import annotations

import datetime as dt

from peewee import SQL

from campaigner.audience.models import Contact, Order
from campaigner.links.models import Click


def _between(query, field, start, end):
    if start is not None:
        query = query.where(field >= start)
    if end is not None:
        query = query.where(field < end)
    return query


def contact_joins(start: dt.datetime | None = None, end: dt.datetime | None = None):
    """Contacts by when they were added."""
    return _between(Contact.select(Contact.id.alias("contact_id"), Contact.created_at.alias("at")),
                    Contact.created_at, start, end)


def orders(start: dt.datetime | None = None, end: dt.datetime | None = None):
    """Orders by when they were placed."""
    return _between(Order.select(Order.contact.alias("contact_id"), Order.occurred_at.alias("at")),
                    Order.occurred_at, start, end)


def clicks(start: dt.datetime | None = None, end: dt.datetime | None = None):
    """Human clicks of a known contact."""
    return _between(Click.select(Click.contact.alias("contact_id"), Click.at.alias("at"))
                    .where(Click.contact.is_null(False), Click.is_bot == False),  # noqa: E712
                    Click.at, start, end)


JOIN_SOURCES = [contact_joins]
ENGAGEMENT_SOURCES = [clicks]  # replies and group messages (WeCom) join here
ACTIVITY_SOURCES = [orders, *ENGAGEMENT_SOURCES]
LOSS_SOURCES: list = []  # contacts who deleted the staff account (WeCom) join here


def union(sources, start=None, end=None):
    """The rows of every source as one query (UNION ALL), or None when there is no source."""
    queries = [source(start, end) for source in sources]
    if not queries:
        return None
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.union_all(query)
    return combined


def count_contacts(sources, start=None, end=None) -> int:
    """Distinct contacts with a row from any of `sources` in [start, end)."""
    combined = union(sources, start, end)
    if combined is None:
        return 0
    return Contact.select(SQL("COUNT(DISTINCT u.contact_id)")).from_(combined.alias("u")).scalar() or 0


def count_rows(sources, start=None, end=None) -> int:
    """Rows of all `sources` in [start, end) (joins counted as they happened, losses likewise)."""
    return sum(source(start, end).count() for source in sources)


def last_two(sources, end: dt.datetime | None = None) -> dict[int, list[dt.datetime]]:
    """Per contact, its latest two moments of any of `sources` before `end`, newest first."""
    out: dict[int, list[dt.datetime]] = {}
    for source in sources:
        for contact_id, at in source(None, end).tuples().iterator():
            if isinstance(at, str):
                at = dt.datetime.fromisoformat(at)
            moments = out.setdefault(contact_id, [])
            if len(moments) < 2:
                moments.append(at)
                moments.sort(reverse=True)
            elif at > moments[1]:
                moments[1] = at
                moments.sort(reverse=True)
    return out
