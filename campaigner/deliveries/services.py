"""What ops do to deliveries: retry one or every failed one, with an audit entry. No Flask here."""
from __future__ import annotations

from campaigner.audit import record_audit, says
from campaigner.deliveries import engine
from campaigner.deliveries.models import Delivery


def _(text: str) -> str:
    """Mark a message for translation; the page translates it when it shows the audit entry."""
    return text


def retry_failed(*, ids: list[int] | None = None, campaign_id: int | None = None, user=None,
                 include_unknown: bool = False) -> int:
    """Queue failed deliveries again with the same idempotency key and start sending them; return how many.

    Sent deliveries are never touched, so a retry can't send anyone a second
    message. `unknown` ones (the outcome of a send was lost) are retried only
    when ops say so with `include_unknown`.
    """
    statuses = ("failed", "unknown") if include_unknown else ("failed",)
    where = [Delivery.status.in_(statuses), Delivery.source_type == engine.SOURCE]
    if ids is not None:
        where.append(Delivery.id.in_(ids))
    if campaign_id is not None:
        where.append(Delivery.source_id == campaign_id)
    count = Delivery.select().where(*where).count()
    campaigns = engine.retry_deliveries(ids, campaign_id=campaign_id, statuses=statuses)
    if not campaigns:
        return 0
    from campaigner.deliveries.tasks import enqueue_pumps

    for cid in campaigns:
        enqueue_pumps(cid, 1)
    if ids is not None and len(ids) == 1:
        record_audit(user, "retried", object_type="delivery", object_id=ids[0], summary="retry one delivery",
                     details=says(_("retry one delivery")))
    else:
        for cid in campaigns:
            record_audit(user, "retried", object_type="campaign", object_id=cid,
                         summary=f"retry {count} failed deliveries",
                         details=says(_("retry %(num)d failed deliveries"), num=count))
    return count
