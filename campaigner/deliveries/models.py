"""Deliveries: one row per (source, contact, channel), the record of every message."""
from __future__ import annotations

import peewee

from campaigner.audience.models import Contact
from campaigner.db import BaseModel, JSONField, utcnow

# queued -> sending -> sent | failed | unknown; skipped and deferred are decided at send time.
# deferred (quiet hours) and queued-with-a-later-send_after (retry backoff) are picked up again when due.
# "sending" is what ops see; it is not stored: a claimed row keeps its waiting status and carries the
# claim's token, and the claim has a DeliveryClaim row (see engine.claim for why).
STATUSES = ("queued", "sending", "sent", "delivered", "failed", "skipped", "deferred", "unknown", "cancelled")
FINAL_STATUSES = ("sent", "failed", "skipped", "unknown", "cancelled")
WAITING = ("queued", "deferred")  # stored statuses of a delivery not final yet


def shown_status(status: str, lease_token: str | None) -> str:
    """A stored status as ops see it: a waiting delivery that carries a claim's token is "sending"."""
    return "sending" if status in WAITING and lease_token else status


class Delivery(BaseModel):
    """One message to one contact on one channel from one source, and everything that happened to it."""

    source_type = peewee.CharField()  # "campaign", "calendar_entry", "test", ...
    source_id = peewee.IntegerField()
    # No index of its own: (contact, channel, sent_at) below serves every lookup by contact.
    contact = peewee.ForeignKeyField(Contact, backref="deliveries", on_delete="CASCADE", index=False)
    channel = peewee.CharField()
    status = peewee.CharField(default="queued")
    reason = peewee.CharField(default="")  # why skipped/deferred: opted_out, capped, quiet_hours, ...
    attempts = peewee.IntegerField(default=0)
    idempotency_key = peewee.CharField(unique=True)
    provider_id = peewee.CharField(null=True)
    error = peewee.TextField(null=True)
    marketing = peewee.BooleanField(default=True)  # counts against the frequency caps
    send_after = peewee.DateTimeField(default=utcnow)  # UTC; not before this
    lease_until = peewee.DateTimeField(null=True)
    lease_token = peewee.CharField(null=True)  # which claim holds it: a late batch can't overwrite a reclaimed row
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)
    details = JSONField(null=True)  # what the provider said of the send (SendResult.details)
    # When the provider's receipt said it reached the phone (`campaigner.inbound.record_delivery_receipt`):
    # a sent delivery shows as "delivered" from then on, and the funnel counts it as delivered.
    delivered_at = peewee.DateTimeField(null=True)

    @property
    def state(self) -> str:
        """The status ops see: a waiting delivery that a batch has claimed is "sending"; a receipted one "delivered"."""
        if self.status == "sent" and self.delivered_at is not None:
            return "delivered"
        return shown_status(self.status, self.lease_token)

    class Meta:
        indexes = (
            (("source_type", "source_id", "contact", "channel"), True),
            # the log filtered by status, newest first; recovery of expired leases
            (("status", "id"), False),
            # a campaign's claims, stats and its filtered log
            (("source_type", "source_id", "status", "id"), False),
            # frequency caps and the log filtered by contact
            (("contact", "channel", "sent_at"), False),
            # delivery receipts find their delivery by the provider's id
            (("channel", "provider_id"), False),
        )


class DeliveryEvent(BaseModel):
    """A notable change of a delivery beyond the happy path: an error, a deferral, a retry, an unknown outcome."""

    delivery = peewee.ForeignKeyField(Delivery, backref="events", on_delete="CASCADE")
    at = peewee.DateTimeField(default=utcnow)
    status = peewee.CharField()  # the status it moved to
    attempt = peewee.IntegerField(default=0)
    error = peewee.TextField(default="")
    details = JSONField(null=True)

    class Meta:
        indexes = ((("delivery", "at"), False),)


class DeliveryClaim(BaseModel):
    """A batch of deliveries claimed and not yet recorded, one row per claim.

    Claimed rows keep their waiting status (engine.claim), so this small table is where "what is
    being sent" is read from without scanning waiting rows: recovery finds expired leases here, the
    stats count "sending" from it, the log's "sending" filter takes its tokens. It is written in the
    claim's transaction and deleted in the one that records (or releases, or recovers) the batch.
    """

    token = peewee.CharField(primary_key=True)
    source_type = peewee.CharField()
    source_id = peewee.IntegerField()
    channel = peewee.CharField()
    size = peewee.IntegerField()
    deferred = peewee.IntegerField(default=0)  # how many of them were claimed from `deferred`
    # The highest delivery id of the claim handed to the channel so far, written (and committed) before
    # each group is handed: after a kill, rows up to it may have been sent, rows above it were not.
    handed_upto = peewee.IntegerField(default=0)
    lease_until = peewee.DateTimeField()
    claimed_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("source_type", "source_id"), False),)


class RateWindow(BaseModel):
    """Sends granted in one minute for a rate-limited key ("channel:sms", "campaign:7"), shared by every worker."""

    key = peewee.CharField(primary_key=True)
    window = peewee.DateTimeField()  # start of the minute (UTC)
    used = peewee.IntegerField(default=0)


class SendReservation(BaseModel):
    """One place in a shared limit, held by a delivery until `expires_at` (see campaigner.deliveries.reservations)."""

    key = peewee.CharField()
    slot = peewee.IntegerField()
    holder = peewee.IntegerField()  # the delivery holding the place
    taken_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()

    class Meta:
        table_name = "send_reservation"
        primary_key = peewee.CompositeKey("key", "slot")
        indexes = ((("holder",), False),)


MODELS = [Delivery, DeliveryEvent, DeliveryClaim, RateWindow, SendReservation]
