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
from operator import itemgetter
from typing import NamedTuple

from peewee import JOIN

from campaigner.audience.models import Segment
from campaigner.calendars.models import Calendar, CalendarEntry
from campaigner.calendars.services import _, effective_audience
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import database, utcnow

CONTENT_DEADLINE = dt.timedelta(hours=24)


class Conflict(NamedTuple):
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


def planning_calendars() -> dict[int, Calendar]:
    """Every calendar with just what planning reads (a week view loads them on each request)."""
    return {c.id: c for c in Calendar.select(Calendar.id, Calendar.name, Calendar.kind, Calendar.channel,
                                             Calendar.audience, Calendar.segment, Calendar.groups,
                                             Calendar.timezone, Calendar.min_gap_minutes)}


def audience_keys(calendars) -> dict[int, str]:
    """Calendar id -> its normalised effective audience (saved segments read in one query)."""
    calendars = list(calendars)
    segment_ids = {c.segment_id for c in calendars if c.segment_id and not c.audience.strip()}
    expressions = dict(Segment.select(Segment.id, Segment.expression).where(Segment.id.in_(list(segment_ids)))
                       .tuples()) if segment_ids else {}
    return {c.id: audience_key(effective_audience(c, expressions.get(c.segment_id, ""))) for c in calendars}


# The columns `entry_rows` returns, in order; the week grid reads the same rows.
ROW = ("id", "calendar", "send_at", "campaign", "content", "content_status", "theme", "status", "content_title",
       "campaign_status")




def entry_rows(start: dt.datetime, end: dt.datetime, calendar_ids=None) -> list[tuple]:
    """Entries (of `calendar_ids`, else every calendar's) sending in UTC [start, end) as `ROW` tuples, by time.

    Read through the raw cursor: a week view holds thousands of rows, and
    peewee's per-field conversion would cost more than the query itself.
    """
    query = (CalendarEntry.select(CalendarEntry.id, CalendarEntry.calendar, CalendarEntry.send_at,
                                  CalendarEntry.campaign, CalendarEntry.content, ContentItem.status,
                                  CalendarEntry.theme, CalendarEntry.status, ContentItem.title, Campaign.status)
             .join(ContentItem, on=(CalendarEntry.content == ContentItem.id), join_type=JOIN.LEFT_OUTER)
             .switch(CalendarEntry)
             .join(Campaign, on=(CalendarEntry.campaign == Campaign.id), join_type=JOIN.LEFT_OUTER)
             .where(CalendarEntry.send_at >= start, CalendarEntry.send_at < end)
             .order_by(CalendarEntry.send_at, CalendarEntry.id))
    if calendar_ids is not None:
        query = query.where(CalendarEntry.calendar.in_(list(calendar_ids)))
    rows = database.execute(query).fetchall()
    if rows and isinstance(rows[0][2], dt.datetime):  # PostgreSQL's driver already made datetimes
        return [tuple(row) for row in rows]
    parse = dt.datetime.fromisoformat  # SQLite keeps them as ISO text
    return [(row[0], row[1], parse(row[2]), *row[3:]) for row in rows]


def widest_gap(calendars) -> dt.timedelta:
    """How far outside a window an entry can still collide with one inside it."""
    return dt.timedelta(minutes=max([c.min_gap_minutes for c in calendars] or [0]))


def sharing_audience(calendar_ids, keys: dict[int, str]) -> list[int] | None:
    """The calendars whose audience is one of `calendar_ids`' (None: all of them, so no filter is needed)."""
    wanted_keys = {keys[cid] for cid in calendar_ids if cid in keys}
    sharing = [cid for cid, key in keys.items() if key in wanted_keys]
    return None if len(sharing) == len(keys) else sharing


def find_conflicts(start: dt.datetime, end: dt.datetime, calendar_ids=None, now: dt.datetime | None = None,
                   rows: list[tuple] | None = None, calendars: dict | None = None,
                   keys: dict | None = None) -> dict[int, list[Conflict]]:
    """Entry id -> its conflicts, for entries sending in UTC [start, end) (of `calendar_ids`, else all).

    Callers that already hold them pass `calendars` (`planning_calendars`),
    their `keys` (`audience_keys`) and `rows` (`entry_rows` over the window
    widened by `widest_gap`, of every calendar sharing an audience with the
    wanted ones) to save the queries.
    """
    now = now or utcnow()
    calendars = calendars if calendars is not None else planning_calendars()
    if not calendars:
        return {}
    keys = keys if keys is not None else audience_keys(calendars.values())
    gaps = {cid: c.min_gap_minutes for cid, c in calendars.items()}
    widest = widest_gap(calendars.values())
    wanted = set(calendar_ids) if calendar_ids is not None else set(calendars)

    # Neighbours outside the window (or in other calendars) still collide with entries inside it.
    if rows is None:
        rows = entry_rows(start - widest, end + widest, sharing_audience(wanted, keys))
    linked = {row[3] for row in rows if row[3]}
    touches = [(keys[row[1]], row[2], row[0], None, gaps[row[1]]) for row in rows]
    outside = (Campaign.select(Campaign.id, Campaign.audience, Campaign.send_at)
               .where(Campaign.send_at >= start - widest, Campaign.send_at < end + widest,
                      Campaign.status.not_in(["cancelled", "draft"]), Campaign.origin.is_null(True)
                      | ~Campaign.origin.startswith("calendar_entry:")).tuples())
    touches += [(audience_key(audience), at, None, cid, 0) for cid, audience, at in outside if cid not in linked]

    found: dict[int, list[Conflict]] = {}

    def add(conflict: Conflict) -> None:
        found.setdefault(conflict.entry_id, []).append(conflict)

    touches.sort(key=itemgetter(0, 1))
    message = _("%(minutes)s min from another touch to the same audience (minimum %(gap)s min).")
    for (key_a, at_a, entry_a, campaign_a, gap_a), (key_b, at_b, entry_b, campaign_b, gap_b) in zip(touches, touches[1:]):
        if key_a != key_b:
            continue
        gap = max(gap_a, gap_b)
        if at_b - at_a >= dt.timedelta(minutes=gap):
            continue
        params = (("minutes", int((at_b - at_a).total_seconds() // 60)), ("gap", gap))
        if entry_a:
            add(Conflict("too_close", entry_a, message, params, other_entry_id=entry_b, other_campaign_id=campaign_b))
        if entry_b:
            add(Conflict("too_close", entry_b, message, params, other_entry_id=entry_a, other_campaign_id=campaign_a))

    deadline = now + CONTENT_DEADLINE
    for entry_id, _cal, at, _campaign, content_id, content_status, *_rest in rows:
        if start <= at < end and now < at <= deadline and content_status != "approved":
            add(Conflict("no_content", entry_id, _("Due within 24 hours and has no content.") if content_id is None
                         else _("Due within 24 hours and its content is not approved.")))

    shown = {row[0] for row in rows if row[1] in wanted and start <= row[2] < end}
    return {entry_id: items for entry_id, items in found.items() if entry_id in shown}
