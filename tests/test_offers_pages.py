"""The offers pages: batches with their figures, a batch made from the form, a campaign's coupon card."""
from __future__ import annotations

from campaigner.db import database
from tests.fixtures_engine import channels, make_contacts, new_campaign, run_campaign  # noqa: F401
from tests.fixtures_offers import coupon_batch, coupon_campaign  # noqa: F401


def test_an_editor_makes_a_flash_sale_batch_and_sees_it_listed(logged_in_editor):
    from campaigner.offers.models import CouponBatch

    response = logged_in_editor.post("/offers/", data={
        "name": "秒杀 <b>", "kind": "amount", "value": "20", "per_contact_limit": "1",
        "starts_at": "2026-12-12T10:00", "ends_at": "2026-12-12T12:00", "provider": "", "count": "30"})
    assert response.status_code == 302, response.get_data(as_text=True)
    with database.connection_context():
        batch = CouponBatch.get()
    assert batch.stock == 30 and batch.starts_at.hour == 2  # 10:00 in Asia/Shanghai is 02:00 UTC
    page = logged_in_editor.get("/offers/").get_data(as_text=True)
    assert "秒杀 &lt;b&gt;" in page and "<b>" not in page.split("秒杀", 1)[1][:20]


def test_bad_batch_forms_are_refused_and_write_nothing(logged_in_editor, login_as):
    from campaigner.offers.models import CouponBatch, CouponCode

    for data in ({"name": "x", "kind": "amount", "value": "0", "per_contact_limit": "1"},
                 {"name": "x", "kind": "amount", "value": "5", "per_contact_limit": "1", "codes": "ok-1\n<script>"},
                 {"name": "x", "kind": "bogus", "value": "5", "per_contact_limit": "1"},
                 {"name": "x", "kind": "amount", "value": "5", "per_contact_limit": "1",
                  "starts_at": "2026-12-12T10:00", "ends_at": "2026-12-12T09:00"}):
        assert logged_in_editor.post("/offers/", data=data).status_code == 422, data
    assert logged_in_editor.post("/offers/", data={"name": "x", "value": "5"}, csrf=False).status_code == 400
    assert login_as("developer").post("/offers/", data={"name": "x", "kind": "amount", "value": "5",
                                                     "per_contact_limit": "1"}).status_code == 403
    with database.connection_context():
        assert CouponBatch.select().count() == 0 and CouponCode.select().count() == 0


def test_the_campaign_page_shows_issued_redeemed_revenue_and_rate(app, logged_in_editor, api_token, channels,
                                                                  coupon_batch):
    from campaigner.offers.models import CouponCode

    make_contacts(4)
    batch = coupon_batch(codes=10, name="礼券")
    campaign = coupon_campaign(batch)
    run_campaign(campaign.id)
    with database.connection_context():
        code = CouponCode.select().where(CouponCode.status == "reserved").first().code
    logged_in_editor.post("/api/v1/coupons/redeem", headers=api_token("ops"), json={"code": code, "amount": "100"})
    page = logged_in_editor.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    card = page.split('id="campaign-coupons"', 1)[1].split("</section>", 1)[0]
    assert "礼券" in card
    for figure, label in (("4", "Issued"), ("1", "Redeemed"), ("100.00", "Revenue"), ("25.0%", "Redemption rate")):
        assert f"<strong>{figure}</strong><span>{label}</span>" in card


def test_an_editor_gives_a_campaign_a_batch_from_its_page(app, logged_in_editor, coupon_batch, channels):
    from campaigner.offers.coupons import batch_of_campaign

    batch = coupon_batch(codes=1)
    campaign = new_campaign(schedule=False)
    assert logged_in_editor.post(f"/offers/campaigns/{campaign.id}", data={"batch": str(batch.id)}).status_code == 302
    assert logged_in_editor.post(f"/offers/campaigns/{campaign.id}", data={"batch": "999"}).status_code == 422
    from campaigner.campaigns.models import Campaign

    with database.connection_context():
        assert batch_of_campaign(Campaign.get_by_id(campaign.id)).id == batch.id
