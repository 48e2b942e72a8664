"""Coupon batches, their codes, who holds how many, and which campaign hands out which batch."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.audience.models import AmountField, Contact, Order
from campaigner.campaigns.models import Campaign
from campaigner.db import BaseModel, utcnow

KINDS = ("amount", "percent")  # yuan off, or percent off
# free: in stock; reserved: handed to one delivery (issued once that delivery is sent); redeemed: used in an order.
CODE_STATUSES = ("free", "reserved", "redeemed")


class CouponBatch(BaseModel):
    """An offer (新客红包, 礼券, 秒杀…): what it is worth, how many codes, when and how often one contact gets one."""

    name = peewee.CharField()
    kind = peewee.CharField(default="amount")
    value = peewee.DecimalField(max_digits=12, decimal_places=2)
    stock = peewee.IntegerField(default=0)  # codes the batch holds, generated or imported
    per_contact_limit = peewee.IntegerField(default=1)
    starts_at = peewee.DateTimeField(null=True)  # UTC; None: from now on
    ends_at = peewee.DateTimeField(null=True)  # UTC; None: no end
    provider = peewee.CharField(default="")  # "": codes kept here; else the shop plugin that issues them
    created_by = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "coupon_batches"

    def __str__(self) -> str:
        return self.name

    def is_open(self, now) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


class CouponCode(BaseModel):
    """One code of a batch. Reserving it is one UPDATE that claims a free row, so no two deliveries get it."""

    batch = peewee.ForeignKeyField(CouponBatch, backref="codes", on_delete="CASCADE", index=False)
    code = peewee.CharField(null=True, unique=True)  # None: a shop provider's slot, filled when issued
    status = peewee.CharField(default="free")
    delivery_id = peewee.IntegerField(null=True, unique=True)  # one code per delivery (a retry renders it again)
    contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="SET NULL")
    campaign = peewee.ForeignKeyField(Campaign, null=True, backref="+", on_delete="SET NULL", index=False)
    reserved_at = peewee.DateTimeField(null=True)
    redeemed_at = peewee.DateTimeField(null=True)
    order = peewee.ForeignKeyField(Order, null=True, backref="+", on_delete="SET NULL")
    amount = AmountField(null=True)  # the redeeming order's amount

    class Meta:
        table_name = "coupon_codes"
        indexes = (
            (("batch", "status", "id"), False),  # the next free code of a batch
            (("campaign", "status"), False),  # a campaign's figures
            (("redeemed_at",), False),  # a week's redemptions
        )


class CouponHolding(BaseModel):
    """How many codes of a batch one contact holds: the per-contact limit, held by a conditional upsert."""

    batch = peewee.ForeignKeyField(CouponBatch, backref="+", on_delete="CASCADE", index=False)
    contact = peewee.ForeignKeyField(Contact, backref="+", on_delete="CASCADE")
    held = peewee.IntegerField(default=0)

    class Meta:
        table_name = "coupon_holdings"
        primary_key = peewee.CompositeKey("batch", "contact")


class CampaignOffer(BaseModel):
    """The batch a campaign's ``{{ coupon }}`` draws from (a flash sale: a campaign and a batch with stock and a window)."""

    campaign = peewee.ForeignKeyField(Campaign, primary_key=True, backref="+", on_delete="CASCADE")
    batch = peewee.ForeignKeyField(CouponBatch, backref="campaigns", on_delete="CASCADE")

    class Meta:
        table_name = "campaign_offers"


MODELS = [CouponBatch, CouponCode, CouponHolding, CampaignOffer]
