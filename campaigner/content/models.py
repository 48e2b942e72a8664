"""Content items of the library (素材库 / 话术库), their saved versions and their images."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.db import BaseModel, JSONField, utcnow

KINDS = ("moments", "community", "script", "article", "sms", "welcome")
STATUSES = ("draft", "approved", "archived")


class ContentItem(BaseModel):
    title = peewee.CharField()
    slug = peewee.CharField(unique=True)
    kind = peewee.CharField(default="article", index=True)
    body = peewee.TextField(default="")  # Markdown
    tags = JSONField(default=list)
    status = peewee.CharField(default="draft", index=True)
    variants = JSONField(default=dict)  # channel name -> Markdown/text for that channel
    # What a message with a subject line (email) says there; empty: the title. Personalisable.
    subject = peewee.CharField(default="")
    subjects = JSONField(default=dict)  # channel name -> that channel's own subject (the email variant's)
    # The number of the latest ContentVersion; a save names the version it started from,
    # so two editors saving the same item cannot silently overwrite each other.
    version = peewee.IntegerField(default=0)
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    updated_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow, index=True)

    @property
    def is_sendable(self) -> bool:
        return self.status == "approved"

    def __str__(self) -> str:
        return self.title


class ContentVersion(BaseModel):
    """What an item looked like after one save: who saved it, when, and every edited field."""

    content = peewee.ForeignKeyField(ContentItem, backref="versions", on_delete="CASCADE")
    number = peewee.IntegerField()
    title = peewee.CharField()
    kind = peewee.CharField()
    body = peewee.TextField(default="")
    tags = JSONField(default=list)
    variants = JSONField(default=dict)
    subject = peewee.CharField(default="")
    subjects = JSONField(default=dict)
    saved_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    saved_at = peewee.DateTimeField(default=utcnow)
    note = peewee.CharField(default="")  # "created", "edited", "imported", "restored version 3"

    class Meta:
        indexes = ((("content", "number"), True),)


class Media(BaseModel):
    """An uploaded image, stored as ``<instance>/media/<filename>`` and served at a signed public address."""

    filename = peewee.CharField(unique=True)  # content hash + the extension of the detected format
    original_name = peewee.CharField(default="")
    mime = peewee.CharField()
    size = peewee.IntegerField()
    width = peewee.IntegerField()
    height = peewee.IntegerField()
    content = peewee.ForeignKeyField(ContentItem, null=True, backref="media", on_delete="SET NULL")
    uploaded_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    uploaded_at = peewee.DateTimeField(default=utcnow)


MODELS = [ContentItem, ContentVersion, Media]
