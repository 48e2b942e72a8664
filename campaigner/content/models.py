"""Content items of the library (素材库 / 话术库)."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.db import BaseModel, JSONField, utcnow

KINDS = ("moments", "community", "script", "article", "sms", "welcome")
STATUSES = ("draft", "approved", "archived")


class ContentItem(BaseModel):
    title = peewee.CharField()
    slug = peewee.CharField(unique=True)
    kind = peewee.CharField(default="article")
    body = peewee.TextField(default="")  # Markdown
    tags = JSONField(default=list)
    status = peewee.CharField(default="draft", index=True)
    variants = JSONField(default=dict)  # channel name -> Markdown/text for that channel
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    updated_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    @property
    def is_sendable(self) -> bool:
        return self.status == "approved"

    def __str__(self) -> str:
        return self.title


MODELS = [ContentItem]
