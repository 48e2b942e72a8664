"""The Plugins page: who sees and changes what, validated settings, masked secrets, test messages."""
from __future__ import annotations

import re

from campaigner.audit.models import AuditLog
from campaigner.channels.config import stored_config
from campaigner.db import database
from campaigner.testing import FakeGateway
from tests.fixtures_plugins import configure_channel, fake_sms_gateway, plugins  # noqa: F401  (fixtures)

SECRET = "tok-3f9a-very-secret"


def page_text(response) -> str:
    return response.get_data(as_text=True)


def test_ops_see_plugins_and_channel_status_but_cannot_change_settings(login_as):
    ops = login_as("ops")
    page = page_text(ops.get("/plugins/", headers={"Accept-Language": "en"}))
    for name in ("campaigner_email", "campaigner_sms", "campaigner_chat", "campaigner_miniprogram", "register_channels"):
        assert name in page
    assert re.search(r'data-channel="email".*?invalid', page, re.S)
    assert re.search(r'data-channel="sms".*?valid', page, re.S)
    detail = page_text(ops.get("/plugins/channels/sms", headers={"Accept-Language": "en"}))
    assert "Developers and admins can change these settings." in detail and "<form" not in detail.split("<main>")[1]
    assert ops.post("/plugins/channels/sms", data={"config-f_mode": "outbox"}).status_code == 403
    assert ops.post("/plugins/channels/sms/test", data={"test-address": "+8613800138000"}).status_code == 403


def test_editors_may_not_see_the_plugins_page(login_as):
    assert login_as("editor").get("/plugins/").status_code == 403
    assert login_as("editor").get("/plugins/channels/sms").status_code == 403


def test_developer_sees_each_bad_field_and_nothing_is_saved(login_as, app):
    developer = login_as("developer")
    response = developer.post("/plugins/channels/email", headers={"Accept-Language": "en"}, data={
        "config-f_host": "", "config-f_port": "smtp", "config-f_security": "starttls",
        "config-f_from_address": "not-an-address"})
    assert response.status_code == 400
    page = page_text(response)
    assert page.count('aria-invalid="true"') == 3
    assert "required" in page and "not a whole number" in page and "not an email address" in page
    with database.connection_context():
        assert stored_config("email") == {}


def test_saved_settings_are_validated_and_the_secret_never_shown(login_as, app, caplog):
    developer = login_as("developer")
    response = developer.post("/plugins/channels/sms", data={
        "config-f_mode": "gateway", "config-f_url": "https://sms.example.com/send", "config-f_token": SECRET,
        "config-f_signature": "【豆子咖啡】", "config-f_opt_out_suffix": "回T退订", "config-f_timeout": "10"})
    assert response.status_code == 302
    with database.connection_context():
        assert stored_config("sms")["token"] == SECRET
        audit = AuditLog.get(AuditLog.object_type == "channel", AuditLog.object_id == "sms")
    assert SECRET not in str(audit.details) and audit.details["token"] == "••••••"

    page = page_text(developer.get("/plugins/channels/sms", headers={"Accept-Language": "en"}))
    assert SECRET not in page and "The settings are valid." in page
    assert "Set; leave empty to keep it." in page

    # Saving again with the secret left empty keeps it.
    developer.post("/plugins/channels/sms", data={
        "config-f_mode": "gateway", "config-f_url": "https://sms2.example.com/send", "config-f_token": "",
        "config-f_signature": "【豆子咖啡】", "config-f_timeout": "10"})
    with database.connection_context():
        assert stored_config("sms")["token"] == SECRET and stored_config("sms")["url"] == "https://sms2.example.com/send"

    for surface in (developer.get("/plugins/"), login_as("ops").get("/plugins/channels/sms"),
                    login_as("admin").get("/plugins/channels/sms")):
        assert SECRET not in page_text(surface)
    assert SECRET not in caplog.text


def test_a_field_set_by_the_environment_is_shown_read_only_and_masked(login_as, monkeypatch):
    monkeypatch.setenv("CAMPAIGNER_CHANNEL_SMS_TOKEN", SECRET)
    page = page_text(login_as("developer").get("/plugins/channels/sms", headers={"Accept-Language": "en"}))
    assert "Set by the environment variable CAMPAIGNER_CHANNEL_SMS_TOKEN" in page
    assert SECRET not in page and "••••••" in page
    assert 'name="config-f_token"' not in page


def test_developer_sends_a_test_message_through_the_gateway_with_htmx(login_as, configure_channel, fake_sms_gateway, app):
    configure_channel("sms", mode="gateway", url=fake_sms_gateway.url, token=SECRET, signature="【豆子咖啡】")
    fake_sms_gateway.reply(200, {"id": "gw-test-1"})
    developer = login_as("developer")
    response = developer.post("/plugins/channels/sms/test", headers={"HX-Request": "true", "Accept-Language": "en"},
                              data={"test-address": "+8613800138000", "test-text": "你好 {{ name }}，这是一条测试短信"})
    assert response.status_code == 200
    fragment = page_text(response)
    assert fragment.lstrip().startswith('<section class="card" id="test-message">')
    assert "Sent to +8613800138000." in fragment and "gw-test-1" in fragment
    [request] = fake_sms_gateway.requests
    assert request.json["text"] == "【豆子咖啡】你好 Test，这是一条测试短信 回T退订"
    assert request.headers["Idempotency-Key"].startswith("test:sms:")
    with database.connection_context():
        assert AuditLog.get(AuditLog.action == "test_sent").summary == "+8613800138000: sent"


def test_test_message_failures_are_explained_not_crashed(login_as, configure_channel, app):
    developer = login_as("admin")  # admins pass every check
    bad_number = developer.post("/plugins/channels/sms/test", headers={"Accept-Language": "en"},
                                data={"test-address": "12345", "test-text": "hi"})
    assert bad_number.status_code == 422 and "is not an address the sms channel can send to" in page_text(bad_number)

    invalid_config = developer.post("/plugins/channels/email/test", headers={"Accept-Language": "en"},
                                    data={"test-address": "fang@example.com", "test-text": "hi"})
    assert invalid_config.status_code == 400 and "The channel&#39;s settings are not valid" in page_text(invalid_config)

    with FakeGateway() as gateway:
        gateway.reply(503, {"error": "maintenance"})
        configure_channel("sms", mode="gateway", url=gateway.url)
        down = developer.post("/plugins/channels/sms/test", headers={"HX-Request": "true", "Accept-Language": "en"},
                              data={"test-address": "+8613800138000", "test-text": "hi"})
    assert down.status_code == 200 and "Not sent, try again later: HTTP 503: maintenance" in page_text(down)


def test_unknown_channel_is_404(login_as):
    assert login_as("developer").get("/plugins/channels/fax").status_code == 404


def test_plugins_page_in_chinese(login_as):
    page = page_text(login_as("ops").get("/plugins/", headers={"Accept-Language": "zh-CN"}))
    assert "渠道" in page and "钩子" in page
