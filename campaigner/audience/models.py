"""Contacts, tag groups, tags and per-channel opt-outs."""
from __future__ import annotations

import peewee

from campaigner.db import BaseModel, JSONField, utcnow


class Contact(BaseModel):
    external_id = peewee.CharField(null=True, unique=True)
    name = peewee.CharField(default="")
    email = peewee.CharField(null=True, index=True)
    phone = peewee.CharField(null=True, index=True)  # E.164
    chat_id = peewee.CharField(null=True, index=True)
    openid = peewee.CharField(null=True, index=True)
    timezone = peewee.CharField(null=True)  # None: the instance's TIMEZONE
    attributes = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def __str__(self) -> str:
        return self.name or self.external_id or self.email or self.phone or f"#{self.id}"


class TagGroup(BaseModel):
    name = peewee.CharField(unique=True)  # 渠道, level, interest, rfm, ...
    description = peewee.TextField(default="")


class Tag(BaseModel):
    """A label; `key` is "group:name" (or just "name" outside a group) and is what expressions name."""

    group = peewee.ForeignKeyField(TagGroup, null=True, backref="tags", on_delete="CASCADE")
    name = peewee.CharField()
    key = peewee.CharField(unique=True)


class ContactTag(BaseModel):
    # Primary key (tag, contact): audience queries start from a tag and join on
    # contact, so this order is the index they need; the second index serves
    # "which tags does this contact have".
    tag = peewee.ForeignKeyField(Tag, on_delete="CASCADE")
    contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
    added_at = peewee.DateTimeField(default=utcnow)
    source = peewee.CharField(default="")

    class Meta:
        primary_key = peewee.CompositeKey("tag", "contact")
        indexes = ((("contact", "tag"), False),)


class OptOut(BaseModel):
    """A contact opted out of one channel; `source` says how (unsubscribe link, import, API, ...)."""

    contact = peewee.ForeignKeyField(Contact, backref="opt_outs", on_delete="CASCADE")
    channel = peewee.CharField()
    at = peewee.DateTimeField(default=utcnow)
    source = peewee.CharField(default="")

    class Meta:
        indexes = ((("contact", "channel"), True), (("channel", "contact"), False))


MODELS = [Contact, TagGroup, Tag, ContactTag, OptOut]
