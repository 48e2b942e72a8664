"""The inbound ledger: store a callback's events before answering, process them on a worker, exactly once.

Accepting (the web process): the receiver checks and parses the request; each event is inserted
with ``ON CONFLICT DO NOTHING`` on (provider, dedupe_key), so a provider's retry of a callback we
already stored adds nothing; the insert commits before the answer goes out. Then a processing task
is queued by the caller (`campaigner.inbound.tasks.schedule_processing`: at most a few a second per
process, since one task drains everything pending).

Processing (a worker): a run claims a batch of due rows (status processing, a claim token, a lease,
attempts + 1), processes each inside a savepoint of one transaction per batch, and marks them done
in that same transaction — what an event changed and the fact that it was processed commit
together. An event whose processing raises rolls back alone and goes back to pending with a
back-off (failed after MAX_ATTEMPTS). A worker killed mid-batch commits nothing; its rows keep
their lease, and the sweeper (every minute) makes rows whose lease ran out pending again, so they
are processed by the next run — once, since nothing of the killed run was committed.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass

from peewee import SQL, fn

from campaigner.audit import record_audit
from campaigner.db import database, is_postgres, utcnow, write_transaction
from campaigner.events.services import collect_events, emit_events
from campaigner.inbound.models import STATUSES, InboundEvent
from campaigner.inbound.receivers import InboundRejected, InboundRequest, Received, Reply
from campaigner.runtime import current_runtime

log = logging.getLogger(__name__)

BATCH = 500
LEASE_SECONDS = 60  # a batch not finished in this long belongs to a killed worker
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)  # after attempt 1, 2, …

# Callbacks refused since this process started, per provider and reason (the ops page shows them).
rejected_counts: Counter = Counter()


class UnknownProvider(LookupError):
    """No plugin registered a receiver for that provider."""


def receiver_for(provider: str):
    """The receiver registered for `provider` (raises UnknownProvider)."""
    receiver = current_runtime().plugins.receivers().get(provider)
    if receiver is None:
        raise UnknownProvider(provider)
    return receiver


# ---------------------------------------------------------------- accepting


def record_inbound_event(provider: str, kind: str, dedupe_key: str, payload: dict | None = None, *,
                         account: str = "") -> bool:
    """Store one inbound event in the ledger; False when an event with that dedupe key was already stored.

    For plugins that receive events some other way than ``/hooks/…`` (polling a provider, a
    queue): the stored event is processed by the provider's receiver like any other.
    """
    now = utcnow()
    inserted = (InboundEvent.insert(provider=provider, account=account, kind=kind, dedupe_key=str(dedupe_key)[:255],
                                    payload=payload or {}, received_at=now, due_at=now)
                .on_conflict_ignore().as_rowcount().execute())
    return bool(inserted)


def accept_callback(receiver, request: InboundRequest) -> tuple[Reply, int]:
    """Check a callback with its receiver and store its events; return the answer and how many were new.

    Raises `InboundRejected` (nothing stored).
    """
    provider = receiver.provider
    try:
        if request.method == "GET":
            return receiver.verify(request), 0
        received = receiver.accept(request)
    except InboundRejected as exc:
        rejected_counts[(provider, exc.reason)] += 1
        log.warning("inbound %s/%s refused (%s): %s", provider, request.account, exc.status, exc.reason)
        raise
    new = store_received(provider, request.account, received)
    return receiver.acknowledge(request, received), new


def store_received(provider: str, account: str, received: list[Received]) -> int:
    """Insert the events in one transaction; return how many were new."""
    if not received:
        return 0
    with database.atomic():
        return sum(record_inbound_event(provider, r.kind, r.dedupe_key, r.payload, account=account) for r in received)


# ---------------------------------------------------------------- processing


@dataclass
class ProcessReport:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0


def claim_batch(limit: int = BATCH, now: dt.datetime | None = None) -> tuple[str, list[InboundEvent]]:
    """Take up to `limit` due pending events for this run: (claim token, rows)."""
    now = now or utcnow()
    token = uuid.uuid4().hex
    with write_transaction():
        due = (InboundEvent.select(InboundEvent.id)
               .where(InboundEvent.status == "pending", InboundEvent.due_at <= now)
               .order_by(InboundEvent.id).limit(limit))
        if is_postgres():
            due = due.for_update("FOR UPDATE SKIP LOCKED")
        ids = [row.id for row in due]
        if not ids:
            return token, []
        (InboundEvent.update(status="processing", claim=token, lease_until=now + dt.timedelta(seconds=LEASE_SECONDS),
                             attempts=InboundEvent.attempts + 1)
         .where(InboundEvent.id.in_(ids), InboundEvent.status == "pending").execute())
    rows = list(InboundEvent.select().where(InboundEvent.claim == token).order_by(InboundEvent.id))
    return token, rows


def process_claimed(token: str, rows: list[InboundEvent]) -> ProcessReport:
    """Process claimed rows in one transaction, each in its own savepoint; record each outcome."""
    report = ProcessReport(claimed=len(rows))
    receivers = current_runtime().plugins.receivers()
    done, outcomes = [], []
    with collect_events() as events:
        with write_transaction():
            # A run that lost its rows (the sweeper gave them to another after the lease) writes nothing.
            mine = (InboundEvent.select(fn.COUNT(SQL("*")))
                    .where(InboundEvent.claim == token, InboundEvent.status == "processing").scalar())
            if not mine:
                return report
            pending = []
            for provider, group in _by_provider(rows).items():
                receiver = receivers.get(provider)
                handled = _process_many(receiver, group, events) if receiver is not None else 0
                done += [row.id for row in group[:handled]]
                pending += group[handled:]
            for row in sorted(pending, key=lambda r: r.id):
                before = len(events)
                try:
                    receiver = receivers.get(row.provider)
                    if receiver is None:
                        raise UnknownProvider(f"no plugin receives {row.provider!r} events (is it installed?)")
                    with database.atomic():
                        receiver.process(row)
                except Exception as exc:  # noqa: BLE001 - recorded on the event; retried with back-off
                    del events[before:]  # what the rolled-back savepoint recorded never happened
                    log.warning("inbound event %s (%s %s) failed: %s", row.id, row.provider, row.kind, exc,
                                exc_info=not isinstance(exc, UnknownProvider))
                    outcomes.append((row, f"{type(exc).__name__}: {exc}"[:2000]))
                else:
                    done.append(row.id)
            now = utcnow()
            for chunk in _chunks(done, 500):
                (InboundEvent.update(status="done", claim=None, lease_until=None, processed_at=now, error="")
                 .where(InboundEvent.id.in_(chunk), InboundEvent.claim == token).execute())
            report.done = len(done)
            for row, error in outcomes:
                if row.attempts >= MAX_ATTEMPTS:
                    values = {"status": "failed"}
                    report.failed += 1
                else:
                    delay = BACKOFF_SECONDS[min(row.attempts, len(BACKOFF_SECONDS)) - 1]
                    values = {"status": "pending", "due_at": now + dt.timedelta(seconds=delay)}
                    report.retried += 1
                (InboundEvent.update(claim=None, lease_until=None, error=error, **values)
                 .where(InboundEvent.id == row.id, InboundEvent.claim == token).execute())
        emitted = list(events)
    emit_events(emitted)
    return report


def _by_provider(rows: list[InboundEvent]) -> dict[str, list[InboundEvent]]:
    groups: dict[str, list[InboundEvent]] = {}
    for row in rows:
        groups.setdefault(row.provider, []).append(row)
    return groups


def _process_many(receiver, group: list[InboundEvent], events: list) -> int:
    """Let the receiver handle a run of its events at once (in a savepoint); how many it handled."""
    before = len(events)
    try:
        with database.atomic():
            handled = int(receiver.process_many(group) or 0)
    except Exception:  # noqa: BLE001 - undone; every event then goes through process() on its own
        del events[before:]
        log.warning("inbound %s: bulk processing failed; one by one instead", receiver.provider, exc_info=True)
        return 0
    return max(0, min(handled, len(group)))


def process_pending(max_batches: int | None = None, batch: int = BATCH) -> ProcessReport:
    """Claim and process due events until none is left (or `max_batches`); the processing task's body."""
    total = ProcessReport()
    batches = 0
    while max_batches is None or batches < max_batches:
        token, rows = claim_batch(batch)
        if not rows:
            break
        report = process_claimed(token, rows)
        batches += 1
        for name in ("claimed", "done", "retried", "failed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total


def sweep_inbound(now: dt.datetime | None = None) -> tuple[int, int]:
    """Make events a killed worker held pending again; return (released, due) — due > 0 means queue processing."""
    now = now or utcnow()
    released = (InboundEvent.update(status="pending", claim=None, lease_until=None, due_at=min(now, utcnow()),
                                    error="the worker processing it stopped; processed again")
                .where(InboundEvent.status == "processing", InboundEvent.lease_until < now).execute())
    if released:
        log.warning("%d inbound events were held by a stopped worker; pending again", released)
    due = (InboundEvent.select().where(InboundEvent.status == "pending", InboundEvent.due_at <= now).limit(1).count())
    return released, due


def retry_events(ids: list[int], user=None) -> int:
    """Process failed events again (ops' retry); return how many were queued."""
    if not ids:
        return 0
    count = (InboundEvent.update(status="pending", due_at=utcnow(), attempts=0)
             .where(InboundEvent.id.in_(ids), InboundEvent.status == "failed").execute())
    if count:
        record_audit(user, "retried", object_type="inboundevent", object_id=",".join(map(str, ids[:20])),
                     summary=f"{count} inbound events queued again")
    return count


# ---------------------------------------------------------------- the log


@dataclass
class InboundFilter:
    provider: str = ""
    kind: str = ""
    status: str = ""

    @classmethod
    def from_args(cls, args) -> tuple["InboundFilter", dict[str, str]]:
        values, errors = {}, {}
        for name in ("provider", "kind"):
            raw = (args.get(name) or "").strip()
            if len(raw) > 100:
                errors[name] = "too long"
            elif raw:
                values[name] = raw
        status = (args.get("status") or "").strip()
        if status and status not in STATUSES:
            errors["status"] = "unknown status"
        elif status:
            values["status"] = status
        return cls(**values), errors

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in (("provider", self.provider), ("kind", self.kind), ("status", self.status)) if v}


def _filtered(f: InboundFilter):
    query = InboundEvent.select()
    if f.provider:
        query = query.where(InboundEvent.provider == f.provider)
    if f.kind:
        query = query.where(InboundEvent.kind == f.kind)
    if f.status:
        query = query.where(InboundEvent.status == f.status)
    return query


def matching_ids(f: InboundFilter) -> list[int]:
    """The ids of every event the filter matches."""
    return [row.id for row in _filtered(f).select(InboundEvent.id)]


def log_page(f: InboundFilter, before: int | None = None, per_page: int = 50) -> tuple[list[InboundEvent], int | None]:
    """One keyset page of the ledger, newest first, and the cursor of the next (older) page."""
    query = _filtered(f)
    if before:
        query = query.where(InboundEvent.id < before)
    rows = list(query.order_by(InboundEvent.id.desc()).limit(per_page + 1))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (rows[-1].id if more and rows else None)


def status_counts() -> dict[str, int]:
    """How many events are in each status."""
    counts = {s: 0 for s in STATUSES}
    for status, count in (InboundEvent.select(InboundEvent.status, fn.COUNT(SQL("*")))
                          .group_by(InboundEvent.status).tuples()):
        counts[status] = count
    return counts


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
