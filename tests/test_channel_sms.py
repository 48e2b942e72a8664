"""The SMS channel: segment counting, composition, E.164, a real HTTP gateway on loopback, the outbox."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaigner import PermanentError, TransientError
from campaigner.channels.outbox import read_outbox
from campaigner.db import database
from campaigner.testing import FakeGateway, assert_channel_conforms, make_contact, make_content
from tests.fixtures_plugins import bundled, configure_channel, fake_sms_gateway, plugins  # noqa: F401  (fixtures)

CAMPAIGN = make_content(title="春季新品", body="{{ name }}您好，春季新品咖啡豆到店，会员八折：https://s.example.com/a1",
                        variants={"sms": "{{ name }}您好，春季新品到店，会员八折，详情 https://s.example.com/a1"})


@pytest.fixture
def segments(bundled):  # loading the bundled plugins makes campaigner_sms importable
    import campaigner_sms

    return campaigner_sms.segments


@pytest.fixture
def sms(bundled, fake_sms_gateway):
    return bundled.channel("sms").with_config({"mode": "gateway", "url": fake_sms_gateway.url + "v1/send",
                                                "token": "gw-token-123", "signature": "【豆子咖啡】", "timeout": 1})


@pytest.mark.parametrize("text, encoding, parts, per_part", [
    ("", "GSM-7", 0, 160),
    ("a" * 160, "GSM-7", 1, 160),
    ("a" * 161, "GSM-7", 2, 153),
    ("a" * 306, "GSM-7", 2, 153),
    ("a" * 307, "GSM-7", 3, 153),
    ("{" * 80, "GSM-7", 1, 160),  # extension characters count twice
    ("{" * 81, "GSM-7", 2, 153),
    ("咖" * 70, "UCS-2", 1, 70),
    ("咖" * 71, "UCS-2", 2, 67),
    ("咖" * 134, "UCS-2", 2, 67),
    ("咖" * 135, "UCS-2", 3, 67),
    ("a" * 69 + "咖", "UCS-2", 1, 70),  # one Chinese character makes the whole text UCS-2
    ("🎉" * 35, "UCS-2", 1, 70),  # an emoji takes two UTF-16 units
    ("🎉" * 36, "UCS-2", 2, 67),
])
def test_segments_count_like_carriers_bill(segments, text, encoding, parts, per_part):
    info = segments(text)
    assert (info.encoding, info.parts, info.per_part) == (encoding, parts, per_part)
    assert info.remaining >= 0


def test_check_warns_past_70_characters_with_chinese_text_including_signature_and_suffix(bundled):
    channel = bundled.channel("sms").with_config({"signature": "【豆子咖啡】"})
    short = "春季新品到店" * 9  # 54 + signature 6 + " 回T退订" 5 = 65
    assert channel.check(short) == []
    assert channel.check(short + "会员八折哦") == []  # exactly 70
    warnings = [str(w) for w in channel.check(short + "会员八折哦！")]  # 71 -> two parts
    assert len(warnings) == 1
    assert "71 characters" in warnings[0] and "2 SMS parts of 67" in warnings[0] and "UCS-2" in warnings[0]
    assert channel.check("Hello " * 20)  # the Chinese suffix makes any text UCS-2: 125 > 70
    english = bundled.channel("sms").with_config({"opt_out_suffix": "Reply STOP to opt out"})
    assert english.check("Hello " * 23) == []  # GSM-7: 137 + 21 = 158 fits in 160
    assert "2 SMS parts of 153" in str(english.check("Hello " * 24)[0])  # 164


def test_render_adds_signature_and_opt_out_suffix_once(sms):
    contact = make_contact(name="王芳", phone="+86 138-0013-8000")
    message = sms.render(CAMPAIGN, contact, {})
    assert message.to == "+8613800138000"
    assert message.body == "【豆子咖啡】王芳您好，春季新品到店，会员八折，详情 https://s.example.com/a1 回T退订"
    assert message.data["encoding"] == "UCS-2" and message.data["segments"] == 1
    already = make_content(variants={"sms": "【豆子咖啡】今日特价 回T退订"})
    assert sms.render(already, contact, {}).body == "【豆子咖啡】今日特价 回T退订"


@pytest.mark.parametrize("number", ["13800138000", "+86 123", "+1 555 0100", "not a number", ""])
def test_numbers_that_are_not_valid_e164_are_unreachable(sms, number):
    contact = make_contact(phone=number)
    assert sms.address(contact) is None
    with pytest.raises(PermanentError, match="E.164"):
        sms.render(CAMPAIGN, contact, {})


def test_gateway_receives_the_sms_with_token_and_idempotency_key(sms, fake_sms_gateway):
    fake_sms_gateway.reply(200, {"id": "gw-msg-42"})
    message = sms.render(CAMPAIGN, make_contact(name="王芳", phone="+8613800138000"), {})
    result = sms.send(message, "campaign:7:contact:3:sms")
    assert result.provider_id == "gw-msg-42"
    [request] = fake_sms_gateway.requests
    assert (request.method, request.path) == ("POST", "/v1/send")
    assert request.headers["Authorization"] == "Bearer gw-token-123"
    assert request.headers["Idempotency-Key"] == "campaign:7:contact:3:sms"
    assert request.json == {"to": "+8613800138000", "text": message.body, "signature": "【豆子咖啡】",
                            "idempotency_key": "campaign:7:contact:3:sms"}


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_gateway_5xx_or_429_is_transient(sms, fake_sms_gateway, status):
    fake_sms_gateway.reply(status, {"error": "upstream busy"}, headers={"Retry-After": "30"})
    message = sms.render(CAMPAIGN, make_contact(phone="+8613800138000"), {})
    with pytest.raises(TransientError, match=f"HTTP {status}: upstream busy") as caught:
        sms.send(message, "k-1")
    assert caught.value.retry_after == 30


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_gateway_4xx_is_permanent_with_its_reason(sms, fake_sms_gateway, status):
    fake_sms_gateway.reply(status, {"message": "invalid mobile number"})
    message = sms.render(CAMPAIGN, make_contact(phone="+8613800138000"), {})
    with pytest.raises(PermanentError, match=f"HTTP {status}: invalid mobile number"):
        sms.send(message, "k-1")


def test_gateway_timing_out_is_transient(sms, fake_sms_gateway):
    fake_sms_gateway.reply(200, {"id": "late"}, delay=5)  # the channel waits 1 s
    message = sms.render(CAMPAIGN, make_contact(phone="+8613800138000"), {})
    with pytest.raises(TransientError, match="no answer within 1 s"):
        sms.send(message, "k-1")


def test_gateway_down_is_transient(sms):
    from campaigner.testing import _free_port

    down = sms.with_config({**sms.config, "url": f"http://127.0.0.1:{_free_port()}/send"})
    with pytest.raises(TransientError, match="connection failed"):
        down.send(down.render(CAMPAIGN, make_contact(phone="+8613800138000"), {}), "k-1")


def test_outbox_mode_writes_each_message_as_a_json_line_in_the_instance_folder(app, plugins, configure_channel):
    configure_channel("sms", signature="【豆子咖啡】")  # mode defaults to outbox
    with database.connection_context():
        channel = plugins.configured_channel("sms")
    for name, phone in [("王芳", "+8613800138000"), ("Li Lei", "+8613900139000")]:
        contact = make_contact(name=name, phone=phone)
        channel.send(channel.render(CAMPAIGN, contact, {}), f"k-{phone}")
    path = Path(app.config["CAMPAIGNER"]["INSTANCE_PATH"]) / "outbox" / "sms.jsonl"
    records = read_outbox(path)
    assert [r["to"] for r in records] == ["+8613800138000", "+8613900139000"]
    assert records[0]["text"].startswith("【豆子咖啡】王芳您好") and records[0]["text"].endswith("回T退订")
    assert records[1]["idempotency_key"] == "k-+8613900139000" and records[1]["segments"] == 1
    assert all(json.loads(line) for line in path.read_text("utf-8").splitlines())


def test_gateway_mode_needs_a_url_and_declares_dedupe_when_told(bundled):
    from campaigner import ConfigError

    channel = bundled.channel("sms")
    with pytest.raises(ConfigError) as caught:
        channel.with_config({"mode": "gateway"})
    assert set(caught.value.errors) == {"url"}
    assert channel.with_config({"mode": "gateway", "url": "https://sms.example.com/send"}).capabilities.provider_dedupes is False
    deduping = channel.with_config({"mode": "gateway", "url": "https://sms.example.com/send", "gateway_dedupes": "yes",
                                    "rate_limit_per_minute": "600"})
    assert deduping.capabilities.provider_dedupes is True
    assert deduping.capabilities.rate_limit_per_minute == 600
    assert channel.capabilities.provider_dedupes is False  # the template keeps its declaration


def test_sms_channel_conforms_against_the_gateway(bundled):
    with FakeGateway() as gateway:
        assert_channel_conforms(bundled.channel("sms"),
                                {"mode": "gateway", "url": gateway.url, "token": "s3cret-token-9",
                                 "signature": "【豆子】"},
                                make_contact(phone="+8613800138000"), send=True)
        assert len(gateway.requests) == 3


def test_sms_channel_conforms_in_outbox_mode(bundled, tmp_path):
    configured = assert_channel_conforms(bundled.channel("sms"), {"outbox_path": str(tmp_path / "sms.jsonl")},
                                         make_contact(phone="+8613800138000"), send=True)
    assert len(read_outbox(tmp_path / "sms.jsonl")) == 3
    assert configured.setting("mode") == "outbox"
