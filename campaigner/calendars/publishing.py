"""Publishing calendar entries through the campaign engine, and the status that follows from it.

An approved entry becomes a campaign (origin ``calendar_entry:<id>``) scheduled
for the entry's `send_at`, so it goes through the same deliveries, caps, quiet
hours and logs as any campaign. Moving the entry reschedules that campaign;
unscheduling cancels it. What an entry shows — draft, scheduled, sending,
sent, partly failed, failed — is read from its campaign and its deliveries.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from peewee import fn

from campaigner.calendars.models import CalendarEntry
from campaigner.calendars.services import (
    STARTED, CalendarError, _, effective_audience, has_started, local_to_utc, utc_to_local,
)
from campaigner.campaigns.models import Campaign
from campaigner.db import database, utcnow
from campaigner.deliveries.engine import SOURCE as CAMPAIGN_SOURCE
from campaigner.deliveries.models import Delivery

# What an entry shows, in the order a week view's legend lists them.
DISPLAY_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "partly_failed", "failed")
FAILED = ("failed", "unknown")
PENDING = ("queued", "sending", "deferred")


def engine():
    """The campaign engine's service module (imported late: it is built alongside this one)."""
    from campaigner.campaigns import services

    return services


@contextmanager
def engine_refusals():
    """Turn the engine's CampaignError (a ValueError) into a CalendarError the pages can show."""
    try:
        yield
    except CalendarError:
        raise
    except ValueError as exc:
        raise CalendarError(_("The campaign engine refused: %(reason)s"), reason=str(exc)) from exc


def campaign_name(entry: CalendarEntry) -> str:
    local = utc_to_local(entry.send_at, entry.calendar.timezone)
    label = entry.theme or (entry.content.title if entry.content_id else "")
    return f"{entry.calendar.name} · {local:%Y-%m-%d %H:%M} · {label}".rstrip(" ·")


def approve_entry(entry: CalendarEntry, user=None) -> CalendarEntry:
    """Publish an entry: create its campaign and schedule it for the entry's time (→ scheduled)."""
    if entry.status == "scheduled" and entry.campaign_id:
        raise CalendarError(_("This entry is already scheduled."))
    if entry.content_id is None:
        raise CalendarError(_("Give the entry content before approving it."))
    if entry.content.status != "approved":
        raise CalendarError(_("The content %(title)s is not approved yet."), title=entry.content.title)
    if entry.send_at <= utcnow():
        raise CalendarError(_("This entry's time has passed; move it to a later time first."))
    calendar = entry.calendar
    services = engine()
    try:
        with database.atomic():
            campaign = services.create_campaign(
                name=campaign_name(entry), content=entry.content, channels=[calendar.channel],
                audience=effective_audience(calendar), send_at=entry.send_at, timezone=calendar.timezone,
                origin=f"calendar_entry:{entry.id}", created_by=user if getattr(user, "id", None) else None)
            campaign = services.schedule_campaign(campaign, user) or campaign
            entry.campaign = campaign
            entry.status = "scheduled"
            entry.updated_at = utcnow()
            entry.save()
    except CalendarError:
        raise
    except ValueError as exc:  # the engine's CampaignError: a channel gone, an audience it can't read, ...
        entry.campaign, entry.status = None, "draft"
        raise CalendarError(_("The campaign could not be scheduled: %(reason)s"), reason=str(exc)) from exc
    return entry


def unschedule_entry(entry: CalendarEntry, user=None) -> CalendarEntry:
    """Take a scheduled entry back to draft, cancelling its campaign before it sends."""
    if entry.status != "scheduled" or entry.campaign_id is None:
        raise CalendarError(_("This entry is not scheduled."))
    if has_started(entry):
        raise CalendarError(_("This entry has started sending; pause or cancel its campaign instead."))
    with engine_refusals(), database.atomic():
        engine().cancel_campaign(entry.campaign, user)
        entry.campaign = None
        entry.status = "draft"
        entry.updated_at = utcnow()
        entry.save()
    return entry


