"""Calendars, weekly templates and entries: the editing side (no Flask here).

Wall-clock times belong to the calendar's time zone; `send_at` is stored in UTC.
An entry keeps the slot and local date it was born from (`slot_date`) even when
it moves, so (calendar, slot, slot_date) — unique in the database — says
whether a template occurrence already exists: applying a template twice
creates nothing the second time, and neither does applying it after a move.
Publishing (approve, unschedule, reschedule) lives in `publishing.py`.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from peewee import Value

from campaigner.audience.expressions import ExpressionError, parse_expression
from campaigner.audience.reach import count_reachable
from campaigner.audience.models import Segment
from campaigner.calendars.models import KINDS, Calendar, CalendarEntry, WeeklySlot, new_feed_token
from campaigner.content.models import ContentItem
from campaigner.db import database, utcnow


def _(text: str) -> str:
    """Mark a message for translation; the views translate it when they show it."""
    return text


class CalendarError(ValueError):
    """An edit the calendar cannot take; `message` is English with %(name)s fields, `params` fill them."""

    def __init__(self, message: str, **params):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)


MAX_ID = 2**62  # larger numbers name no row (and overflow SQLite's INTEGER)


# ---------------------------------------------------------------- time


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(_("Unknown time zone %(zone)s."), zone=name) from None


def local_to_utc(day: dt.date, at: dt.time, tz: str) -> dt.datetime:
    """The naive UTC instant of wall-clock `at` on `day` in zone `tz`.

    A time skipped by a spring-forward change (02:30 in Berlin on that Sunday)
    is read with the offset before the change, i.e. it lands an hour later on
    the new clock (03:30); an ambiguous autumn time takes its first occurrence.
    """
    local = dt.datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone(tz))
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def utc_to_local(at: dt.datetime, tz: str | ZoneInfo) -> dt.datetime:
    """A naive UTC datetime as naive wall-clock time in `tz`."""
    tzinfo = tz if isinstance(tz, ZoneInfo) else zone(tz)
    return at.replace(tzinfo=dt.timezone.utc).astimezone(tzinfo).replace(tzinfo=None)


def week_start(day: dt.date) -> dt.date:
    """The Monday of `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def today_in(tz: str) -> dt.date:
    return utc_to_local(utcnow(), tz).date()


def week_bounds_utc(monday: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC [start, end) of the local week starting `monday` in `tz` (23 to 25 h days included)."""
    return (local_to_utc(monday, dt.time(0), tz), local_to_utc(monday + dt.timedelta(days=7), dt.time(0), tz))


# ---------------------------------------------------------------- calendars

GROUP_KEY = re.compile(r'^[^"\\\n]{1,200}$')


@dataclass
class CalendarData:
    """What an editor sets on a calendar (from a form or the API)."""

    name: str
    kind: str = "moments"
    channel: str = "chat"
    audience: str = ""
    segment_id: int | None = None
    groups: list[str] = field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    min_gap_minutes: int = 120


def validate_calendar(data: CalendarData) -> dict[str, CalendarError]:
    """Field name -> what is wrong with it (empty when the data is fine)."""
    errors = {}
    if not data.name.strip():
        errors["name"] = CalendarError(_("A calendar needs a name."))
    if data.kind not in KINDS:
        errors["kind"] = CalendarError(_("Choose moments or community."))
    if not data.channel.strip():
        errors["channel"] = CalendarError(_("Choose a channel."))
    if data.timezone not in available_timezones():
        errors["timezone"] = CalendarError(_("Unknown time zone %(zone)s."), zone=data.timezone)
    if not 0 <= data.min_gap_minutes <= 7 * 24 * 60:
        errors["min_gap_minutes"] = CalendarError(_("The gap must be between 0 and 10080 minutes."))
    if data.audience.strip():
        try:
            parse_expression(data.audience)
        except ExpressionError as exc:
            errors["audience"] = CalendarError(_("The audience expression is not valid: %(error)s"), error=str(exc))
    for group in data.groups:
        if not GROUP_KEY.match(group):
            errors["groups"] = CalendarError(_("A group key may not contain quotes or backslashes."))
    if data.segment_id and (not 0 < data.segment_id <= MAX_ID or Segment.get_or_none(Segment.id == data.segment_id) is None):
        errors["segment"] = CalendarError(_("There is no such saved segment."))
    if data.kind == "community" and not data.groups and not data.audience.strip() and not data.segment_id:
        errors["groups"] = CalendarError(_("A community calendar posts to at least one group."))
    return errors


def save_calendar(data: CalendarData, calendar: Calendar | None = None, user=None) -> Calendar:
    """Create a calendar, or update `calendar`, from `data`; CalendarError when it is invalid."""
    errors = validate_calendar(data)
    if errors:
        raise next(iter(errors.values()))
    calendar = calendar or Calendar(created_by=user if getattr(user, "id", None) else None)
    calendar.name = data.name.strip()
    calendar.kind = data.kind
    calendar.channel = data.channel.strip()
    calendar.audience = data.audience.strip()
    calendar.segment = data.segment_id or None
    calendar.groups = [g.strip() for g in data.groups if g.strip()]
    calendar.timezone = data.timezone
    calendar.min_gap_minutes = data.min_gap_minutes
    calendar.updated_at = utcnow()
    calendar.save()
    return calendar


def rotate_feed_token(calendar: Calendar) -> str:
    """Give the calendar a new feed token; the old feed address stops working."""
    calendar.feed_token = new_feed_token()
    calendar.save(only=[Calendar.feed_token])
    return calendar.feed_token


def effective_audience(calendar: Calendar, segment_expression: str | None = None) -> str:
    """The audience expression a calendar's entries are sent to.

    The calendar's own expression (or its saved segment's — pass it as
    `segment_expression` when already at hand), narrowed for a community
    calendar to the members of its groups (group keys are tag keys).
    """
    base = calendar.audience.strip()
    if not base and calendar.segment_id:
        base = (segment_expression if segment_expression is not None else calendar.segment.expression or "").strip()
    parts = [f"({base})"] if base else []
    if calendar.groups:
        parts.append("(" + " OR ".join(f'tag:"{g}"' for g in calendar.groups) + ")")
    if len(parts) == 1:
        return parts[0][1:-1]
    return " AND ".join(parts)


def reachable_count(calendar: Calendar) -> int | None:
    """How many contacts the calendar's entries would reach on its channel now (None: the expression is invalid)."""
    try:
        return count_reachable(effective_audience(calendar), [calendar.channel])
    except ExpressionError:
        return None


# ---------------------------------------------------------------- weekly template


@dataclass
class SlotData:
    weekday: int
    time: dt.time
    theme: str = ""
    content_kind: str = ""
    content_id: int | None = None
    rotation_tag: str | None = None


def save_slot(calendar: Calendar, data: SlotData, slot: WeeklySlot | None = None) -> WeeklySlot:
    """Add a slot to the calendar's weekly template, or change `slot`."""
    if not 0 <= data.weekday <= 6:
        raise CalendarError(_("The weekday must be 0 (Monday) to 6 (Sunday)."))
    content = _content(data.content_id)
    rotation_tag = (data.rotation_tag or "").strip() or None
    if content and rotation_tag:
        raise CalendarError(_("A slot has either fixed content or a rotation tag, not both."))
    slot = slot or WeeklySlot(calendar=calendar)
    slot.weekday = data.weekday
    slot.time = data.time.replace(second=0, microsecond=0, tzinfo=None)
    slot.theme = data.theme.strip()
    slot.content_kind = (data.content_kind or "").strip()
    slot.content = content
    slot.rotation_tag = rotation_tag
    slot.save()
    return slot


def template_slots(calendar: Calendar) -> list[WeeklySlot]:
    return list(WeeklySlot.select().where(WeeklySlot.calendar == calendar)
                .order_by(WeeklySlot.weekday, WeeklySlot.time, WeeklySlot.id))


def rotation_candidates(tag: str, kind: str = "") -> list[ContentItem]:
    """Approved content carrying `tag` (and of `kind` when given), in a stable order."""
    # A cheap pre-filter on the JSON text (the pattern must bypass JSONField's own encoding), then exact.
    pattern = Value(f"%{json.dumps(tag, ensure_ascii=False)}%", converter=str)
    query = ContentItem.select().where(ContentItem.status == "approved", ContentItem.tags ** pattern)
    if kind:
        query = query.where(ContentItem.kind == kind)
    return [item for item in query.order_by(ContentItem.id) if tag in (item.tags or [])]


def _rotation_pick(slot: WeeklySlot, day: dt.date, peers: list[WeeklySlot], candidates: list[ContentItem]):
    # Rotate by week, so an occurrence gets the same content whichever order weeks are applied in;
    # slots of one calendar sharing a tag take successive items, so a week does not repeat itself.
    if not candidates:
        return None
    week_number = day.toordinal() // 7
    return candidates[(week_number * len(peers) + peers.index(slot)) % len(candidates)]


@dataclass
class Applied:
    created: int
    existing: int
    entry_ids: list[int]


def apply_weekly_template(calendar: Calendar, start: dt.date, weeks: int = 1, user=None) -> Applied:
    """Create a draft entry for every slot occurrence in `weeks` weeks from `start`'s week.

    Occurrences that already have an entry (even one moved since) are left
    alone; the unique (calendar, slot, slot_date) index makes this hold under
    concurrent applies too.
    """
    if not 1 <= weeks <= 53:
        raise CalendarError(_("Apply the template to 1 to 53 weeks."))
    slots = template_slots(calendar)
    if not slots:
        raise CalendarError(_("The weekly template has no slots yet."))
    first = week_start(start)
    last = first + dt.timedelta(days=7 * weeks - 1)
    with database.atomic():
        existing = set(CalendarEntry.select(CalendarEntry.slot, CalendarEntry.slot_date)
                       .where(CalendarEntry.calendar == calendar, CalendarEntry.slot.in_([s.id for s in slots]),
                              CalendarEntry.slot_date.between(first, last)).tuples())
        peers_by_tag: dict[str, list[WeeklySlot]] = {}
        for slot in slots:
            if slot.rotation_tag:
                peers_by_tag.setdefault(slot.rotation_tag, []).append(slot)
        candidates = {tag: rotation_candidates(tag, peers[0].content_kind) for tag, peers in peers_by_tag.items()}
        now = utcnow()
        rows = []
        for week in range(weeks):
            for slot in slots:
                day = first + dt.timedelta(days=7 * week + slot.weekday)
                if (slot.id, day) in existing:
                    continue
                content = slot.content_id
                if slot.rotation_tag:
                    picked = _rotation_pick(slot, day, peers_by_tag[slot.rotation_tag], candidates[slot.rotation_tag])
                    content = picked.id if picked else None
                rows.append({
                    "calendar": calendar.id, "slot": slot.id, "slot_date": day, "content": content,
                    "content_kind": slot.content_kind, "theme": slot.theme, "status": "draft",
                    "send_at": local_to_utc(day, slot.time, calendar.timezone),
                    "created_by": getattr(user, "id", None), "created_at": now, "updated_at": now,
                })
        created_ids = []
        for row in rows:
            # One row at a time with ON CONFLICT DO NOTHING: a concurrent apply's row wins quietly.
            # SQLite answers an ignored insert with the previous insert's id, hence the check.
            new_id = CalendarEntry.insert(**row).on_conflict_ignore().execute()
            if new_id and CalendarEntry.select().where(CalendarEntry.calendar == calendar,
                                                       CalendarEntry.slot == row["slot"],
                                                       CalendarEntry.slot_date == row["slot_date"],
                                                       CalendarEntry.id == new_id).exists():
                created_ids.append(new_id)
    return Applied(created=len(created_ids), existing=len(slots) * weeks - len(created_ids), entry_ids=created_ids)


# ---------------------------------------------------------------- entries

STARTED = ("running", "paused", "completed")


def _content(content_id) -> ContentItem | None:
    if content_id in (None, "", 0):
        return None
    if isinstance(content_id, ContentItem):
        return content_id
    content = ContentItem.get_or_none(ContentItem.id == int(content_id)) if 0 < int(content_id) <= MAX_ID else None
    if content is None:
        raise CalendarError(_("There is no content item %(id)s."), id=content_id)
    return content


def has_started(entry: CalendarEntry) -> bool:
    """True once the entry's campaign has begun sending: it can no longer move or change."""
    return entry.campaign_id is not None and entry.campaign.status in STARTED


def create_entry(calendar: Calendar, *, day: dt.date, at: dt.time, theme: str = "", content=None,
                 content_kind: str = "", notes: str = "", user=None) -> CalendarEntry:
    """Add a one-off draft entry at wall-clock `at` on `day` in the calendar's zone."""
    content = _content(content)
    return CalendarEntry.create(
        calendar=calendar, send_at=local_to_utc(day, at, calendar.timezone), theme=theme.strip(),
        content=content, content_kind=content_kind or (content.kind if content else ""), notes=notes,
        created_by=user if getattr(user, "id", None) else None)


def edit_entry(entry: CalendarEntry, *, theme: str | None = None, notes: str | None = None) -> CalendarEntry:
    """Change an entry's theme or notes (allowed in every state: they are not sent)."""
    if theme is not None:
        entry.theme = theme.strip()
    if notes is not None:
        entry.notes = notes
    entry.updated_at = utcnow()
    entry.save()
    return entry


def assign_content(entry: CalendarEntry, content) -> CalendarEntry:
    """Give an entry its content (or none); a scheduled entry must be unscheduled first."""
    content = _content(content)
    if entry.status == "scheduled":
        raise CalendarError(_("This entry is scheduled; unschedule it before changing its content."))
    entry.content = content
    if content and not entry.content_kind:
        entry.content_kind = content.kind
    entry.updated_at = utcnow()
    entry.save()
    return entry


def delete_entry(entry: CalendarEntry) -> None:
    """Remove a draft entry (re-applying the template brings a template-born one back)."""
    if entry.status == "scheduled":
        raise CalendarError(_("This entry is scheduled; unschedule it before deleting it."))
    entry.delete_instance()


def parse_day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(_("%(value)s is not a date (YYYY-MM-DD)."), value=value) from None


def parse_time(value: str) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(_("%(value)s is not a time (HH:MM)."), value=value) from None
    return parsed.replace(second=0, microsecond=0, tzinfo=None)
