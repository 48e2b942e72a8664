"""A contact's timeline: tags added and removed, opt-outs, imports, RFM changes, deliveries, clicks and orders.

Each kind of event stays in the table that owns it (deliveries, clicks, orders, opt-outs);
this module reads the newest of each and merges them, so no feature has to copy its
rows into a shared log.
"""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field

from campaigner.audience.models import ContactEvent, OptOut, Order


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # created, updated, imported, tag_added, tag_removed, rfm, opted_out, opted_in, delivery, click, order
    summary: str
    details: dict = field(default_factory=dict)


def contact_timeline(contact, limit: int = 100) -> list[TimelineEntry]:
    """The newest `limit` events of the contact, newest first."""
    contact_id = getattr(contact, "id", contact)
    entries: list[TimelineEntry] = []
    for event in (ContactEvent.select().where(ContactEvent.contact == contact_id)
                  .order_by(ContactEvent.at.desc(), ContactEvent.id.desc()).limit(limit)):
        entries.append(TimelineEntry(event.at, event.kind, event.summary, event.details or {}))
    for row in OptOut.select().where(OptOut.contact == contact_id):
        entries.append(TimelineEntry(row.at, "opted_out", row.channel, {"source": row.source}))
    for order in (Order.select().where(Order.contact == contact_id)
                  .order_by(Order.occurred_at.desc()).limit(limit)):
        entries.append(TimelineEntry(order.occurred_at, "order", f"{order.amount:.2f}",
                                     {"order_id": order.external_id or "", "source": order.source}))
    entries += _deliveries(contact_id, limit)
    entries += _clicks(contact_id, limit)
    entries += _activities(contact_id, limit)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _optional_model(module: str, name: str):
    # Deliveries and short links are other features; the timeline shows them when they are installed.
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _deliveries(contact_id: int, limit: int) -> list[TimelineEntry]:
    delivery = _optional_model("campaigner.deliveries.models", "Delivery")
    if delivery is None:
        return []
    rows = (delivery.select().where(delivery.contact == contact_id)
            .order_by(delivery.created_at.desc()).limit(limit))
    return [TimelineEntry(d.sent_at or d.updated_at or d.created_at, "delivery", f"{d.channel}: {d.status}",
                          {"source_type": d.source_type, "source_id": d.source_id, "status": d.status,
                           "channel": d.channel, "reason": d.reason or d.error or ""})
            for d in rows]


def _clicks(contact_id: int, limit: int) -> list[TimelineEntry]:
    click = _optional_model("campaigner.links.models", "Click")
    link = _optional_model("campaigner.links.models", "ShortLink")
    if click is None or link is None or not hasattr(click, "contact"):
        return []
    rows = (click.select(click.at, link.original_url, link.code).join(link)
            .where(click.contact == contact_id).order_by(click.at.desc()).limit(limit).tuples())
    return [TimelineEntry(at, "click", target or code, {"code": code}) for at, target, code in rows]


# Core events other tables don't already show (tags, orders and clicks have their own lines above).
ACTIVITY_KINDS = ("joined", "left", "joined_group", "left_group", "replied")


def _activities(contact_id: int, limit: int) -> list[TimelineEntry]:
    event = _optional_model("campaigner.events.models", "Event")
    if event is None:
        return []
    rows = (event.select().where(event.contact == contact_id, event.kind.in_(ACTIVITY_KINDS))
            .order_by(event.at.desc()).limit(limit))
    return [TimelineEntry(e.at, e.kind, _activity_summary(e), {**(e.details or {}), "source": e.source}) for e in rows]


def _activity_summary(event) -> str:
    details = event.details or {}
    if event.kind == "joined":
        return " ".join(part for part in (event.staff or "", f"state={details['state']}" if details.get("state") else "")
                        if part)
    if event.kind == "left":
        return f"{event.staff or ''} ({details.get('removed_by', '')})"
    if event.kind in ("joined_group", "left_group"):
        return details.get("group_name") or event.group or ""
    if event.kind == "replied":
        return str(details.get("text", ""))[:200]
    return ""
