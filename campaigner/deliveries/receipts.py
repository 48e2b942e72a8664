"""Delivery receipts: a provider saying a sent message reached the phone (or did not after all).

A receipt finds its delivery by (channel, provider id), the id the provider answered at send
time. "delivered" stamps `delivered_at` on a sent delivery (it then shows as delivered and the
funnel counts it); "failed" turns a sent delivery into a failed one with the provider's reason.
Either is recorded once: a repeated receipt changes nothing.
"""
from __future__ import annotations

from campaigner.db import database, utcnow
from campaigner.deliveries.models import Delivery, DeliveryEvent
from campaigner.plugins import emit_delivery_event

RECEIPT_STATUSES = ("delivered", "failed")


class UnknownReceiptStatus(ValueError):
    """A receipt status other than delivered or failed."""


def record_delivery_receipt(channel: str, provider_id: str, status: str = "delivered", *, at=None,
                            error: str = "") -> bool:
    """Apply a provider's receipt to the delivery it sent as `provider_id`; False when none matches or it changed nothing."""
    if status not in RECEIPT_STATUSES:
        raise UnknownReceiptStatus(f"receipt status {status!r}; one of {', '.join(RECEIPT_STATUSES)}")
    delivery = (Delivery.select().where(Delivery.channel == channel, Delivery.provider_id == str(provider_id))
                .order_by(Delivery.id.desc()).first())
    if delivery is None:
        return False
    at = at or utcnow()
    with database.atomic():
        if status == "delivered":
            changed = (Delivery.update(delivered_at=at, updated_at=utcnow())
                       .where(Delivery.id == delivery.id, Delivery.status == "sent", Delivery.delivered_at.is_null())
                       .execute())
        else:
            changed = (Delivery.update(status="failed", error=f"receipt: {error or 'not delivered'}"[:2000],
                                       updated_at=utcnow())
                       .where(Delivery.id == delivery.id, Delivery.status == "sent").execute())
        if changed:
            DeliveryEvent.create(delivery=delivery.id, at=at, status=status, attempt=delivery.attempts,
                                 error=error if status == "failed" else "", details={"receipt": True})
    if changed:
        emit_delivery_event(status, Delivery.get_by_id(delivery.id),
                            {"channel": channel, "provider_id": str(provider_id), "error": error, "receipt": True})
    return bool(changed)
