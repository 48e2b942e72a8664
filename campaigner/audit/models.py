"""The audit log: who did what to which object, and when."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.db import BaseModel, JSONField, utcnow


class AuditLog(BaseModel):
    at = peewee.DateTimeField(default=utcnow, index=True)
    user = peewee.ForeignKeyField(User, null=True, backref="audit", on_delete="SET NULL")
    action = peewee.CharField()  # created, changed, scheduled, paused, resumed, cancelled, ...
    object_type = peewee.CharField()
    object_id = peewee.CharField(null=True)
    summary = peewee.TextField(default="")
    details = JSONField(null=True)

    class Meta:
        indexes = ((("object_type", "object_id"), False),)


MODELS = [AuditLog]
