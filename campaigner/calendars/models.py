"""Weekly moments (朋友圈) and community (社群) calendars, their weekly templates and entries."""
from __future__ import annotations

import secrets

import peewee

from campaigner.accounts.models import User
from campaigner.audience.models import Segment
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import BaseModel, JSONField, utcnow

KINDS = ("moments", "community")
WEEKDAYS = range(7)  # 0 = Monday, as datetime.date.weekday()
ENTRY_STATUSES = ("draft", "scheduled")  # stored; sent / partly failed / failed come from the campaign
DEFAULT_MIN_GAP_MINUTES = 120


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


class Calendar(BaseModel):
    name = peewee.CharField()
    kind = peewee.CharField(default="moments")
    channel = peewee.CharField(default="chat")
    # Who is reached: an audience expression, or a saved segment (its expression is read when
    # publishing); for a community calendar `groups` lists the tag keys of the chat groups it posts to.
    audience = peewee.TextField(default="")
    segment = peewee.ForeignKeyField(Segment, null=True, on_delete="SET NULL", backref="+")
    groups = JSONField(default=list)
    timezone = peewee.CharField(default="Asia/Shanghai")
    # Two touches to the same audience closer than this are flagged as a conflict.
    min_gap_minutes = peewee.IntegerField(default=DEFAULT_MIN_GAP_MINUTES)
    feed_token = peewee.CharField(default=new_feed_token)
    settings = JSONField(default=dict)
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def __str__(self) -> str:
        return self.name


class WeeklySlot(BaseModel):
    """One line of a calendar's weekly template: every <weekday> at <time>, this theme and content."""

    calendar = peewee.ForeignKeyField(Calendar, backref="slots", on_delete="CASCADE")
    weekday = peewee.SmallIntegerField()  # 0 = Monday
    time = peewee.TimeField()  # wall-clock time in the calendar's time zone
    theme = peewee.CharField(default="")
    content_kind = peewee.CharField(default="")
    # Either fixed content, or a rotation through the approved content carrying `rotation_tag`.
    content = peewee.ForeignKeyField(ContentItem, null=True, on_delete="SET NULL", backref="+")
    rotation_tag = peewee.CharField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("calendar", "weekday", "time"), False),)


class CalendarEntry(BaseModel):
    calendar = peewee.ForeignKeyField(Calendar, backref="entries", on_delete="CASCADE")
    # Born from a template slot on `slot_date` (the slot's local date, kept when the entry moves):
    # (calendar, slot, slot_date) is unique, so applying a template twice creates nothing new.
    slot = peewee.ForeignKeyField(WeeklySlot, null=True, backref="entries", on_delete="SET NULL")
    slot_date = peewee.DateField(null=True)
    content = peewee.ForeignKeyField(ContentItem, null=True, backref="+", on_delete="SET NULL")
    content_kind = peewee.CharField(default="")
    send_at = peewee.DateTimeField(index=True)  # UTC
    theme = peewee.CharField(default="")
    notes = peewee.TextField(default="")
    status = peewee.CharField(default="draft", index=True)  # draft | scheduled
    campaign = peewee.ForeignKeyField(Campaign, null=True, backref="+", on_delete="SET NULL")
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("calendar", "slot", "slot_date"), True),
            (("calendar", "send_at"), False),
        )


MODELS = [Calendar, WeeklySlot, CalendarEntry]
