"""Conflicts a planner should see before they become complaints.

- Too close: two touches to the same audience closer together than the
  calendar's minimum gap (across calendars, and against campaigns scheduled
  outside any calendar).
- No content: an entry due within 24 hours that still has no approved content.

Audiences are compared by their effective expression with whitespace and
letter case normalised: the same words mean the same people. Touches on
different channels still count, since they reach the same person.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from peewee import JOIN

from campaigner.calendars.models import Calendar, CalendarEntry
from campaigner.calendars.services import _, effective_audience
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import utcnow

CONTENT_DEADLINE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Conflict:
    kind: str  # too_close | no_content
    entry_id: int
    message: str  # English with %(name)s fields; the views translate it
    params: tuple = ()
    other_entry_id: int | None = None
    other_campaign_id: int | None = None

    @property
    def values(self) -> dict:
        return dict(self.params)


def audience_key(expression: str) -> str:
    return re.sub(r"\s+", " ", expression or "").strip().lower()


def find_conflicts(start: dt.datetime, end: dt.datetime, calendar_ids=None, now: dt.datetime | None = None,
                   ) -> dict[int, list[Conflict]]:
    """Entry id -> its conflicts, for entries sending in UTC [start, end) (of `calendar_ids`, else all)."""
    now = now or utcnow()
    calendars = {c.id: c for c in Calendar.select()}
    if not calendars:
        return {}
    keys = {cid: audience_key(effective_audience(c)) for cid, c in calendars.items()}
    widest = dt.timedelta(minutes=max(c.min_gap_minutes for c in calendars.values()))
    wanted = set(calendar_ids) if calendar_ids is not None else set(calendars)

    # Neighbours outside the window (or in other calendars) still collide with entries inside it.
    rows = list(CalendarEntry.select(CalendarEntry.id, CalendarEntry.calendar, CalendarEntry.send_at,
                                     CalendarEntry.campaign, CalendarEntry.content, ContentItem.status)
                .join(ContentItem, on=(CalendarEntry.content == ContentItem.id), join_type=JOIN.LEFT_OUTER)
                .where(CalendarEntry.send_at >= start - widest, CalendarEntry.send_at < end + widest)
                .tuples())
    linked = {campaign_id for _id, _cal, _at, campaign_id, _c, _s in rows if campaign_id}
    touches = [(keys[cal], at, entry_id, None, calendars[cal].min_gap_minutes)
               for entry_id, cal, at, _campaign, _content, _status in rows]
    outside = (Campaign.select(Campaign.id, Campaign.audience, Campaign.send_at)
               .where(Campaign.send_at >= start - widest, Campaign.send_at < end + widest,
                      Campaign.status.not_in(["cancelled", "draft"])).tuples())
    touches += [(audience_key(audience), at, None, cid, 0) for cid, audience, at in outside if cid not in linked]

    found: dict[int, list[Conflict]] = {}

    def add(conflict: Conflict) -> None:
        found.setdefault(conflict.entry_id, []).append(conflict)

    touches.sort(key=lambda t: (t[0], t[1]))
    for (key_a, at_a, entry_a, campaign_a, gap_a), (key_b, at_b, entry_b, campaign_b, gap_b) in zip(touches, touches[1:]):
        if key_a != key_b:
            continue
        gap = dt.timedelta(minutes=max(gap_a, gap_b))
        if at_b - at_a >= gap:
            continue
        minutes = int((at_b - at_a).total_seconds() // 60)
        message = _("%(minutes)s min from another touch to the same audience (minimum %(gap)s min).")
        params = (("minutes", minutes), ("gap", int(gap.total_seconds() // 60)))
        if entry_a:
            add(Conflict("too_close", entry_a, message, params, other_entry_id=entry_b, other_campaign_id=campaign_b))
        if entry_b:
            add(Conflict("too_close", entry_b, message, params, other_entry_id=entry_a, other_campaign_id=campaign_a))

    for entry_id, cal, at, campaign_id, content_id, content_status in rows:
        if start <= at < end and now < at <= now + CONTENT_DEADLINE and content_status != "approved":
            message = (_("Due within 24 hours and has no content.") if content_id is None
                       else _("Due within 24 hours and its content is not approved."))
            add(Conflict("no_content", entry_id, message))

    shown = {entry_id for entry_id, cal, at, *_rest in rows if cal in wanted and start <= at < end}
    return {entry_id: items for entry_id, items in found.items() if entry_id in shown}
