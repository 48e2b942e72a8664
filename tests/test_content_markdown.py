"""Markdown editors use (strikethrough, tables, task lists) reads right on every channel: no syntax left over
where a channel shows plain text, and the sample library checked item by item, channel by channel."""
from __future__ import annotations

import nh3
import pytest

from campaigner import PermanentError
from campaigner.content.library_files import SAMPLE_LIBRARY, read_item_file
from campaigner.content.models import ContentItem
from campaigner.content.rendering import STROKE, markdown_to_html, markdown_to_text, strike
from campaigner.testing import DEFAULT_CONTEXT, make_contact
from tests.fixtures_plugins import bundled  # noqa: F401  (fixture)

LEFTOVER = ("~~", "**", "](")
SAMPLES = sorted(SAMPLE_LIBRARY.rglob("*.md"))
READER = make_contact(name="王芳", email="fang@example.com", phone="+8613800138000", chat_id="robot-key",
                      openid="o-openid-1", external_id="C1")
CHANNEL_CONFIGS = {  # every channel, and the chat channel in both of its message types
    "email": ("email", {"host": "127.0.0.1", "from_address": "hello@beans.example"}),
    "sms": ("sms", {"mode": "outbox"}),
    "chat (markdown)": ("chat", {"msgtype": "markdown"}),
    "chat (text)": ("chat", {"msgtype": "text"}),
    "miniprogram": ("miniprogram", {"template_id": "tmpl-1", "fields": "thing1: {{ title }}"}),
}


def _visible(html: str) -> str:
    return nh3.clean(html, tags=set())


def _what_the_reader_sees(name: str, message) -> list[str]:
    if name == "email":
        return [message.subject, message.body, _visible(message.html)]
    if name == "chat (markdown)":
        # WeCom renders **bold** and [links](…) itself; what it cannot show is ~~, so it must be gone.
        return [message.body.replace("**", "").replace("](", ""), message.data["text"]]
    return [message.body]


def test_the_sample_library_is_there():
    assert len(SAMPLES) >= 20
    assert any("~~" in path.read_text("utf-8") for path in SAMPLES)  # the flash sale's struck prices


@pytest.mark.parametrize("name", sorted(CHANNEL_CONFIGS))
def test_every_sample_item_renders_without_leftover_markdown(bundled, name):
    channel_name, config = CHANNEL_CONFIGS[name]
    channel = bundled.channel(channel_name).with_config(config)
    rendered = 0
    for path in SAMPLES:
        data = read_item_file(path)
        item = ContentItem(**{k: v for k, v in data.items() if k != "status"}, status="approved")
        try:
            message = channel.render(item, READER, dict(DEFAULT_CONTEXT))
        except PermanentError as exc:
            # The mini-program's fields have hard limits: refusing too long a title is the channel's rule.
            assert channel_name == "miniprogram" and "characters" in str(exc), (path.name, exc)
            continue
        rendered += 1
        for text in _what_the_reader_sees(name, message):
            found = [syntax for syntax in LEFTOVER if syntax in (text or "")]
            assert not found, f"{path.name} on {name}: {found} in {text!r}"
    assert rendered >= len(SAMPLES) // 2, f"only {rendered} of {len(SAMPLES)} samples rendered on {name}"


def test_the_flash_sale_keeps_its_old_price_struck_through_in_text(bundled):
    data = read_item_file(SAMPLE_LIBRARY / "coffee" / "coffee-community-wednesday-flash.md")
    text = markdown_to_text(data["body"])
    assert strike("98 元") in text and "68 元" in text and "~~" not in text
    assert f"9{STROKE}8{STROKE} 元" in text and f"元{STROKE}" not in text  # a stroke over 元 would read as 日
    assert "<del>98 元</del>" in markdown_to_html(data["body"])


def test_tables_read_as_rows_of_cells():
    source = "| 豆子 | 价格 |\n|---|---|\n| 耶加雪菲 | 68 元 |\n| 慧兰 | 62 元 |"
    assert markdown_to_text(source) == "豆子 | 价格\n耶加雪菲 | 68 元\n慧兰 | 62 元"
    assert "<table>" in markdown_to_html(source) and "<td>耶加雪菲</td>" in markdown_to_html(source)


def test_task_lists_show_boxes_not_brackets():
    source = "- [x] 领券\n- [ ] 下单"
    assert markdown_to_text(source) == "☑ 领券\n☐ 下单"
    html = markdown_to_html(source)
    assert "☑ 领券" in html and "☐ 下单" in html and "[ ]" not in html and "<input" not in html


def test_a_single_tilde_is_a_range_not_a_subscript():
    assert markdown_to_text("活动 9~10 点，价格 5~8 元") == "活动 9~10 点，价格 5~8 元"
    assert "<sub>" not in markdown_to_html("活动 9~10 点，价格 5~8 元")


def test_struck_text_in_a_contacts_data_is_not_markup():
    # Personalised values are data: a name written like Markdown is shown as written in the HTML.
    html = markdown_to_html("Hi <script>alert(1)</script> ~~old~~")
    assert "<script>" not in html and "<del>old</del>" in html
    assert STROKE not in markdown_to_text("plain")
