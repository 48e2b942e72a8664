"""Contacts, tag groups, tags, per-channel opt-outs, segments, orders, the contact timeline and imports."""
from __future__ import annotations

import decimal

import peewee

from campaigner.accounts.models import User
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
    created_at = peewee.DateTimeField(default=utcnow, index=True)  # the join: cohorts and growth read by it
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
    # How many contacts carry it, refreshed after bulk changes and periodically. Only
    # the audience compiler's join order reads it (rarest first), so a stale value
    # costs speed, never correctness.
    size = peewee.IntegerField(default=0)
    description = peewee.TextField(default="")

    def __str__(self) -> str:
        return self.key


class ContactTag(BaseModel):
    # Primary key (tag, contact): audience queries start from a tag and join on
    # contact, so this order is the index they need; the second index serves
    # "which tags does this contact have".
    # No index of their own on the foreign keys: the two composite indexes cover both.
    tag = peewee.ForeignKeyField(Tag, on_delete="CASCADE", index=False)
    contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE", index=False)
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


class Segment(BaseModel):
    """A saved audience expression, optionally for one channel (reachability and opt-outs applied)."""

    name = peewee.CharField(unique=True)
    expression = peewee.TextField(default="")
    channel = peewee.CharField(null=True)
    description = peewee.TextField(default="")
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def __str__(self) -> str:
        return self.name


class AmountField(peewee.DecimalField):
    """A money amount: Decimal with two places on both backends (SQLite hands back 88 for 88.00)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=2, **kwargs)

    def python_value(self, value):
        value = super().python_value(value)
        return None if value is None else value.quantize(decimal.Decimal("0.01"))


class Order(BaseModel):
    """An order (or any paid event) of a contact: what RFM classes and super users are computed from."""

    contact = peewee.ForeignKeyField(Contact, backref="orders", on_delete="CASCADE")
    amount = AmountField()
    occurred_at = peewee.DateTimeField(index=True)  # UTC
    external_id = peewee.CharField(null=True, unique=True)
    source = peewee.CharField(default="")  # api, import, a short link's code, ...
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "orders"
        indexes = (
            (("contact", "occurred_at"), False),
            # A week's buyers, orders and revenue read from the index alone (reports.kpis, the weekly review).
            (("occurred_at", "contact", "amount"), False),
        )


class ContactEvent(BaseModel):
    """One line of a contact's timeline that no other table records (tags, opt-outs, imports, RFM)."""

    contact = peewee.ForeignKeyField(Contact, backref="events", on_delete="CASCADE")
    at = peewee.DateTimeField(default=utcnow)
    kind = peewee.CharField()  # tag_added, tag_removed, opted_out, opted_in, created, imported, updated
    summary = peewee.TextField(default="")
    details = JSONField(null=True)

    class Meta:
        indexes = ((("contact", "at"), False),)


class ImportJob(BaseModel):
    """A CSV import (contacts or orders): its file, column mapping, outcome and per-row errors."""

    kind = peewee.CharField(default="contacts")  # contacts, orders
    filename = peewee.CharField(default="")
    path = peewee.CharField(default="")  # the uploaded file in the instance folder
    encoding = peewee.CharField(default="")
    mapping = JSONField(default=dict)  # column header -> target field
    skip_bad_rows = peewee.BooleanField(default=False)
    # uploaded (to map; also a rejected run, which keeps its errors), queued, running, done, failed
    # (nothing written; `message` says why). The worker's run goes queued -> running -> done/uploaded/failed.
    status = peewee.CharField(default="uploaded")
    total_rows = peewee.IntegerField(default=0)
    created = peewee.IntegerField(default=0)
    updated = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    errors = JSONField(default=list)  # [{"row": n, "field": f, "reason": r}]
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)
    processed_rows = peewee.IntegerField(default=0)  # rows read so far by the running import
    # The last sign of life of the worker running it (queued: when it was queued). The sweeper fails a
    # running job that shows none for a while, and enqueues a queued one again.
    heartbeat_at = peewee.DateTimeField(null=True)
    claim = peewee.CharField(default="")  # the token of the run that holds the job; a run that lost it writes nothing
    message = peewee.TextField(default="")  # why it failed
    # Notes about rows that were kept: a value left out, a possible but unlisted phone, a row merged into a contact.
    warnings = JSONField(default=list)
    written_rows = peewee.IntegerField(default=0)  # rows merged into the contacts when the import finished
    strict = peewee.BooleanField(default=False)  # refuse a row with any bad value instead of leaving the value out


MODELS = [Contact, TagGroup, Tag, ContactTag, OptOut, Segment, Order, ContactEvent, ImportJob]
