"""The register_coupon_providers hook: a shop plugin issues the codes of a batch and hears of redemptions."""
from __future__ import annotations

import itertools
import re
import uuid

from campaigner import CouponProvider, PermanentError, hookimpl
from campaigner.db import database
from tests.fixtures_engine import channels, deliveries_of, make_contacts, run_campaign  # noqa: F401
from tests.fixtures_offers import coupon_batch, coupon_campaign  # noqa: F401


class FakeShop(CouponProvider):
    """A shop (有赞-like) that makes codes on request and keeps which were used; `down` makes it refuse."""

    name = "fakeshop"
    label = "Fake shop"

    def __init__(self):
        self.numbers = itertools.count(1)
        self.issued: dict[str, int] = {}
        self.redeemed: list[tuple[str, str | None]] = []
        self.down = False

    def issue(self, batch, contact):
        if self.down:
            raise PermanentError("shop API unavailable")
        code = f"YZ{next(self.numbers):06d}"
        self.issued[code] = contact.id
        return code

    def redeem(self, batch, code, order):
        self.redeemed.append((code, getattr(order, "external_id", None)))


class ShopPlugin:
    def __init__(self, shop):
        self.shop = shop

    @hookimpl
    def register_coupon_providers(self, register):
        register(self.shop)


def install(app) -> FakeShop:
    shop = FakeShop()
    app.extensions["campaigner"].plugins.pm.register(ShopPlugin(shop), name=f"fakeshop-{uuid.uuid4().hex[:6]}")
    return shop


def test_register_coupon_providers_lets_a_shop_issue_codes_within_the_stock(app, channels, coupon_batch):
    shop = install(app)
    make_contacts(5)
    batch = coupon_batch(codes=3, provider="fakeshop")
    campaign = coupon_campaign(batch)
    run_campaign(campaign.id)
    codes = [m.group(1) for _to, _k, body in channels["rec"].received if (m := re.search(r"code: (YZ\d{6})", body))]
    assert sorted(codes) == ["YZ000001", "YZ000002", "YZ000003"] and len(shop.issued) == 3  # the stock, no more


def test_register_coupon_providers_a_shop_that_fails_fails_the_delivery_and_keeps_the_slot(app, channels, coupon_batch):
    from campaigner.offers.models import CouponCode

    shop = install(app)
    shop.down = True
    make_contacts(1)
    batch = coupon_batch(codes=1, provider="fakeshop")
    campaign = coupon_campaign(batch)
    run_campaign(campaign.id)
    [delivery] = deliveries_of(campaign.id)
    assert delivery.status == "failed" and "shop API unavailable" in delivery.error
    with database.connection_context():
        assert CouponCode.select().where(CouponCode.status == "free").count() == 1


def test_register_coupon_providers_hears_of_a_redemption(client, api_token, app, channels, coupon_batch):
    shop = install(app)
    ops = api_token("ops")
    [contact] = make_contacts(1)
    batch = coupon_batch(codes=1, provider="fakeshop")
    run_campaign(coupon_campaign(batch).id)
    response = client.post("/api/v1/orders", headers=ops, json={
        "contact": contact, "amount": "88", "occurred_at": "2026-11-30T10:00:00Z", "order_id": "YZ-ORDER-9",
        "coupon": "YZ000001"})
    assert response.status_code == 201, response.json
    assert shop.redeemed == [("YZ000001", "YZ-ORDER-9")]
