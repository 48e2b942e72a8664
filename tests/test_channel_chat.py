"""The chat channel: WeCom group robots and a generic JSON webhook, against HTTP servers on loopback."""
from __future__ import annotations

import pytest

from campaigner import PermanentError, TransientError
from campaigner.testing import FakeGateway, Reply, assert_channel_conforms, make_contact, make_content
from tests.fixtures_plugins import bundled, fake_chat_webhook  # noqa: F401  (fixtures)

POST = make_content(title="周三闪购", body="**周三闪购** {{ name | 各位 }}：拿铁第二杯半价，[点这里](https://s.example.com/w3)")


@pytest.fixture
def chat_module(bundled):
    import campaigner_chat

    return campaigner_chat


@pytest.fixture
def wecom(bundled, fake_chat_webhook):
    return bundled.channel("chat").with_config({"url": fake_chat_webhook.url + "cgi-bin/webhook/send", "timeout": 1})


def robot(key: str):
    return make_contact(name="咖啡爱好者 3 群", chat_id=key)


def test_wecom_robot_receives_a_markdown_message(wecom, fake_chat_webhook):
    message = wecom.render(POST, robot("robot-key-1"), {})
    result = wecom.send(message, "k-1")
    [request] = fake_chat_webhook.requests
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": ["robot-key-1"]}
    assert request.json == {"msgtype": "markdown", "markdown": {
        "content": "**周三闪购** 咖啡爱好者 3 群：拿铁第二杯半价，[点这里](https://s.example.com/w3)"}}
    assert result.details == {"msgtype": "markdown"}


def test_wecom_text_type_sends_plain_text(bundled, fake_chat_webhook):
    channel = bundled.channel("chat").with_config({"url": fake_chat_webhook.url, "msgtype": "text"})
    channel.send(channel.render(POST, robot("k2"), {}), "k-1")
    assert fake_chat_webhook.requests[0].json == {"msgtype": "text", "text": {
        "content": "周三闪购 咖啡爱好者 3 群：拿铁第二杯半价，点这里 (https://s.example.com/w3)"}}


def test_twenty_messages_a_minute_per_robot_then_transient_with_retry_after(bundled, fake_chat_webhook, chat_module,
                                                                          monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(chat_module, "robot_limiter", chat_module.RateLimiter(clock=lambda: clock[0]))
    channel = bundled.channel("chat").with_config({"url": fake_chat_webhook.url})
    assert channel.capabilities.rate_limit_per_address_per_minute == 20
    busy, other = channel.render(POST, robot("busy-robot"), {}), channel.render(POST, robot("quiet-robot"), {})
    for i in range(20):
        channel.send(busy, f"k-{i}")
        clock[0] += 1
    with pytest.raises(TransientError, match="limit of 20 messages a minute") as caught:
        channel.send(busy, "k-20")
    assert caught.value.retry_after == 40.0  # the first of the 20 was 20 s ago
    channel.send(other, "k-other")  # the limit is per robot
    assert len(fake_chat_webhook.requests) == 21
    clock[0] += 40
    channel.send(busy, "k-21")  # a minute after the first, a slot is free again
    assert len(fake_chat_webhook.requests) == 22


@pytest.mark.parametrize("errcode, error", [(45009, TransientError), (-1, TransientError),
                                            (93000, PermanentError), (40058, PermanentError)])
def test_wecom_error_codes(wecom, fake_chat_webhook, errcode, error):
    fake_chat_webhook.reply(200, {"errcode": errcode, "errmsg": "from wecom"})
    with pytest.raises(error, match=f"WeCom {errcode}: from wecom"):
        wecom.send(wecom.render(POST, robot("k"), {}), "k-1")


def test_wecom_http_5xx_and_timeouts_are_transient_4xx_permanent(wecom, fake_chat_webhook):
    message = wecom.render(POST, robot("k"), {})
    fake_chat_webhook.reply(502, "bad gateway")
    with pytest.raises(TransientError, match="HTTP 502"):
        wecom.send(message, "k-1")
    fake_chat_webhook.reply(404, "not found")
    with pytest.raises(PermanentError, match="HTTP 404"):
        wecom.send(message, "k-2")
    fake_chat_webhook.reply(200, {"errcode": 0}, delay=5)
    with pytest.raises(TransientError, match="no answer within 1 s"):
        wecom.send(message, "k-3")


def test_too_long_for_a_robot_is_refused_at_render_and_warned_in_previews(wecom):
    long = make_content(body="咖啡" * 700)  # 4200 bytes of UTF-8 > 4096
    with pytest.raises(PermanentError, match="4200 bytes"):
        wecom.render(long, robot("k"), {})
    assert "4200 bytes" in str(wecom.check("咖啡" * 700)[0])
    assert wecom.check("咖啡" * 600) == []


def test_generic_json_webhook_receives_text_markdown_and_key(bundled):
    with FakeGateway() as hook:
        hook.responder = lambda request: Reply(201, {"id": f"hook-{request.json['to']}"})
        channel = bundled.channel("chat").with_config({"provider": "json", "url": hook.url + "inbound",
                                                         "token": "hook-secret"})
        assert channel.capabilities.rate_limit_per_address_per_minute is None
        result = channel.send(channel.render(POST, make_contact(name="王芳", chat_id="wx-fang"), {}), "k-9")
        assert result.provider_id == "hook-wx-fang"
        [request] = hook.requests
        assert request.path == "/inbound"
        assert request.headers["Authorization"] == "Bearer hook-secret" and request.headers["Idempotency-Key"] == "k-9"
        assert request.json == {"to": "wx-fang", "idempotency_key": "k-9",
                                "markdown": "**周三闪购** 王芳：拿铁第二杯半价，[点这里](https://s.example.com/w3)",
                                "text": "周三闪购 王芳：拿铁第二杯半价，点这里 (https://s.example.com/w3)"}


def test_json_provider_needs_its_own_url(bundled):
    from campaigner import ConfigError

    with pytest.raises(ConfigError) as caught:
        bundled.channel("chat").with_config({"provider": "json"})
    assert set(caught.value.errors) == {"url"}


def test_chat_channel_conforms_with_a_wecom_robot(bundled, fake_chat_webhook):
    assert_channel_conforms(bundled.channel("chat"), {"url": fake_chat_webhook.url}, robot("conformance-robot"),
                            send=True, expect_in_message="咖啡爱好者 3 群")


def test_chat_channel_conforms_with_a_json_webhook(bundled):
    with FakeGateway() as hook:
        assert_channel_conforms(bundled.channel("chat"), {"provider": "json", "url": hook.url, "token": "tok-secret-1"},
                                make_contact(chat_id="wx-1"), send=True)
