"""Coupon codes handed out by deliveries: reserved at render, released when the send fails, redeemed by orders.

How a code reaches exactly one contact, however many workers render at once:

* `reserve_code` runs in one write transaction. It first raises the
  contact's holding in `coupon_holdings` with ``INSERT … ON CONFLICT DO UPDATE
  … WHERE held < limit`` — a statement both databases run atomically, so two
  workers rendering for one contact can't both pass the per-contact limit.
  Then it claims the next free code with one ``UPDATE … WHERE id = (SELECT …
  WHERE status = 'free' … LIMIT 1) RETURNING``: on PostgreSQL the inner select
  takes the row ``FOR UPDATE SKIP LOCKED``, so concurrent workers claim
  different rows instead of queueing on one; on SQLite the write lock the
  transaction holds makes the two statements one step. No free code (or the
  batch outside its window): the transaction is rolled back, holding
  included, and the message gets the field's default (``{{ coupon | 已抢光 }}``).
* The code stays on its delivery (unique `delivery_id`), so a retry renders
  the same code again. It counts as issued once that delivery is sent.
* `release_unsent` frees codes whose delivery ended failed, skipped or
  cancelled (or was deleted). The database is the truth: it runs when a batch
  finds no free code (so a failed send's code goes to a later contact in the
  same campaign), every few minutes on the worker, and when a campaign's
  figures are read — never from the send path, which stays one call.
* `redeem` turns a reserved code into a redeemed one with the order that used
  it, attributing the order to the campaign the code went out with.
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

from campaigner.audience.models import Contact, Order
from campaigner.content.rendering import fields_used
from campaigner.db import database, is_postgres, utcnow, write_transaction
from campaigner.offers.models import CampaignOffer, CouponBatch, CouponCode
from campaigner.offers.providers import coupon_providers
from campaigner.runtime import current_runtime

FIELD = "coupon"  # the personalisation field: {{ coupon }} or {{ coupon | 已抢光 }}
UNSENT = ("failed", "skipped", "cancelled")  # final delivery statuses whose code goes back to stock


class OfferError(ValueError):
    """A coupon or batch can't be made, issued or redeemed like that; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field


class _NoCode(Exception):
    """Rolls back a reservation that found no code (the holding it raised goes back too)."""


def uses_coupon(content) -> bool:
    """Whether the content's title, body or a channel variant asks for ``{{ coupon }}``."""
    texts = [content.title or "", content.body or "", *((content.variants or {}).values())]
    return any(FIELD in fields_used(text) for text in texts if isinstance(text, str))


def batch_of_campaign(campaign) -> CouponBatch | None:
    """The batch a campaign hands out (a run of a recurring campaign uses its parent's)."""
    ids = [campaign.id] + ([campaign.parent_id] if getattr(campaign, "parent_id", None) else [])
    offer = (CampaignOffer.select(CampaignOffer, CouponBatch).join(CouponBatch)
             .where(CampaignOffer.campaign.in_(ids)).order_by(CampaignOffer.campaign.desc()).first())
    return offer.batch if offer else None


def with_coupon(campaign, content, contact, delivery_id: int, now: dt.datetime | None = None):
    """The contact as this delivery's ``{{ coupon }}`` sees it: with the code reserved for the delivery, if any.

    The send path's one call. It returns the contact untouched when the content
    asks for no coupon, the campaign has no batch, or no code is left (the
    field's default shows then); otherwise a copy whose attributes carry the code.
    """
    if not uses_coupon(content):
        return contact
    batch = batch_of_campaign(campaign)
    if batch is None:
        return contact
    code = reserve_code(batch, contact.id, delivery_id, campaign_id=campaign.id, now=now)
    if code is None:
        return contact
    holder = copy.copy(contact)
    holder.__data__ = {**contact.__data__, "attributes": {**(contact.attributes or {}), FIELD: code}}
    return holder


def reserve_code(batch: CouponBatch, contact_id: int, delivery_id: int | None, *, campaign_id: int | None = None,
                 now: dt.datetime | None = None) -> str | None:
    """Claim one free code of `batch` for a contact (and delivery); None when none may be had."""
    now = now or utcnow()
    if delivery_id is not None:
        held = CouponCode.select(CouponCode.code).where(CouponCode.delivery_id == delivery_id).scalar()
        if held:
            return held
    if not batch.is_open(now):
        return None
    for attempt in range(2):
        try:
            claimed = _claim(batch, contact_id, delivery_id, campaign_id, now)
        except _NoCode as exc:
            if str(exc) == "limit" or attempt or not release_unsent(batch.id):
                return None
            continue  # codes of failed sends came back: try once more
        code_id, code = claimed
        if code is None:
            code = _code_from_provider(batch, code_id, contact_id)
        return code
    return None


