"""The plugins API: listing, channel settings (masked, validated) and test messages."""
from __future__ import annotations

from campaigner.channels.config import stored_config
from campaigner.db import database
from tests.fixtures_plugins import fake_sms_gateway  # noqa: F401  (fixture)

SECRET = "api-token-6d1e-secret"


def test_ops_list_plugins_and_editors_may_not(client, api_token):
    listing = client.get("/api/v1/plugins", headers=api_token("ops"))
    assert listing.status_code == 200
    names = {c["name"] for c in listing.get_json()["channels"]}
    assert {"email", "sms", "chat", "miniprogram"} <= names
    denied = client.get("/api/v1/plugins", headers=api_token("editor"))
    assert denied.status_code == 403 and "error" in denied.get_json()


def test_developer_changes_settings_and_the_secret_comes_back_masked(client, api_token):
    headers = api_token("developer")
    saved = client.put("/api/v1/channels/sms/config", headers=headers,
                       json={"mode": "gateway", "url": "https://sms.example.com/send", "token": SECRET})
    assert saved.status_code == 200, saved.get_json()
    body = saved.get_json()
    assert body["config"]["token"] == "••••••" and body["problems"] == {}
    assert SECRET not in saved.get_data(as_text=True)

    # A partial change keeps the other settings, and a masked secret keeps its value.
    again = client.put("/api/v1/channels/sms/config", headers=headers, json={"signature": "【豆子】", "token": "••••••"})
    assert again.status_code == 200
    with database.connection_context():
        stored = stored_config("sms")
    assert stored["token"] == SECRET and stored["url"] == "https://sms.example.com/send" and stored["signature"] == "【豆子】"
    read = client.get("/api/v1/channels/sms/config", headers=api_token("ops"))
    assert read.get_json()["config"]["token"] == "••••••" and SECRET not in read.get_data(as_text=True)


def test_invalid_settings_answer_400_naming_each_field(client, api_token):
    headers = api_token("admin")
    bad = client.put("/api/v1/channels/email/config", headers=headers, json={"port": "x", "security": "tls"})
    assert bad.status_code == 400
    assert set(bad.get_json()["fields"]) == {"host", "port", "security", "from_address"}
    unknown = client.put("/api/v1/channels/email/config", headers=headers, json={"hots": "smtp.example.com"})
    assert unknown.status_code == 400 and unknown.get_json()["fields"] == {"hots": "unknown setting"}
    not_json = client.put("/api/v1/channels/email/config", headers=headers, data="host=x")
    assert not_json.status_code == 400
    assert client.put("/api/v1/channels/fax/config", headers=headers, json={}).status_code == 404
    assert client.put("/api/v1/channels/sms/config", headers=api_token("ops"), json={}).status_code == 403


def test_test_message_through_the_api(client, api_token, fake_sms_gateway):
    headers = api_token("developer")
    client.put("/api/v1/channels/sms/config", headers=headers, json={"mode": "gateway", "url": fake_sms_gateway.url})
    fake_sms_gateway.reply(200, {"id": "gw-api-1"})
    sent = client.post("/api/v1/channels/sms/test", headers=headers, json={"address": "+8613800138000", "text": "测试"})
    assert sent.status_code == 200 and sent.get_json()["provider_id"] == "gw-api-1"
    assert fake_sms_gateway.requests[0].json["to"] == "+8613800138000"

    fake_sms_gateway.reply(400, {"message": "blacklisted number"})
    refused = client.post("/api/v1/channels/sms/test", headers=headers, json={"address": "+8613800138000"})
    assert refused.status_code == 422
    assert refused.get_json() == {"error": "refused: HTTP 400: blacklisted number", "transient": False}
    assert client.post("/api/v1/channels/sms/test", headers=headers, json={}).status_code == 400
    assert client.post("/api/v1/channels/sms/test", headers=headers, json={"address": "0000"}).status_code == 422
    invalid = client.post("/api/v1/channels/email/test", headers=headers, json={"address": "a@b.example"})
    assert invalid.status_code == 400 and "host" in invalid.get_json()["fields"]


def test_openapi_documents_the_plugin_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/plugins", "/api/v1/channels/{name}/config", "/api/v1/channels/{name}/test"} <= set(paths)
    assert set(paths["/api/v1/channels/{name}/config"]) == {"get", "put"}
