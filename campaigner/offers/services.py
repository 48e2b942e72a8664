"""Coupon batches: making them, filling them with codes, linking them to campaigns, and what they came to."""
from __future__ import annotations

import datetime as dt
import re
import secrets
from decimal import Decimal, InvalidOperation

from peewee import JOIN, SQL, Case, fn

from campaigner.audit import record_audit
from campaigner.campaigns.models import Campaign
from campaigner.db import database, utcnow
from campaigner.deliveries.models import Delivery
from campaigner.offers.coupons import OfferError, release_unsent
from campaigner.offers.models import KINDS, CampaignOffer, CouponBatch, CouponCode

# Unambiguous when read aloud or typed from a phone screen: no 0/O, 1/I/L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
MAX_CODES = 1_000_000  # codes one request may generate or import


def create_batch(*, name: str, kind: str, value, per_contact_limit: int = 1, starts_at: dt.datetime | None = None,
                 ends_at: dt.datetime | None = None, provider: str = "", user=None) -> CouponBatch:
    """A new, empty batch; raises OfferError naming the field that is wrong."""
    name = (name or "").strip()
    if not name:
        raise OfferError("a batch needs a name", field="name")
    if kind not in KINDS:
        raise OfferError(f"kind is one of {', '.join(KINDS)}", field="kind")
    try:
        value = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise OfferError("value is a number", field="value") from None
    if not value.is_finite() or value <= 0 or (kind == "percent" and value >= 100) or value > Decimal("1e9"):
        raise OfferError("value is more than 0 (a percent off less than 100)", field="value")
    if not isinstance(per_contact_limit, int) or isinstance(per_contact_limit, bool) or not 1 <= per_contact_limit <= 1000:
        raise OfferError("per_contact_limit is a whole number from 1 to 1000", field="per_contact_limit")
    if starts_at and ends_at and ends_at <= starts_at:
        raise OfferError("the window ends before it starts", field="ends_at")
    batch = CouponBatch.create(name=name[:200], kind=kind, value=value.quantize(Decimal("0.01")),
                               per_contact_limit=per_contact_limit, starts_at=starts_at, ends_at=ends_at,
                               provider=(provider or "").strip()[:100], created_by=getattr(user, "id", None))
    record_audit(user, "created", batch, summary=batch.name)
    return batch


