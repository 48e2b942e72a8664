"""The short-link and analytics API: what integrations and scripts do, and the 4xx they get for bad input."""
from __future__ import annotations

import datetime as dt

from campaigner.db import database
from tests.fixtures_engine import channels, deliveries_of, make_contacts, make_content, new_campaign, run_campaign  # noqa: F401
from tests.fixtures_links import BROWSER, clicks_written_before_teardown, flush_clicks, follow, links_of_delivery  # noqa: F401


def test_script_makes_a_link_changes_its_target_and_reads_its_clicks(app, client, api_token):
    editor = api_token("editor")
    made = client.post("/api/v1/links", json={"target": "https://shop.example.com/a", "label": "QR 1",
                                              "expires_in_days": 10}, headers=editor)
    assert made.status_code == 201
    link = made.get_json()
    assert link["short_url"] == f"http://127.0.0.1:8000/s/{link['code']}" and link["clicks"] == 0
    follow(client, link["code"])
    changed = client.patch(f"/api/v1/links/{link['code']}", json={"target": "https://shop.example.com/b"},
                           headers=editor)
    assert changed.status_code == 200 and changed.get_json()["target"] == "https://shop.example.com/b"
    assert follow(client, link["code"]).headers["Location"] == "https://shop.example.com/b"
    flush_clicks(app)
    read = client.get(f"/api/v1/links/{link['code']}", headers=api_token("developer")).get_json()
    assert (read["clicks"], read["unique_visitors"], read["bot_clicks"]) == (2, 1, 0)
    days = client.get(f"/api/v1/links/{link['code']}/clicks", headers=editor).get_json()["days"]
    assert sum(d["clicks"] for d in days) == 2
    listed = client.get("/api/v1/links?q=QR", headers=editor).get_json()
    assert listed["total"] == 1 and listed["items"][0]["code"] == link["code"]
    never = client.patch(f"/api/v1/links/{link['code']}", json={"expires_at": None}, headers=editor).get_json()
    assert never["expires_at"] is None


def test_bad_link_requests_get_4xx_json(client, api_token):
    editor = api_token("editor")
    cases = [
        ({"target": "ftp://files.example.com/x"}, 422),
        ({"target": 5}, 400),
        ({}, 400),
        ({"target": "https://a.example.com", "expires_at": "next tuesday"}, 400),
        ({"target": "https://a.example.com", "expires_in_days": 0}, 400),
        ({"target": "https://a.example.com", "expires_in_days": 3, "expires_at": "2030-01-01T00:00:00Z"}, 400),
        ({"target": "https://a.example.com", "colour": "red"}, 400),
    ]
    for body, status in cases:
        response = client.post("/api/v1/links", json=body, headers=editor)
        assert response.status_code == status, (body, response.get_json())
        assert response.get_json()["error"]
    assert client.post("/api/v1/links", data="not json", headers=editor).status_code == 400
    assert client.post("/api/v1/links", json={"target": "https://a.example.com"},
                       headers=api_token("developer")).status_code == 403
    assert client.get("/api/v1/links/NOSUCHCODE", headers=editor).status_code == 404
    assert client.get("/api/v1/links?limit=100000", headers=editor).status_code == 400


def test_link_expiry_given_with_an_offset_is_kept_in_utc(client, api_token):
    made = client.post("/api/v1/links", json={"target": "https://a.example.com", "expires_at": "2031-01-01T08:00:00+08:00"},
                       headers=api_token("ops")).get_json()
    assert made["expires_at"] == "2031-01-01T00:00:00Z"


