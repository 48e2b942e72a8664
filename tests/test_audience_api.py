"""The audience JSON API: contacts, tags, segments with counts, orders, RFM; bad input is a 4xx with a message."""
from __future__ import annotations

import pytest

from campaigner.audience.models import Contact, Order
from campaigner.db import database


@pytest.fixture
def dev(api_token):
    # The audience API's client is an editor: editors manage the audience, developers see no personal data.
    return api_token("editor")


def test_editor_creates_reads_and_updates_a_contact(client, dev):
    created = client.post("/api/v1/contacts", headers=dev, json={
        "external_id": "CRM-1", "name": "王芳", "phone": "138 0013 8000", "email": "Fang@Example.com",
        "attributes": {"city": "上海"}, "tags": ["vip", "渠道:门店"]})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["phone"] == "+8613800138000" and body["email"] == "fang@example.com"
    assert body["tags"] == ["vip", "渠道:门店"]
    changed = client.patch(f"/api/v1/contacts/{body['id']}", headers=dev,
                           json={"name": "王芳芳", "attributes": {"level": "gold", "city": None}})
    assert changed.status_code == 200
    assert changed.json["name"] == "王芳芳" and changed.json["attributes"] == {"level": "gold"}
    assert client.get(f"/api/v1/contacts/{body['id']}", headers=dev).json["external_id"] == "CRM-1"


@pytest.mark.parametrize("payload, status, field", [
    ({"phone": "12345"}, 422, "phone"),
    ({"email": "nope"}, 422, "email"),
    ({"name": "nobody"}, 422, None),
    ({"phone": "13800138000", "timezone": "Mars/Base"}, 422, "timezone"),
    ({"phone": "13800138000", "colour": "red"}, 400, None),
    ({"phone": "13800138000", "tags": "vip"}, 400, "tags"),
])
def test_bad_contacts_are_refused_with_a_reason(client, dev, payload, status, field):
    response = client.post("/api/v1/contacts", headers=dev, json=payload)
    assert response.status_code == status
    assert response.json["error"]
    if field:
        assert response.json["field"] == field
    with database.connection_context():
        assert Contact.select().count() == 0


def test_a_taken_external_id_is_a_conflict(client, dev):
    client.post("/api/v1/contacts", headers=dev, json={"external_id": "A"})
    assert client.post("/api/v1/contacts", headers=dev, json={"external_id": "A"}).status_code == 409


def test_bulk_upsert_is_all_or_nothing_unless_asked(client, dev):
    batch = [{"external_id": "B1", "phone": "13800000001", "tags": ["vip"]},
             {"external_id": "B2", "phone": "not a phone"},
             {"phone": "13800000001", "name": "same as B1", "opt_outs": ["sms"]}]
    refused = client.post("/api/v1/contacts/bulk", headers=dev, json={"contacts": batch})
    assert refused.status_code == 422
    assert refused.json["errors"] == [{"index": 1, "field": "phone", "reason": "“not a phone” is not a phone number",
                                       "code": "phone_not_a_number", "params": {"value": "not a phone"}}]
    with database.connection_context():
        assert Contact.select().count() == 0
    done = client.post("/api/v1/contacts/bulk", headers=dev, json={"contacts": batch, "skip_bad": True})
    assert done.status_code == 200 and done.json["created"] == 1 and done.json["skipped"] == 1
    with database.connection_context():
        b1 = Contact.get(Contact.external_id == "B1")
        assert b1.name == "same as B1"  # the third item matched B1 by phone
    detail = client.get(f"/api/v1/contacts/{b1.id}", headers=dev).json
    assert detail["tags"] == ["vip"] and [o["channel"] for o in detail["opt_outs"]] == ["sms"]


