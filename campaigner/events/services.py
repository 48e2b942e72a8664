"""Recording contact events and telling plugins about them (`contact_event` hook).

A feature records an event where the change happens (`record_event`), inside its own transaction.
Plugins hear of it only once that transaction committed: inside `collect_events()` the events wait
and the caller emits them after its commit (`emit_events`), so a rule never reacts to something a
rollback undid. Outside such a block an event is announced at once. Every implementation of the
hook runs even when another raises (each failure is kept with the plugin's name).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from campaigner.db import utcnow
from campaigner.events.models import Event
from campaigner.runtime import current_runtime

EVENT_KINDS = (
    "joined",  # a customer added a staff account (details: staff, state, add_way)
    "left",  # the relationship ended (details: removed_by customer|staff|transfer)
    "joined_group", "left_group",
    "tag_added", "tag_removed",
    "order_placed", "link_clicked",
    "replied",  # the contact wrote to us (an SMS reply, a message)
)


class UnknownEventKind(ValueError):
    """An event kind outside EVENT_KINDS."""


_pending = threading.local()


def record_event(kind: str, contact=None, *, source: str = "", at=None, staff: str | None = None,
                 group: str | None = None, details: dict | None = None) -> Event:
    """Store one contact event and announce it to plugins (after the caller's commit inside `collect_events`)."""
    if kind not in EVENT_KINDS:
        raise UnknownEventKind(f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    event = Event.create(kind=kind, contact=getattr(contact, "id", contact), at=at or utcnow(), source=source,
                         staff=staff, group=group, details=details)
    waiting = getattr(_pending, "events", None)
    if waiting is not None:
        waiting.append(event)
    else:
        emit_events([event])
    return event


@contextmanager
def collect_events():
    """Hold the events recorded inside the block; yields the list to pass to `emit_events` after commit."""
    outer = getattr(_pending, "events", None)
    _pending.events = collected = []
    try:
        yield collected
    finally:
        _pending.events = outer


def emit_events(events: list[Event]) -> list:
    """Call every plugin's `contact_event` for each event; return the failures (each kept with its plugin)."""
    if not events:
        return []
    plugins = current_runtime().plugins
    failures = []
    for event in events:
        failures += plugins.call_each("contact_event", event=event)
    return failures


def contact_events(contact, limit: int = 100) -> list[Event]:
    """The newest events of a contact, newest first."""
    contact_id = getattr(contact, "id", contact)
    return list(Event.select().where(Event.contact == contact_id).order_by(Event.at.desc(), Event.id.desc())
                .limit(limit))


def record_events(rows: list[dict]) -> int:
    """Store many events at once (the bulk form of `record_event`, for a burst of callbacks); return how many.

    Each row has kind, contact, at, source and optionally staff, group, details. They are
    announced like `record_event`'s: after the caller's commit inside `collect_events`.
    """
    if not rows:
        return 0
    for row in rows:
        if row["kind"] not in EVENT_KINDS:
            raise UnknownEventKind(f"unknown event kind {row['kind']!r}")
    ids = []
    for start in range(0, len(rows), 200):
        ids += list(Event.insert_many([{**row, "at": row.get("at") or utcnow()} for row in rows[start:start + 200]])
                    .returning(Event.id).tuples().execute())
    written = [Event(id=event_id, kind=row["kind"], contact=row.get("contact"), at=row.get("at"),
                     source=row.get("source") or "", staff=row.get("staff"), group=row.get("group"),
                     details=row.get("details")) for (event_id,), row in zip(ids, rows)]
    waiting = getattr(_pending, "events", None)
    if waiting is not None:
        waiting.extend(written)
    else:
        emit_events(written)
    return len(rows)
