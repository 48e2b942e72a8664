"""Campaigns (群发): one content item to a tag-chosen audience, at a time."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.audience.models import Segment
from campaigner.content.models import ContentItem
from campaigner.db import BaseModel, JSONField, utcnow

# draft -> scheduled -> running -> completed; paused and cancelled at any point before completed.
STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
ACTIVE_STATUSES = ("scheduled", "running", "paused")


class Campaign(BaseModel):
    """One content item to an audience, on channels in fallback order, at a time or on a cron."""

    name = peewee.CharField()
    content = peewee.ForeignKeyField(ContentItem, backref="campaigns", on_delete="RESTRICT")
    channels = JSONField(default=list)  # fallback order: ["chat", "sms"]
    audience = peewee.TextField(default="")  # an audience expression ("" = everyone) ...
    segment = peewee.ForeignKeyField(Segment, null=True, backref="campaigns", on_delete="SET NULL")  # ... or a saved one
    send_at = peewee.DateTimeField(null=True, index=True)  # UTC; None: not scheduled
    timezone = peewee.CharField(null=True)
    cron = peewee.CharField(null=True)  # recurring schedule, in `timezone`
    throttle_per_minute = peewee.IntegerField(null=True)
    caps = JSONField(null=True)  # overrides of the frequency caps: {"day": 1, "week": 3}
    quiet_hours = JSONField(null=True)  # overrides of the quiet hours: {"start": "21:00", "end": "09:00"} or {"enabled": false}
    status = peewee.CharField(default="draft", index=True)
    status_reason = peewee.TextField(default="")  # why it paused itself, etc.
    link_expiry_days = peewee.IntegerField(null=True)  # its short links expire after this; None: 30
    origin = peewee.CharField(null=True, index=True)  # who made it: "calendar_entry:42", "api", ...
    # A recurring campaign is a template: each time its cron fires it starts a run,
    # a campaign of its own with `parent` set, so every run has its own deliveries.
    parent = peewee.ForeignKeyField("self", null=True, backref="runs", on_delete="CASCADE")
    targeted = peewee.IntegerField(null=True)  # audience size at fan-out
    consecutive_errors = peewee.IntegerField(default=0)
    started_at = peewee.DateTimeField(null=True)
    fanned_out_at = peewee.DateTimeField(null=True)  # deliveries written (one transaction)
    pumped_at = peewee.DateTimeField(null=True)  # last batch sent: the sweeper revives stale campaigns
    completed_at = peewee.DateTimeField(null=True)
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    @property
    def is_recurring(self) -> bool:
        return bool(self.cron) and self.parent_id is None

    def __str__(self) -> str:
        return self.name


MODELS = [Campaign]