def test_tag_untag_and_opt_out(client, dev):
    contact = client.post("/api/v1/contacts", headers=dev, json={"phone": "13800138000"}).json
    url = f"/api/v1/contacts/{contact['id']}"
    assert client.post(f"{url}/tags", headers=dev, json={"tags": ["vip", "level:gold"]}).json["added"] == [
        "level:gold", "vip"]
    assert client.post(f"{url}/tags", headers=dev, json={"tags": ["vip"]}).json["added"] == []
    removed = client.post(f"{url}/untag", headers=dev, json={"tags": ["vip", "never-had"]}).json
    assert removed == {"removed": ["vip"], "tags": ["level:gold"]}
    opted = client.post(f"{url}/opt-out", headers=dev, json={"channel": "sms", "source": "call centre"}).json
    assert opted["changed"] is True and opted["opt_outs"][0]["source"] == "call centre"
    assert client.post("/api/v1/audience/count", headers=dev, json={"expression": "", "channel": "sms"}).json[
        "count"] == 0
    assert client.post(f"{url}/opt-out", headers=dev, json={"channel": "fax"}).status_code == 422
    timeline = client.get(f"{url}/timeline", headers=dev).json["items"]
    assert {("opted_out", "sms"), ("tag_removed", "vip"), ("tag_added", "vip"), ("tag_added", "level:gold")} <= {
        (e["kind"], e["summary"]) for e in timeline}


def test_tags_list_and_create(client, dev):
    assert client.post("/api/v1/tags", headers=dev, json={"key": "渠道:门店"}).status_code == 201
    assert client.post("/api/v1/tags", headers=dev, json={"key": "渠道:门店"}).status_code == 409
    assert client.post("/api/v1/tags", headers=dev, json={"key": ":x"}).status_code == 422
    listed = client.get("/api/v1/tags", headers=dev).json
    assert listed["groups"] == ["渠道"] and listed["items"][0]["key"] == "渠道:门店"


def test_segments_carry_their_count_and_bad_expressions_say_where(client, dev, api_token):
    for i in range(3):
        client.post("/api/v1/contacts", headers=dev, json={"phone": f"1380000000{i}", "tags": ["vip"] if i else []})
    editor = api_token("editor")
    saved = client.post("/api/v1/segments", headers=editor, json={"name": "VIPs", "expression": "tag:vip"})
    assert saved.status_code == 201 and saved.json["count"] == 2
    assert client.get("/api/v1/segments", headers=dev).json["items"][0]["count"] == 2
    bad = client.post("/api/v1/segments", headers=editor, json={"name": "Broken", "expression": "tag:vip AND"})
    assert bad.status_code == 400 and bad.json["position"] == 11
    clash = client.post("/api/v1/segments", headers=editor, json={"name": "VIPs", "expression": ""})
    assert clash.status_code == 409
    patched = client.patch(f"/api/v1/segments/{saved.json['id']}", headers=editor, json={"expression": "NOT tag:vip"})
    assert patched.json["count"] == 1
    counted = client.post("/api/v1/audience/count", headers=dev, json={"expression": "tag:vip OR"})
    assert counted.status_code == 400 and counted.json["position"] == 10
    assert client.delete(f"/api/v1/segments/{saved.json['id']}", headers=editor).status_code == 204


