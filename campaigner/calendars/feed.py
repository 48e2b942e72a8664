"""A calendar's entries as an iCalendar (.ics) feed, for editors' own calendar apps.

The feed is public but addressed by a secret token kept on the calendar
(rotating it retires the old address). Events carry UTC times, so any client
shows them in its own zone; X-WR-TIMEZONE names the calendar's zone for
clients that like a hint.
"""
from __future__ import annotations

import datetime as dt
import hmac

import icalendar
from peewee import JOIN

from campaigner.calendars.models import Calendar, CalendarEntry
from campaigner.calendars.publishing import entry_statuses
from campaigner.content.models import ContentItem
from campaigner.db import utcnow

PAST, FUTURE = dt.timedelta(days=56), dt.timedelta(days=366)
EVENT_LENGTH = dt.timedelta(minutes=30)


def feed_token_matches(calendar: Calendar, token: str) -> bool:
    """Compare in constant time, so the token cannot be guessed a character at a time."""
    return bool(token) and hmac.compare_digest(calendar.feed_token.encode(), str(token).encode())


def build_feed(calendar: Calendar, base_url: str, now: dt.datetime | None = None) -> bytes:
    """The calendar's entries from 8 weeks ago to a year ahead as an RFC 5545 document."""
    now = now or utcnow()
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Campaigner//calendars//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar.name)
    cal.add("x-wr-timezone", calendar.timezone)
    rows = list(CalendarEntry.select(CalendarEntry, ContentItem)
                .join(ContentItem, on=(CalendarEntry.content == ContentItem.id), join_type=JOIN.LEFT_OUTER)
                .where(CalendarEntry.calendar == calendar, CalendarEntry.send_at >= now - PAST,
                       CalendarEntry.send_at < now + FUTURE)
                .order_by(CalendarEntry.send_at))
    statuses = entry_statuses((e.id, e.status, e.campaign_id) for e in rows)
    base = base_url.rstrip("/")
    for entry in rows:
        content = entry.content if entry.content_id else None
        start = entry.send_at.replace(tzinfo=dt.timezone.utc)
        event = icalendar.Event()
        event.add("uid", f"calendar-entry-{entry.id}@campaigner")
        event.add("dtstamp", now.replace(tzinfo=dt.timezone.utc))
        event.add("dtstart", start)
        event.add("dtend", start + EVENT_LENGTH)
        event.add("summary", " · ".join(p for p in (entry.theme, content.title if content else "") if p)
                  or calendar.name)
        status = statuses[entry.id]
        lines = [f"status: {status.replace('_', ' ')}", f"channel: {calendar.channel}"]
        if content:
            lines.append(f"content: {content.title} ({content.status})")
        if entry.notes:
            lines.append(entry.notes)
        event.add("description", "\n".join(lines))
        event.add("url", f"{base}/calendars/entries/{entry.id}")
        event.add("status", "CONFIRMED" if status != "draft" else "TENTATIVE")
        event.add("categories", [calendar.kind])
        cal.add_component(event)
    return cal.to_ical()
