"""The mini-program stub: subscription-message fields validated by type, written to an outbox."""
from __future__ import annotations

import pytest

from campaigner import ConfigError, PermanentError
from campaigner.channels.outbox import read_outbox
from campaigner.testing import assert_channel_conforms, make_contact, make_content
from tests.fixtures_plugins import bundled  # noqa: F401  (fixture)

FLASH_SALE = make_content(
    title="周三闪购开始",
    body="拿铁第二杯半价，仅限今天。",
    variants={"miniprogram": "thing1: {{ name }}的专属闪购\ndate2: 2025-05-07\nphrase3: 进行中\n"
                             "amount4: ¥19.90\npage: pages/flash/index?id=3"},
)


@pytest.fixture
def mini(bundled, tmp_path):
    return bundled.channel("miniprogram").with_config({"template_id": "TPL-flash-01"}, instance_path=str(tmp_path))


def fan(**fields):
    return make_contact(name="王芳", openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M", **fields)


def test_subscription_message_is_validated_and_written_to_the_outbox(mini, tmp_path):
    message = mini.render(FLASH_SALE, fan(), {})
    result = mini.send(message, "campaign:3:contact:9:miniprogram")
    assert result.provider_id == "outbox:campaign:3:contact:9:miniprogram"
    [record] = read_outbox(tmp_path / "outbox" / "miniprogram.jsonl")
    assert record["touser"] == "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    assert record["template_id"] == "TPL-flash-01"
    assert record["page"] == "pages/flash/index?id=3"
    assert record["data"] == {"thing1": {"value": "王芳的专属闪购"}, "date2": {"value": "2025-05-07"},
                              "phrase3": {"value": "进行中"}, "amount4": {"value": "¥19.90"}}
    assert record["miniprogram_state"] == "formal" and record["idempotency_key"] == "campaign:3:contact:9:miniprogram"


@pytest.mark.parametrize("line, problem", [
    ("thing1: " + "咖" * 21, "thing1: 21 characters; thing takes at most 20"),
    ("phrase2: 正在火热进行中", "phrase2: 7 characters; phrase takes at most 5"),
    ("number3: 12a", "number3: '12a' is not a valid number"),
    ("date4: next Tuesday", "date4: 'next Tuesday' is not a valid date"),
    ("name5: 欧阳司马诸葛上官皇甫令狐", "name5: 12 characters; name takes at most 10"),
    ("colour6: red", "colour6: unknown field type"),
])
def test_a_field_over_its_types_limit_fails_the_delivery_with_the_reason(mini, line, problem):
    content = make_content(variants={"miniprogram": line})
    with pytest.raises(PermanentError, match=problem.replace("(", r"\(").replace("?", r"\?")):
        mini.render(content, fan(), {})
    assert any(problem in str(w) for w in mini.check(line))


def test_without_a_variant_the_field_template_fills_in_the_title(bundled, tmp_path):
    channel = bundled.channel("miniprogram").with_config(
        {"template_id": "TPL-2", "fields": "thing1: {{ title }}\nthing2: {{ name }}，新品到店"},
        instance_path=str(tmp_path))
    message = channel.render(make_content(title="春季新品上市"), fan(), {})
    assert message.data == {"fields": {"thing1": "春季新品上市", "thing2": "王芳，新品到店"}, "page": "pages/index/index"}


def test_previews_check_a_body_against_the_templates_text_fields(bundled):
    channel = bundled.channel("miniprogram").with_config({"template_id": "T", "fields": "thing1: {{ text }}"})
    assert channel.check("短短一句") == []
    assert "thing1: 24 characters; thing takes at most 20" in str(channel.check("这是一段相当长的正文内容，超过了二十个字的上限啊")[0])


def test_a_contact_without_openid_is_unreachable(mini):
    assert mini.address(make_contact()) is None
    with pytest.raises(PermanentError, match="openid"):
        mini.render(FLASH_SALE, make_contact(), {})


def test_template_id_is_required(bundled):
    with pytest.raises(ConfigError) as caught:
        bundled.channel("miniprogram").with_config({})
    assert set(caught.value.errors) == {"template_id"}


def test_miniprogram_channel_conforms(bundled, tmp_path):
    assert_channel_conforms(bundled.channel("miniprogram"), {"template_id": "TPL-1"}, fan(),
                            content=FLASH_SALE, send=True, instance_path=str(tmp_path))
    assert len(read_outbox(tmp_path / "outbox" / "miniprogram.jsonl")) == 3