def test_campaign_link_expiry_set_and_issued_links_redated(app, channels, client, api_token):
    from campaigner.links.models import ShortLink

    make_contacts(2)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    ops = api_token("ops")
    response = client.put(f"/api/v1/campaigns/{campaign.id}/link-expiry", json={"days": 90, "redate_issued": True},
                          headers=ops)
    assert response.status_code == 200 and response.get_json()["redated"] == 2
    with database.connection_context():
        for link in ShortLink.select():
            assert abs(link.expires_at - link.created_at - dt.timedelta(days=90)) < dt.timedelta(seconds=1)
    assert client.put(f"/api/v1/campaigns/{campaign.id}/link-expiry", json={"days": -1}, headers=ops).status_code == 422
    assert client.put("/api/v1/campaigns/999/link-expiry", json={"days": 3}, headers=ops).status_code == 404
    assert client.put(f"/api/v1/campaigns/{campaign.id}/link-expiry", json={}, headers=ops).status_code == 400


def test_analytics_api_gives_the_funnel_channels_days_and_goals(app, channels, client, api_token):
    make_contacts(2)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    follow(client, link.code, BROWSER)
    flush_clicks(app)
    reader, ops = api_token("editor"), api_token("ops")
    funnel = client.get(f"/api/v1/analytics/campaigns/{campaign.id}/funnel", headers=reader).get_json()
    assert {k: funnel["funnel"][k] for k in ("targeted", "sent", "delivered", "clicked", "converted")} == {
        "targeted": 2, "sent": 2, "delivered": 2, "clicked": 1, "converted": 0}
    assert funnel["funnel"]["rates"]["clicked"] == 50.0 and funnel["channels"]["rec"]["clicked"] == 1
    assert client.put("/api/v1/analytics/channel-costs/rec", json={"cost_per_message": "0.1"},
                      headers=ops).status_code == 200
    assert client.put("/api/v1/analytics/channel-costs/rec", json={"cost_per_message": "free"},
                      headers=ops).status_code == 400
    assert client.put("/api/v1/analytics/channel-costs/rec", json={"cost_per_message": 1},
                      headers=reader).status_code == 403
    rows = client.get("/api/v1/analytics/channels", headers=reader).get_json()["channels"]
    assert rows[0]["channel"] == "rec" and rows[0]["cost"] == "0.20" and rows[0]["cost_per_click"] == "0.20"
    days = client.get("/api/v1/analytics/daily", headers=reader).get_json()["days"]
    assert len(days) == 30 and sum(d["clicks"] for d in days) == 1
    assert client.get("/api/v1/analytics/daily?start=2026-13-01", headers=reader).status_code == 400
    goal = client.post("/api/v1/analytics/goals", json={"name": "Clicks", "metric": "unique_clicks", "target": 1,
                                                        "period_start": "2020-01-01", "period_end": "2099-12-31"},
                       headers=ops)
    assert goal.status_code == 201 and goal.get_json()["reached"] is True
    assert client.post("/api/v1/analytics/goals", json={"name": "x", "metric": "happiness", "target": 1,
                                                        "period_start": "2020-01-01", "period_end": "2020-02-01"},
                       headers=ops).status_code == 400
    goals = client.get("/api/v1/analytics/goals", headers=reader).get_json()["items"]
    assert [g["name"] for g in goals] == ["Clicks"]
    assert client.delete(f"/api/v1/analytics/goals/{goals[0]['id']}", headers=ops).status_code == 204
    assert client.get("/api/v1/analytics/rfm", headers=reader).get_json() == {"days": [], "segments": {
        s: [] for s in ("A", "B", "C", "D", "E", "F", "G", "H", "super-user")}}
    assert client.post("/api/v1/analytics/attribution", headers=ops).get_json() == {"conversions": 0}
    assert client.get("/api/v1/analytics/campaigns/999/funnel", headers=reader).status_code == 404


def test_openapi_document_lists_link_and_analytics_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/links", "/api/v1/links/{code}", "/api/v1/links/{code}/clicks",
                 "/api/v1/campaigns/{campaign_id}/link-expiry", "/api/v1/analytics/campaigns/{campaign_id}/funnel",
                 "/api/v1/analytics/channels", "/api/v1/analytics/daily", "/api/v1/analytics/goals"):
        assert path in paths, path
