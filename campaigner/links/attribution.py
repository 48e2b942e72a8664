"""Attributing orders to the last human click of their contact within a window before them.

Conversions are kept in their own table, recomputed for a range of orders at a
time (a periodic task does the recent days; ops can redo everything), so the
analytics pages read them with a plain join instead of a window search.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict

from campaigner.db import database, utcnow

CHUNK = 1000


def attribute_orders(order_query, window_days: int | None = None) -> int:
    """(Re)attribute the orders of `order_query`; returns how many became conversions."""
    from campaigner.audience.models import Order
    from campaigner.links.options import link_options

    window = dt.timedelta(days=int(window_days if window_days is not None else link_options()["attribution_days"]))
    converted = 0
    last_id = 0
    while True:
        chunk = list(order_query.select(Order.id, Order.contact, Order.amount, Order.occurred_at)
                     .where(Order.id > last_id).order_by(Order.id).limit(CHUNK).tuples())
        if not chunk:
            return converted
        last_id = chunk[-1][0]
        converted += _attribute_chunk(chunk, window)


def _attribute_chunk(orders: list[tuple], window: dt.timedelta) -> int:
    from campaigner.links.models import Click, Conversion, ShortLink

    contacts = list({contact for _, contact, _, _ in orders})
    earliest = min(at for *_, at in orders) - window
    latest = max(at for *_, at in orders)
    clicks: dict[int, list[tuple]] = defaultdict(list)
    query = (Click.select(Click.at, Click.id, Click.contact, ShortLink.id, ShortLink.source_type,
                          ShortLink.source_id, ShortLink.campaign, ShortLink.channel)
             .join(ShortLink)
             .where(Click.contact.in_(contacts), Click.is_bot == False,  # noqa: E712
                    Click.at >= earliest, Click.at <= latest)
             .order_by(Click.at, Click.id).tuples())
    for row in query:
        clicks[row[2]].append(row)
    rows = []
    for order_id, contact, amount, at in orders:
        theirs = clicks.get(contact)
        if not theirs:
            continue
        i = bisect.bisect_right(theirs, (at, float("inf"))) - 1
        if i < 0 or theirs[i][0] < at - window:
            continue
        click_at, click_id, _, link_id, source_type, source_id, campaign_id, channel = theirs[i]
        rows.append({"order": order_id, "click": click_id, "link": link_id, "contact": contact,
                     "source_type": source_type, "source_id": source_id, "campaign": campaign_id,
                     "channel": channel or "", "amount": amount, "at": at})
    with database.atomic():
        Conversion.delete().where(Conversion.order.in_([o[0] for o in orders])).execute()
        for start in range(0, len(rows), 500):
            Conversion.insert_many(rows[start:start + 500]).execute()
    return len(rows)


def attribute_all(window_days: int | None = None) -> int:
    """Attribute every order there is."""
    from campaigner.audience.models import Order

    return attribute_orders(Order.select(), window_days)


def attribute_recent(days: int = 2, window_days: int | None = None) -> int:
    """Attribute orders placed, or recorded, in the last `days` days (imports bring old orders late)."""
    from campaigner.audience.models import Order

    since = utcnow() - dt.timedelta(days=days)
    return attribute_orders(Order.select().where((Order.occurred_at >= since) | (Order.created_at >= since)),
                            window_days)
