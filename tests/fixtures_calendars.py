"""Fixtures for the calendar tests: a recording group-chat channel, group members, content, calendars."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from campaigner.db import database
from tests.fixtures_engine import RecordingChannel, _Plugin, run_campaign  # noqa: F401  (run_campaign re-exported)

CHANNEL = "groupchat"


@pytest.fixture
def group_chat(app):
    """A recording channel `groupchat` that reaches contacts by chat id, on the app's plugin manager."""
    channel = RecordingChannel(CHANNEL, contact_field="chat_id")
    channel.label = "Group chat (test)"
    plugins = app.extensions["campaigner"].plugins
    plugins.pm.register(_Plugin([channel]), name=f"test-groupchat-{uuid.uuid4().hex[:6]}")
    plugins._channels = None
    return channel


def make_members(group: str, n: int = 2, timezone: str | None = None, prefix: str = "Member") -> list[int]:
    """`n` contacts with a chat id, tagged with the group key `group`; return their ids."""
    from campaigner.audience.services import create_contact

    ids = []
    with database.connection_context():
        for i in range(n):
            tag = uuid.uuid4().hex[:6]
            contact = create_contact({"name": f"{prefix} {i} {tag}", "chat_id": f"wx-{tag}", "timezone": timezone},
                                     source="test", tags=[group])
            ids.append(contact.id)
    return ids


def make_content(title: str = "Coffee tips", status: str = "approved", kind: str = "community",
                 tags: list[str] | None = None) -> int:
    """A content item; approved by default."""
    from campaigner.content.models import ContentItem

    with database.connection_context():
        return ContentItem.create(title=title, slug=f"c-{uuid.uuid4().hex[:10]}", kind=kind, status=status,
                                  body=f"{title}: hello {{{{ name }}}}", tags=tags or []).id


def make_calendar(name: str = "Coffee fans", kind: str = "community", channel: str = CHANNEL,
                  groups=("group:coffee-1",), timezone: str = "Asia/Shanghai", audience: str = "",
                  min_gap_minutes: int = 120, slots=()):
    """A calendar with `slots` [(weekday, "HH:MM", theme, kwargs...)]; returns it."""
    from campaigner.calendars.services import CalendarData, SlotData, parse_time, save_calendar, save_slot

    with database.connection_context():
        calendar = save_calendar(CalendarData(name=name, kind=kind, channel=channel, audience=audience,
                                              groups=list(groups), timezone=timezone,
                                              min_gap_minutes=min_gap_minutes))
        for weekday, at, theme, *extra in slots:
            save_slot(calendar, SlotData(weekday=weekday, time=parse_time(at), theme=theme,
                                         **(extra[0] if extra else {})))
        return calendar


def next_monday(today: dt.date | None = None) -> dt.date:
    today = today or dt.date.today()
    return today + dt.timedelta(days=7 - today.weekday())


def entries_of(calendar_id: int) -> list:
    from campaigner.calendars.models import CalendarEntry

    with database.connection_context():
        return list(CalendarEntry.select().where(CalendarEntry.calendar == calendar_id)
                    .order_by(CalendarEntry.send_at, CalendarEntry.id))


def reload(model, row_id: int):
    with database.connection_context():
        return model.get_by_id(row_id)