def _claim(batch, contact_id, delivery_id, campaign_id, now) -> tuple[int, str | None]:
    p = database.param
    skip_locked = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    with write_transaction():
        raised = database.execute_sql(
            f"INSERT INTO coupon_holdings (batch_id, contact_id, held) VALUES ({p}, {p}, 1) "
            f"ON CONFLICT (batch_id, contact_id) DO UPDATE SET held = coupon_holdings.held + 1 "
            f"WHERE coupon_holdings.held < {p}", (batch.id, contact_id, batch.per_contact_limit))
        if raised.rowcount == 0:
            raise _NoCode("limit")
        row = database.execute_sql(
            f"UPDATE coupon_codes SET status = 'reserved', delivery_id = {p}, contact_id = {p}, campaign_id = {p}, "
            f"reserved_at = {p} WHERE id = (SELECT id FROM coupon_codes WHERE batch_id = {p} AND status = 'free' "
            f"ORDER BY id LIMIT 1{skip_locked}) AND status = 'free' RETURNING id, code",
            (delivery_id, contact_id, campaign_id, now, batch.id)).fetchone()
        if row is None:
            raise _NoCode("stock")
    return row[0], row[1]


def _code_from_provider(batch: CouponBatch, code_id: int, contact_id: int) -> str:
    """Ask the batch's shop plugin for the code of a claimed slot; on failure the slot goes back to stock."""
    try:
        provider = coupon_providers(current_runtime().plugins).get(batch.provider)
        if provider is None:
            raise OfferError(f"no installed plugin provides the coupon provider {batch.provider!r}")
        code = str(provider.issue(batch, Contact.get_by_id(contact_id)) or "").strip()
        if not code:
            raise OfferError(f"the coupon provider {batch.provider!r} returned no code")
        CouponCode.update(code=code[:255]).where(CouponCode.id == code_id).execute()
        return code
    except Exception:
        _free([code_id])
        raise


def release_unsent(batch_id: int | None = None) -> int:
    """Put back in stock the reserved codes whose delivery was not sent (failed, skipped, cancelled, deleted)."""
    p = database.param
    where_batch = f" AND c.batch_id = {p}" if batch_id is not None else ""
    statuses = ", ".join(f"'{s}'" for s in UNSENT)
    rows = database.execute_sql(
        f"SELECT c.id FROM coupon_codes c LEFT JOIN delivery d ON d.id = c.delivery_id "
        f"WHERE c.status = 'reserved' AND c.delivery_id IS NOT NULL AND (d.id IS NULL OR d.status IN ({statuses}))"
        f"{where_batch}", (batch_id,) if batch_id is not None else ()).fetchall()
    return _free([r[0] for r in rows], unsent_only=True)


def _free(code_ids: list[int], unsent_only: bool = False) -> int:
    if not code_ids:
        return 0
    p = database.param
    statuses = ", ".join(f"'{s}'" for s in UNSENT)
    # Checked again in the UPDATE: a delivery retried meanwhile keeps its code.
    still_unsent = (f" AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.id = coupon_codes.delivery_id "
                    f"AND d.status NOT IN ({statuses}))" if unsent_only else "")
    freed = 0
    with write_transaction():
        for start in range(0, len(code_ids), 500):
            chunk = code_ids[start:start + 500]
            marks = ", ".join([p] * len(chunk))
            holders = {i: (b, c) for i, b, c in database.execute_sql(
                f"SELECT id, batch_id, contact_id FROM coupon_codes WHERE id IN ({marks})", chunk).fetchall()}
            done = [r[0] for r in database.execute_sql(
                f"UPDATE coupon_codes SET status = 'free', delivery_id = NULL, contact_id = NULL, campaign_id = NULL, "
                f"reserved_at = NULL WHERE id IN ({marks}) AND status = 'reserved'{still_unsent} RETURNING id",
                chunk).fetchall()]
            for code_id in done:
                batch_id, contact_id = holders[code_id]
                database.execute_sql(f"UPDATE coupon_holdings SET held = held - 1 WHERE batch_id = {p} "
                                     f"AND contact_id = {p} AND held > 0", (batch_id, contact_id))
            freed += len(done)
    return freed


def redeem(code: str, *, order: Order | None = None, amount=None, now: dt.datetime | None = None) -> CouponCode:
    """Mark an issued code used (by `order`, or at the till for `amount`); raise OfferError saying why not."""
    now = now or utcnow()
    code = (code or "").strip()
    found = CouponCode.select(CouponCode, CouponBatch).join(CouponBatch).where(CouponCode.code == code).first()
    if not code or found is None:
        raise OfferError("no such coupon code", 404, field="code")
    if found.status == "redeemed":
        raise OfferError("this coupon code was already redeemed", 409, field="code")
    if found.status != "reserved":
        raise OfferError("this coupon code was never issued", 422, field="code")
    if found.batch.ends_at is not None and now >= found.batch.ends_at:
        raise OfferError("this coupon code has expired", 422, field="code")
    if order is not None:
        amount = order.amount
    amount = None if amount in (None, "") else Decimal(str(amount)).quantize(Decimal("0.01"))
    with database.atomic():
        changed = (CouponCode.update(status="redeemed", redeemed_at=now, order=getattr(order, "id", None),
                                     amount=amount)
                   .where(CouponCode.id == found.id, CouponCode.status == "reserved").execute())
        if not changed:
            raise OfferError("this coupon code was already redeemed", 409, field="code")
        if found.batch.provider:
            _redeem_at_provider(found.batch, code, order)
    return CouponCode.get_by_id(found.id)


def _redeem_at_provider(batch: CouponBatch, code: str, order) -> None:
    provider = coupon_providers(current_runtime().plugins).get(batch.provider)
    if provider is None:
        raise OfferError(f"no installed plugin provides the coupon provider {batch.provider!r}", 422)
    provider.redeem(batch, code, order)