def test_orders_feed_rfm(client, dev):
    contact = client.post("/api/v1/contacts", headers=dev, json={"external_id": "C1"}).json
    one = client.post("/api/v1/orders", headers=dev, json={
        "contact": {"external_id": "C1"}, "amount": "199.90", "occurred_at": "2024-05-01T10:00:00+08:00",
        "order_id": "O-1"})
    assert one.status_code == 201
    assert one.json["created"][0]["occurred_at"] == "2024-05-01T02:00:00Z"
    many = client.post("/api/v1/orders", headers=dev, json={"orders": [
        {"contact": contact["id"], "amount": 10, "occurred_at": "2024-05-02", "order_id": "O-1"},
        {"contact": contact["id"], "amount": "20", "occurred_at": "2024-05-03", "order_id": "O-2"}]})
    assert many.json["skipped_existing"] == 1 and len(many.json["created"]) == 1
    bad = client.post("/api/v1/orders", headers=dev, json={"orders": [
        {"contact": contact["id"], "amount": "5", "occurred_at": "2024-05-04"},
        {"contact": {"external_id": "missing"}, "amount": "5", "occurred_at": "2024-05-04"}]})
    assert bad.status_code == 422 and bad.json["index"] == 1
    assert client.post("/api/v1/orders", headers=dev, json={"contact": contact["id"], "amount": "-1",
                                                            "occurred_at": "2024-05-04"}).status_code == 422
    with database.connection_context():
        assert Order.select().count() == 2
    report = client.post("/api/v1/rfm/recompute", headers=dev, json={}).json["report"]
    assert report["contacts"] == 1 and report["total_gmv"] == "219.90"
    assert client.get(f"/api/v1/contacts/{contact['id']}", headers=dev).json["tags"] == ["rfm:H", "super-user"]
    assert client.get("/api/v1/orders", headers=dev, query_string={"contact_id": contact["id"]}).json["total"] == 2


def test_roles_guard_writes(client, api_token):
    ops = api_token("ops")
    assert client.post("/api/v1/contacts", headers=ops, json={"phone": "13800138000"}).status_code == 403
    assert client.get("/api/v1/contacts", headers=ops).status_code == 200
    assert client.post("/api/v1/contacts", json={"phone": "13800138000"}).status_code == 401


def test_contacts_list_filters_by_expression_and_pages(client, dev):
    for i in range(5):
        client.post("/api/v1/contacts", headers=dev, json={"external_id": f"L{i}", "tags": ["even"] if i % 2 == 0 else []})
    page = client.get("/api/v1/contacts", headers=dev, query_string={"expression": "tag:even", "limit": 2}).json
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next"]
    rest = client.get("/api/v1/contacts", headers=dev,
                      query_string={"expression": "tag:even", "limit": 2, "cursor": page["next"]}).json
    assert len(rest["items"]) == 1 and rest["next"] is None
    assert {c["external_id"] for c in page["items"] + rest["items"]} == {"L0", "L2", "L4"}
    assert client.get("/api/v1/contacts", headers=dev, query_string={"expression": "tag:"}).status_code == 400
    assert client.get("/api/v1/contacts", headers=dev, query_string={"limit": 0}).status_code == 400


def test_every_audience_endpoint_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/contacts", "/api/v1/contacts/bulk", "/api/v1/contacts/{contact_id}/tags",
                 "/api/v1/contacts/{contact_id}/untag", "/api/v1/contacts/{contact_id}/opt-out", "/api/v1/tags",
                 "/api/v1/segments", "/api/v1/segments/{segment_id}", "/api/v1/orders", "/api/v1/audience/count",
                 "/api/v1/rfm/recompute"):
        assert path in paths, path


def test_a_segment_a_campaign_targets_cannot_be_deleted(client, api_token, logged_in_editor):
    """Deleting it would leave the campaign with no audience, which means everyone."""
    from campaigner.audience.models import Segment
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem

    editor = api_token("editor")
    segment = client.post("/api/v1/segments", headers=editor, json={"name": "VIPs", "expression": "tag:vip"}).json
    with database.connection_context():
        content = ContentItem.create(title="Latte", slug="latte", body="hi")
        campaign = Campaign.create(name="Friday", content=content, segment=segment["id"])
    refused = client.delete(f"/api/v1/segments/{segment['id']}", headers=editor)
    assert refused.status_code == 409 and f"campaign #{campaign.id}" in refused.json["error"]
    page = logged_in_editor.post(f"/audience/segments/{segment['id']}/delete")
    assert "still used" in logged_in_editor.get(page.headers["Location"]).get_data(as_text=True)
    with database.connection_context():
        assert Segment.get_or_none(Segment.id == segment["id"]) is not None
        Campaign.delete().execute()
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=editor).status_code == 204
