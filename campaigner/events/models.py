"""The core event record: things contacts did that rules and reports react to."""
from __future__ import annotations

import peewee

from campaigner.audience.models import Contact
from campaigner.db import BaseModel, JSONField, utcnow


class Event(BaseModel):
    """One thing a contact did: joined via a staff account, left, joined or left a group, replied, …"""

    kind = peewee.CharField()  # one of campaigner.events.EVENT_KINDS
    contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="CASCADE", index=False)
    at = peewee.DateTimeField(default=utcnow)
    source = peewee.CharField(default="")  # where we learnt it: wecom:main, sms, links, api …
    staff = peewee.CharField(null=True)  # the WeCom userid involved, if any
    group = peewee.CharField(null=True)  # the WeCom chat_id involved, if any
    details = JSONField(null=True)

    class Meta:
        table_name = "contact_activity"
        indexes = ((("contact", "at"), False), (("kind", "at"), False), (("group", "at"), False))


MODELS = [Event]
