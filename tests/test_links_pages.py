"""The short-links pages: editors make links by hand, change where they go, and see who clicked."""
from __future__ import annotations

import datetime as dt

from campaigner.db import database, utcnow
from tests.fixtures_engine import channels  # noqa: F401
from tests.fixtures_links import (BROWSER, GOOGLEBOT, clicks_written_before_teardown, flush_clicks, follow,  # noqa: F401
                                  manual_link)


def test_editor_creates_a_short_link_with_a_default_expiry(app, client, logged_in_editor):
    from campaigner.links.models import ShortLink

    form = logged_in_editor.get("/links/").get_data(as_text=True)
    assert 'name="expires_at"' in form and 'value="' in form.split('name="expires_at"')[1][:80]
    response = logged_in_editor.post("/links/", data={"label": "Spring poster", "target": "https://shop.example.com/春季",
                                                      "expires_at": "2031-06-01T18:30"})
    assert response.status_code == 302
    with database.connection_context():
        link = ShortLink.get(ShortLink.label == "Spring poster")
    assert link.kind == "manual" and len(link.code) >= 8
    assert link.target == "https://shop.example.com/%E6%98%A5%E5%AD%A3"  # a URI, fit for a Location header
    assert link.expires_at == dt.datetime(2031, 6, 1, 10, 30)  # 18:30 in Asia/Shanghai, kept in UTC
    assert follow(client, link.code).headers["Location"] == link.target
    detail = logged_in_editor.get(response.headers["Location"]).get_data(as_text=True)
    assert f"http://127.0.0.1:8000/s/{link.code}" in detail and "Jun 1, 2031, 18:30" in detail  # in the reader's zone


def test_bad_targets_are_refused_with_a_reason(logged_in_editor):
    from campaigner.links.models import ShortLink

    for target, reason in (("javascript:alert(1)", "full http:// or https:// address"),
                           ("shop.example.com/x", "full http:// or https:// address"),
                           ("http://127.0.0.1:8000/s/AAAAAAAA", "itself a short link"),
                           ("", "This field is required")):
        response = logged_in_editor.post("/links/", data={"label": "x", "target": target, "expires_at": ""})
        assert response.status_code == 400
        assert reason in response.get_data(as_text=True)
    with database.connection_context():
        assert ShortLink.select().count() == 0


def test_link_page_counts_clicks_unique_visitors_and_bots(app, client, logged_in_editor, manual_link):
    link = manual_link(label="Bio link")
    follow(client, link.code, BROWSER, "203.0.113.1")
    follow(client, link.code, BROWSER, "203.0.113.1")
    follow(client, link.code, BROWSER, "203.0.113.2")
    follow(client, link.code, GOOGLEBOT, "66.249.66.1")
    page = logged_in_editor.get(f"/links/{link.id}").get_data(as_text=True)  # the page writes what is buffered
    assert '<div class="stat" id="link-clicks"><strong>3</strong>' in page
    assert '<div class="stat" id="link-unique"><strong>2</strong>' in page
    assert '<div class="stat" id="link-bots"><strong>1</strong>' in page
    assert "<svg" in page
    listing = logged_in_editor.get("/links/?q=Bio").get_data(as_text=True)
    assert "Bio link" in listing
    export = logged_in_editor.get("/links/export.csv").get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert export[0].startswith("code,short_url,label,target")
    assert export[1].split(",")[-3:] == ["3", "2", "1"]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    daily = logged_in_editor.get(f"/links/{link.id}/clicks.csv").get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert daily == ["day,clicks,unique_visitors", f"{today},3,2"]


def test_search_answers_htmx_with_the_table_only(logged_in_editor, manual_link):
    manual_link(label="Store 12 poster")
    manual_link(label="Bio link")
    partial = logged_in_editor.get("/links/?q=Store", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<section id="links-table">')
    assert "Store 12 poster" in partial and "Bio link" not in partial


def test_expiry_can_be_removed_and_set_in_the_past(client, logged_in_editor, manual_link):
    link = manual_link(expires_at=utcnow() - dt.timedelta(days=1))
    assert follow(client, link.code).status_code == 410
    logged_in_editor.post(f"/links/{link.id}", data={"label": "", "target": link.target, "expires_at": ""})
    assert follow(client, link.code).status_code == 302


def test_campaign_links_cannot_be_edited_by_hand(app, logged_in_editor):
    from campaigner.links.models import ShortLink
    from campaigner.links.shortener import new_code

    with database.connection_context():
        link = ShortLink.create(code=new_code(), target="https://shop.example.com/", kind="campaign", channel="chat")
    response = logged_in_editor.post(f"/links/{link.id}", data={"label": "", "target": "https://evil.example.com/",
                                                                "expires_at": ""})
    assert response.status_code == 403


def test_ops_sets_link_options_and_editors_may_not(app, logged_in_ops, logged_in_editor):
    from campaigner.links.options import link_options

    data = {"default_expiry_days": "14", "utm_source": "brand", "attribution_days": "3"}  # both checkboxes off
    assert logged_in_editor.post("/links/options", data=data).status_code == 403
    assert logged_in_ops.post("/links/options", data=data).status_code == 302
    with database.connection_context():
        options = link_options()
    assert options == {"default_expiry_days": 14, "utm_enabled": False, "utm_source": "brand", "interest_tags": False,
                       "attribution_days": 3}
    bad = logged_in_ops.post("/links/options", data={**data, "attribution_days": "0"})
    assert bad.status_code == 400 and "Number must be between 1 and 90" in bad.get_data(as_text=True)


def test_developer_may_look_but_not_make_links(login_as):
    developer = login_as("developer")
    assert developer.get("/links/").status_code == 200
    assert developer.post("/links/", data={"target": "https://shop.example.com/"}).status_code == 403


def test_campaign_link_expiry_set_on_its_analytics_page(app, channels, logged_in_ops, client):
    from campaigner.campaigns.models import Campaign
    from campaigner.links.models import ShortLink
    from tests.fixtures_engine import deliveries_of, make_contacts, make_content, new_campaign, run_campaign
    from tests.fixtures_links import links_of_delivery

    make_contacts(1)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    page = logged_in_ops.get(f"/analytics/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="campaign-expiry"' in page.split("<main>")[1] and 'id="campaign-expiry"' not in page.split("<main>")[0]
    response = logged_in_ops.post(f"/links/campaigns/{campaign.id}/expiry", data={"days": "0", "redate_issued": "y"},
                                  follow_redirects=True)
    assert "1 links already sent were changed" in response.get_data(as_text=True)
    with database.connection_context():
        assert Campaign.get_by_id(campaign.id).link_expiry_days == 0
        assert ShortLink.get_by_id(link.id).expires_at is None  # 0: never expires
    bad = logged_in_ops.post(f"/links/campaigns/{campaign.id}/expiry", data={"days": "-3"}, follow_redirects=True)
    assert "Number must be between 0 and 3650" in bad.get_data(as_text=True)
