"""Deliveries: one row per (source, contact, channel), the record of every message."""
from __future__ import annotations

import peewee

from campaigner.audience.models import Contact
from campaigner.db import BaseModel, utcnow

# queued -> sending -> sent | failed | unknown; skipped and deferred are decided at send time.
STATUSES = ("queued", "sending", "sent", "failed", "skipped", "deferred", "unknown", "cancelled")
FINAL_STATUSES = ("sent", "failed", "skipped", "unknown", "cancelled")


class Delivery(BaseModel):
    source_type = peewee.CharField()  # "campaign", "calendar_entry", "test", ...
    source_id = peewee.IntegerField()
    contact = peewee.ForeignKeyField(Contact, backref="deliveries", on_delete="CASCADE")
    channel = peewee.CharField()
    status = peewee.CharField(default="queued")
    reason = peewee.CharField(default="")  # why skipped/deferred: opted_out, capped, quiet_hours, ...
    attempts = peewee.IntegerField(default=0)
    idempotency_key = peewee.CharField(unique=True)
    provider_id = peewee.CharField(null=True)
    error = peewee.TextField(null=True)
    send_after = peewee.DateTimeField(default=utcnow)  # UTC; not before this
    lease_until = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("source_type", "source_id", "contact", "channel"), True),
            (("status", "send_after"), False),
            (("source_type", "source_id", "status"), False),
        )


MODELS = [Delivery]
