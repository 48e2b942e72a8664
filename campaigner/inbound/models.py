"""The inbound ledger: every callback a provider sent us, stored before it was acknowledged."""
from __future__ import annotations

import peewee

from campaigner.db import BaseModel, JSONField, utcnow

# pending -> processing (claimed by a worker, with a lease) -> done | failed; a failure before the
# last attempt goes back to pending with `due_at` later; a lease that ran out (a killed worker) is
# pending again at the next sweep. Ops can retry a failed row.
STATUSES = ("pending", "processing", "done", "failed")


class InboundEvent(BaseModel):
    """One event a provider told us about: what, from where, and what became of it."""

    provider = peewee.CharField()  # the receiver's name: wecom, sms, a plugin's
    account = peewee.CharField(default="")  # which of the provider's accounts (a WeCom corp) it came to
    kind = peewee.CharField()  # e.g. add_external_contact, change_external_chat:update, receipt, reply
    # What makes two deliveries of the same event the same: a provider's retry is stored once.
    dedupe_key = peewee.CharField()
    payload = JSONField(default=dict)
    received_at = peewee.DateTimeField(default=utcnow)
    status = peewee.CharField(default="pending")
    attempts = peewee.IntegerField(default=0)
    error = peewee.TextField(default="")
    due_at = peewee.DateTimeField(default=utcnow)  # not processed before this (back-off after a failure)
    claim = peewee.CharField(null=True)  # the token of the worker run that holds it
    lease_until = peewee.DateTimeField(null=True)
    processed_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "inbound_event"
        indexes = (
            (("provider", "dedupe_key"), True),
            (("status", "due_at"), False),  # what to process next, what the sweeper looks at
            (("provider", "kind", "id"), False),  # the log's filters, newest first
        )


MODELS = [InboundEvent]