def _check_movable(entry: CalendarEntry, send_at: dt.datetime) -> None:
    if has_started(entry):
        raise CalendarError(_("This entry has started sending and can no longer move."))
    if entry.status == "scheduled" and send_at <= utcnow():
        raise CalendarError(_("A scheduled entry can only move to a time still to come."))


def move_entry(entry: CalendarEntry, day: dt.date, at: dt.time, tz: str | None = None, user=None) -> CalendarEntry:
    """Move an entry to wall-clock `at` on `day` (in `tz`, else the calendar's zone); reschedules its campaign."""
    send_at = local_to_utc(day, at, tz or entry.calendar.timezone)
    _check_movable(entry, send_at)
    with engine_refusals(), database.atomic():
        entry.send_at = send_at
        entry.updated_at = utcnow()
        entry.save()
        if entry.status == "scheduled" and entry.campaign_id:
            engine().reschedule_campaign(entry.campaign, send_at, user)
    return entry


def swap_entries(first: CalendarEntry, second: CalendarEntry, user=None) -> None:
    """Exchange the times of two entries (their campaigns are rescheduled to match)."""
    if first.id == second.id:
        raise CalendarError(_("Choose another entry to swap with."))
    _check_movable(first, second.send_at)
    _check_movable(second, first.send_at)
    with engine_refusals(), database.atomic():
        first.send_at, second.send_at = second.send_at, first.send_at
        for entry in (first, second):
            entry.updated_at = utcnow()
            entry.save()
            if entry.status == "scheduled" and entry.campaign_id:
                engine().reschedule_campaign(entry.campaign, entry.send_at, user)


# ---------------------------------------------------------------- status


def derive_status(entry_status: str, campaign_status: str | None, counts: dict | None) -> str:
    """An entry's display status from its campaign's status and its deliveries' counts by status."""
    if campaign_status is None or campaign_status == "cancelled":
        return "draft" if entry_status != "scheduled" else "scheduled"
    counts = counts or {}
    if campaign_status in ("draft", "scheduled") and not counts:
        return "scheduled"
    if campaign_status == "paused":
        return "paused"
    sent = counts.get("sent", 0)
    failed = sum(counts.get(s, 0) for s in FAILED)
    if campaign_status != "completed" or any(counts.get(s, 0) for s in PENDING):
        return "sending"
    if failed and sent:
        return "partly_failed"
    if failed:
        return "failed"
    return "sent"


def delivery_counts(campaign_ids) -> dict[int, dict[str, int]]:
    """Campaign id -> {delivery status: count}, in one grouped query."""
    ids = [i for i in campaign_ids if i]
    if not ids:
        return {}
    out: dict[int, dict[str, int]] = {}
    query = (Delivery.select(Delivery.source_id, Delivery.status, fn.COUNT(Delivery.id))
             .where(Delivery.source_type == CAMPAIGN_SOURCE, Delivery.source_id.in_(ids))
             .group_by(Delivery.source_id, Delivery.status).tuples())
    for source_id, status, count in query:
        out.setdefault(source_id, {})[status] = count
    return out


def entry_statuses(rows) -> dict[int, str]:
    """Entry id -> display status for rows of (entry id, entry status, campaign id[, campaign status]).

    Without the campaign's status in the row it is read in one query; the
    deliveries of started campaigns are counted in one more.
    """
    rows = [tuple(row) for row in rows]
    campaign_status = {row[2]: row[3] for row in rows if row[2] and len(row) > 3}
    missing = [row[2] for row in rows if row[2] and len(row) <= 3]
    if missing:
        campaign_status.update(Campaign.select(Campaign.id, Campaign.status).where(Campaign.id.in_(missing)).tuples())
    counts = delivery_counts([cid for cid, status in campaign_status.items() if status in STARTED])
    return {row[0]: derive_status(row[1], campaign_status.get(row[2]), counts.get(row[2])) for row in rows}


def entry_status(entry: CalendarEntry) -> str:
    """One entry's display status."""
    return entry_statuses([(entry.id, entry.status, entry.campaign_id)])[entry.id]


def entry_report(entry: CalendarEntry) -> dict | None:
    """The campaign's own stats for an entry's detail page (None before it is approved)."""
    if entry.campaign_id is None:
        return None
    return engine().campaign_stats(entry.campaign)
