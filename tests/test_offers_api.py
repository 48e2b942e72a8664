"""Coupon batches through the API, redemption by an order or at the till, limits, windows and hostile input."""
from __future__ import annotations

import datetime as dt
import re

from campaigner.db import database, utcnow
from tests.fixtures_engine import channels, deliveries_of, make_contacts, run_campaign  # noqa: F401
from tests.fixtures_offers import coupon_batch, coupon_campaign  # noqa: F401

CODE = re.compile(r"your code: ([0-9A-Z]{10})\b")


def sent_codes(channel) -> dict[str, str]:
    """address -> code, of the messages a recording channel sent."""
    return {to: m.group(1) for to, _key, body in channel.received if (m := CODE.search(body))}


def test_an_order_carrying_a_code_redeems_it_and_counts_for_the_campaign(client, api_token, channels, coupon_batch):
    ops = api_token("ops")
    ids = make_contacts(3)
    batch = coupon_batch(codes=5)
    campaign = coupon_campaign(batch)
    run_campaign(campaign.id)
    codes = sent_codes(channels["rec"])
    assert len(codes) == 3 and len(set(codes.values())) == 3
    first = deliveries_of(campaign.id)[0]
    code = next(c for to, c in codes.items() if to.startswith("c0-"))
    response = client.post("/api/v1/orders", headers=ops, json={
        "contact": first.contact_id, "amount": "199.00", "occurred_at": "2026-11-30T10:00:00Z", "order_id": "YZ-1",
        "coupon": code})
    assert response.status_code == 201, response.json
    till = next(c for to, c in codes.items() if to.startswith("c1-"))
    response = client.post("/api/v1/coupons/redeem", headers=ops, json={"code": till, "amount": "¥51"})
    assert response.status_code == 200 and response.json["campaign_id"] == campaign.id
    figures = client.get(f"/api/v1/campaigns/{campaign.id}/coupons", headers=ops).json["figures"]
    assert figures == {"issued": 3, "redeemed": 2, "revenue": "250.00", "redemption_rate": 66.7, "awaiting_send": 0}
    # Used once only: a second order with the same code is refused and records nothing.
    again = client.post("/api/v1/orders", headers=ops, json={
        "contact": ids[1], "amount": "10", "occurred_at": "2026-11-30T11:00:00Z", "order_id": "YZ-2", "coupon": code})
    assert again.status_code == 422 and "already redeemed" in again.json["error"]
    from campaigner.audience.models import Order

    with database.connection_context():
        assert Order.select().where(Order.external_id == "YZ-2").count() == 0
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": till}).status_code == 409


def test_redeeming_a_code_never_issued_unknown_or_expired_is_refused(client, api_token, coupon_batch):
    from campaigner.offers.coupons import reserve_code
    from campaigner.offers.models import CouponBatch, CouponCode

    ops = api_token("ops")
    batch = coupon_batch(codes=2, ends_at=utcnow() + dt.timedelta(minutes=5))
    with database.connection_context():
        free, other = [c.code for c in CouponCode.select().where(CouponCode.batch == batch.id)]
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": "NOPE-1234"}).status_code == 404
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": free}).status_code == 422
    # A body of the wrong shape is refused with 400 before the view (campaigner.api.validation); values get 422.
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": 12}).status_code == 400
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": free, "x": 1}).status_code == 422
    assert client.post("/api/v1/coupons/redeem", headers=ops, data="[").status_code == 400
    assert client.post("/api/v1/coupons/redeem", headers=api_token("editor"), json={"code": free}).status_code == 403
    contact = make_contacts(1)[0]
    with database.connection_context():
        issued = reserve_code(CouponBatch.get_by_id(batch.id), contact, None)
        CouponBatch.update(ends_at=utcnow() - dt.timedelta(seconds=1)).where(CouponBatch.id == batch.id).execute()
    expired = client.post("/api/v1/coupons/redeem", headers=ops, json={"code": issued})
    assert expired.status_code == 422 and "expired" in expired.json["error"]
    with database.connection_context():  # out of its window, a batch hands out nothing more
        assert reserve_code(CouponBatch.get_by_id(batch.id), contact, None) is None