def generate_codes(batch: CouponBatch, count: int, prefix: str = "", user=None) -> int:
    """Add `count` random codes (or a shop provider's slots) to the batch; return how many were added."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CODES:
        raise OfferError(f"count is a whole number from 1 to {MAX_CODES:,}", field="count")
    prefix = (prefix or "").strip().upper()
    if prefix and not re.fullmatch(r"[A-Z0-9]{1,12}", prefix):
        raise OfferError("a prefix is up to 12 letters and digits", field="prefix")
    with database.atomic():
        if batch.provider:
            rows = [{"batch": batch.id} for _ in range(count)]
            for start in range(0, count, 1000):
                CouponCode.insert_many(rows[start:start + 1000]).execute()
        else:
            made = 0
            while made < count:  # a clash with an existing code is skipped and made again
                want = min(1000, count - made)
                codes = {prefix + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(want)}
                before = CouponCode.select().where(CouponCode.batch == batch.id).count()
                CouponCode.insert_many([{"batch": batch.id, "code": c} for c in codes]).on_conflict_ignore().execute()
                made += CouponCode.select().where(CouponCode.batch == batch.id).count() - before
        _restock(batch)
    record_audit(user, "generated codes", batch, summary=f"{count}")
    return count


def import_codes(batch: CouponBatch, text: str, user=None) -> int:
    """Add the codes listed in `text` (one a line, or comma separated); all or nothing."""
    if batch.provider:
        raise OfferError("a shop provider's batch issues its codes itself", field="codes")
    codes = [c.strip() for c in re.split(r"[\s,;]+", text or "") if c.strip()]
    if not codes:
        raise OfferError("no codes given", field="codes")
    if len(codes) > MAX_CODES:
        raise OfferError(f"at most {MAX_CODES:,} codes at once", 413, field="codes")
    bad = [c for c in codes if not CODE_PATTERN.match(c)]
    if bad:
        raise OfferError(f"not a code (4 to 64 letters, digits, - or _): {bad[0][:80]}", field="codes")
    if len(set(codes)) != len(codes):
        raise OfferError("a code appears twice", field="codes")
    with database.atomic():
        for start in range(0, len(codes), 500):
            chunk = codes[start:start + 500]
            taken = CouponCode.select(CouponCode.code).where(CouponCode.code.in_(chunk)).first()
            if taken is not None:
                raise OfferError(f"the code {taken.code} exists already", 409, field="codes")
            CouponCode.insert_many([{"batch": batch.id, "code": c} for c in chunk]).execute()
        _restock(batch)
    record_audit(user, "imported codes", batch, summary=f"{len(codes)}")
    return len(codes)


def _restock(batch: CouponBatch) -> None:
    batch.stock = CouponCode.select().where(CouponCode.batch == batch.id).count()
    CouponBatch.update(stock=batch.stock).where(CouponBatch.id == batch.id).execute()


def attach_to_campaign(campaign: Campaign, batch: CouponBatch | None, user=None) -> None:
    """Make `batch` the one the campaign's ``{{ coupon }}`` draws from (None: no coupon)."""
    with database.atomic():
        CampaignOffer.delete().where(CampaignOffer.campaign == campaign.id).execute()
        if batch is not None:
            CampaignOffer.create(campaign=campaign.id, batch=batch.id)
    record_audit(user, "attached offer", campaign, summary=batch.name if batch else "-")


def coupon_figures(campaign_ids: list[int] | None = None, batch_id: int | None = None) -> dict:
    """Issued (delivery sent or code redeemed), redeemed, revenue and redemption rate of campaigns or a batch."""
    release_unsent(batch_id)
    sent = (Delivery.status == "sent") | (CouponCode.status == "redeemed")
    query = (CouponCode.select(fn.SUM(Case(None, [(sent, 1)], 0)),
                               fn.SUM(Case(None, [(CouponCode.status == "redeemed", 1)], 0)),
                               fn.SUM(Case(None, [(CouponCode.status == "redeemed", CouponCode.amount)], 0)),
                               fn.SUM(Case(None, [(CouponCode.status == "reserved", 1)], 0)),
                               fn.COUNT(SQL("*")))
             .join(Delivery, join_type=JOIN.LEFT_OUTER, on=(Delivery.id == CouponCode.delivery_id)))
    if campaign_ids is not None:
        query = query.where(CouponCode.campaign.in_(campaign_ids or [0]))
    if batch_id is not None:
        query = query.where(CouponCode.batch == batch_id)
    issued, redeemed, revenue, reserved, total = (query.tuples().first() or (0, 0, 0, 0, 0))
    issued, redeemed = int(issued or 0), int(redeemed or 0)
    out = {"issued": issued, "redeemed": redeemed,
           "revenue": Decimal(str(revenue or 0)).quantize(Decimal("0.01")),
           "redemption_rate": round(100.0 * redeemed / issued, 1) if issued else None,
           "awaiting_send": int(reserved or 0) - (issued - redeemed)}
    if batch_id is not None:
        out["left"] = CouponCode.select().where(CouponCode.batch == batch_id, CouponCode.status == "free").count()
    return out


def batches(limit: int = 200) -> list[CouponBatch]:
    """Batches, newest first."""
    return list(CouponBatch.select().order_by(CouponBatch.id.desc()).limit(limit))


def open_batches(now: dt.datetime | None = None) -> list[CouponBatch]:
    """Batches a campaign can still hand out (window not over)."""
    now = now or utcnow()
    return list(CouponBatch.select().where(CouponBatch.ends_at.is_null() | (CouponBatch.ends_at > now))
                .order_by(CouponBatch.name))
