"""Weekly moments (朋友圈) and community (社群) calendars and their entries."""
from __future__ import annotations

import peewee

from campaigner.content.models import ContentItem
from campaigner.db import BaseModel, JSONField, utcnow

KINDS = ("moments", "community")


class Calendar(BaseModel):
    name = peewee.CharField()
    kind = peewee.CharField(default="moments")
    channel = peewee.CharField(default="chat")
    audience = peewee.TextField(default="")
    timezone = peewee.CharField(default="Asia/Shanghai")
    settings = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)


class CalendarEntry(BaseModel):
    calendar = peewee.ForeignKeyField(Calendar, backref="entries", on_delete="CASCADE")
    content = peewee.ForeignKeyField(ContentItem, null=True, backref="+", on_delete="SET NULL")
    send_at = peewee.DateTimeField(index=True)  # UTC
    theme = peewee.CharField(default="")
    status = peewee.CharField(default="draft", index=True)
    created_at = peewee.DateTimeField(default=utcnow)


MODELS = [Calendar, CalendarEntry]