def test_batches_are_made_with_generated_or_imported_codes_all_or_nothing(client, api_token):
    from campaigner.offers.models import CouponBatch, CouponCode

    ops = api_token("ops")
    made = client.post("/api/v1/coupon-batches", headers=ops, json={
        "name": "双11 秒杀", "kind": "percent", "value": "20", "count": 50, "prefix": "S11",
        "starts_at": "2026-11-11T00:00:00+08:00", "ends_at": "2026-11-12T00:00:00+08:00"})
    assert made.status_code == 201, made.json
    assert made.json["stock"] == 50 and made.json["starts_at"] == "2026-11-10T16:00:00Z"
    imported = client.post("/api/v1/coupon-batches", headers=ops, json={
        "name": "礼券", "value": "30", "codes": ["GIFT-0001", "GIFT-0002"]})
    assert imported.status_code == 201 and imported.json["stock"] == 2
    for bad in ({"name": "", "value": "1"}, {"name": "x", "value": "-1"}, {"name": "x", "value": "100", "kind": "percent"},
                {"name": "x", "value": "1", "count": 0}, {"name": "x", "value": "1", "codes": ["ok-code", "<script>"]},
                {"name": "x", "value": "1", "ends_at": "soon"},
                {"name": "x", "value": "1", "colour": "red"}, {"name": "x", "value": "abc"}):
        response = client.post("/api/v1/coupon-batches", headers=ops, json=bad)
        assert response.status_code == 422, (bad, response.json)
    wrong_type = client.post("/api/v1/coupon-batches", headers=ops, json={"name": "x", "value": "1", "per_contact_limit": "2"})
    assert wrong_type.status_code == 400 and wrong_type.json["field"] == "per_contact_limit"
    clash = client.post("/api/v1/coupon-batches", headers=ops, json={"name": "x", "value": "1", "codes": ["GIFT-0001"]})
    assert clash.status_code == 409
    twice = client.post(f"/api/v1/coupon-batches/{imported.json['id']}/codes", headers=ops,
                        json={"codes": ["GIFT-0003", "GIFT-0003"]})
    assert twice.status_code == 422
    with database.connection_context():
        assert CouponBatch.select().count() == 2 and CouponCode.select().count() == 52  # nothing half-written
    listed = client.get("/api/v1/coupon-batches", headers=api_token("editor")).json["items"]
    assert [b["name"] for b in listed] == ["礼券", "双11 秒杀"] and listed[0]["figures"]["left"] == 2


def test_a_contact_gets_no_more_codes_than_the_limit_across_campaigns(app, channels, coupon_batch):
    from campaigner.offers.models import CouponCode

    make_contacts(2)
    batch = coupon_batch(codes=10, per_contact_limit=1)
    first, second = coupon_campaign(batch), coupon_campaign(batch, caps={"day": 0, "week": 0})
    run_campaign(first.id)
    run_campaign(second.id)
    bodies = [body for _to, _key, body in channels["rec"].received]
    assert len(bodies) == 4 and sum(1 for b in bodies if CODE.search(b)) == 2 and sum("SOLD-OUT" in b for b in bodies) == 2
    with database.connection_context():
        assert CouponCode.select().where(CouponCode.status == "free").count() == 8


def test_a_retried_delivery_renders_the_same_code_again(app, channels, coupon_batch):
    from campaigner import TransientError

    make_contacts(1)
    batch = coupon_batch(codes=5)
    campaign = coupon_campaign(batch)
    attempts = []

    def flaky(message, key):
        attempts.append(message.body)
        if len(attempts) == 1:
            raise TransientError("gateway busy")

    channels["rec"].behaviour = flaky
    run_campaign(campaign.id)
    run_campaign(campaign.id, now=utcnow() + dt.timedelta(hours=1))
    assert len(attempts) == 2 and attempts[0] == attempts[1] and CODE.search(attempts[0])


def test_a_recorded_order_redeems_a_code_by_its_order_id(client, api_token, channels, coupon_batch):
    ops = api_token("ops")
    [contact] = make_contacts(1)
    campaign = coupon_campaign(coupon_batch(codes=1))
    run_campaign(campaign.id)
    [code] = sent_codes(channels["rec"]).values()
    client.post("/api/v1/orders", headers=ops, json={"contact": contact, "amount": "66", "order_id": "WX-7",
                                                     "occurred_at": "2026-11-30T10:00:00Z"})
    assert client.post("/api/v1/coupons/redeem", headers=ops, json={"code": code, "order_id": "nope"}).status_code == 404
    redeemed = client.post("/api/v1/coupons/redeem", headers=ops, json={"code": code, "order_id": "WX-7"})
    assert redeemed.status_code == 200 and redeemed.json["amount"] == "66.00" and redeemed.json["order_id"]
    assert client.post("/api/v1/coupons/redeem", headers=api_token("editor"), json={"code": code}).status_code == 403
    batch = client.post("/api/v1/coupon-batches", headers=api_token("editor"), json={"name": "礼券", "value": "5"})
    assert batch.status_code == 201  # editors plan offers
