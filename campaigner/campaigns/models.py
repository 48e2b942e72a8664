"""Campaigns (群发): one content item to a tag-chosen audience, at a time."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.content.models import ContentItem
from campaigner.db import BaseModel, JSONField, utcnow

STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")


class Campaign(BaseModel):
    name = peewee.CharField()
    content = peewee.ForeignKeyField(ContentItem, backref="campaigns", on_delete="RESTRICT")
    channels = JSONField(default=list)  # fallback order: ["chat", "sms"]
    audience = peewee.TextField(default="")  # an audience expression
    send_at = peewee.DateTimeField(null=True, index=True)  # UTC; None: not scheduled
    timezone = peewee.CharField(null=True)
    cron = peewee.CharField(null=True)  # recurring schedule, in `timezone`
    throttle_per_minute = peewee.IntegerField(null=True)
    caps = JSONField(null=True)  # overrides of the frequency caps
    quiet_hours = JSONField(null=True)  # overrides of the quiet hours
    status = peewee.CharField(default="draft", index=True)
    status_reason = peewee.TextField(default="")  # why it paused itself, etc.
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def __str__(self) -> str:
        return self.name


MODELS = [Campaign]
