"""The week (7 days × hours) and month grids the calendar pages draw, built in a few queries.

A week view can hold thousands of entries, so rows come back as tuples, the
display status of all of them comes from two grouped queries, and the
conflicts from one pass over the sorted touches.
"""
from __future__ import annotations

import calendar as pycalendar
import datetime as dt
from dataclasses import dataclass, field

from campaigner.calendars.conflicts import (
    Conflict, audience_keys, entry_rows, find_conflicts, planning_calendars, sharing_audience, widest_gap,
)
from campaigner.calendars.models import Calendar
from campaigner.calendars.publishing import entry_statuses
from campaigner.calendars.services import local_to_utc, week_start, zone

FIRST_HOUR, LAST_HOUR = 7, 22  # always shown; earlier or later hours appear when they hold entries


@dataclass(slots=True)
class EntryView:
    id: int
    calendar_id: int
    calendar_name: str
    local: dt.datetime
    theme: str
    content_title: str | None
    content_status: str | None
    status: str
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def time_label(self) -> str:
        return f"{self.local.hour:02d}:{self.local.minute:02d}"


@dataclass
class WeekGrid:
    monday: dt.date
    tz: str
    days: list[dt.date]
    hours: list[int]
    cells: dict[tuple[int, int], list[EntryView]]
    entries: list[EntryView]
    conflicts: list[EntryView]

    @property
    def previous(self) -> dt.date:
        return self.monday - dt.timedelta(days=7)

    @property
    def next(self) -> dt.date:
        return self.monday + dt.timedelta(days=7)


def _entry_views(calendars: list[Calendar], start: dt.datetime, end: dt.datetime, tz: str,
                 now: dt.datetime | None, everyone: dict | None) -> list[EntryView]:
    by_id = {c.id: c for c in calendars}
    if not by_id:
        return []
    everyone = everyone if everyone is not None else planning_calendars()
    keys = audience_keys(everyone.values())
    # One query serves both the grid and the conflict check, which also needs the neighbours just
    # outside the week and the entries of other calendars reaching the same audience.
    widest = widest_gap(everyone.values())
    around = entry_rows(start - widest, end + widest, sharing_audience(by_id, keys))
    conflicts = find_conflicts(start, end, list(by_id), now=now, rows=around, calendars=everyone, keys=keys)
    rows = [row for row in around if row[1] in by_id and start <= row[2] < end]
    statuses = entry_statuses((row[0], row[7], row[3], row[9]) for row in rows)
    tzinfo = zone(tz)
    utc = dt.timezone.utc
    return [EntryView(entry_id, cal, by_id[cal].name, at.replace(tzinfo=utc).astimezone(tzinfo).replace(tzinfo=None),
                      theme, title, content_status, statuses[entry_id], conflicts.get(entry_id, []))
            for entry_id, cal, at, _campaign, _content, content_status, theme, _status, title, _cstatus in rows]


def week_grid(calendars: list[Calendar], day: dt.date, tz: str, now: dt.datetime | None = None,
              everyone: dict | None = None) -> WeekGrid:
    """The week holding `day`, in zone `tz`, for `calendars` (`everyone`: all calendars, when already loaded)."""
    monday = week_start(day)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    start, end = local_to_utc(monday, dt.time(0), tz), local_to_utc(monday + dt.timedelta(days=7), dt.time(0), tz)
    entries = _entry_views(calendars, start, end, tz, now, everyone)
    cells: dict[tuple[int, int], list[EntryView]] = {}
    for entry in entries:
        cells.setdefault(((entry.local.date() - monday).days, entry.local.hour), []).append(entry)
    used = [hour for _day, hour in cells]
    hours = list(range(min([FIRST_HOUR, *used]), max([LAST_HOUR, *used]) + 1))
    return WeekGrid(monday, tz, days, hours, cells, entries, [e for e in entries if e.conflicts])


@dataclass
class MonthGrid:
    first: dt.date
    tz: str
    weeks: list[list[dt.date]]
    by_day: dict[dt.date, list[EntryView]]

    @property
    def previous(self) -> dt.date:
        return (self.first - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        return (self.first + dt.timedelta(days=32)).replace(day=1)


def month_grid(calendars: list[Calendar], day: dt.date, tz: str, now: dt.datetime | None = None,
               everyone: dict | None = None) -> MonthGrid:
    """The month holding `day` as whole weeks (Monday first), each day with its entries."""
    first = day.replace(day=1)
    weeks = pycalendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    start = local_to_utc(weeks[0][0], dt.time(0), tz)
    end = local_to_utc(weeks[-1][-1] + dt.timedelta(days=1), dt.time(0), tz)
    by_day: dict[dt.date, list[EntryView]] = {}
    for entry in _entry_views(calendars, start, end, tz, now, everyone):
        by_day.setdefault(entry.local.date(), []).append(entry)
    return MonthGrid(first, tz, weeks, by_day)

