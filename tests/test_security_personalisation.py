"""A contact's data is data: hostile names and attributes through every built-in channel never become markup.

Each payload of the corpus is a contact's name and an attribute; the content puts text
after each field. What the contact supplies must reach the reader as the same text: no
anchor, no tag, no short link, and the text after the field intact.
"""
from __future__ import annotations

import html
import re

import pytest

from campaigner import PermanentError
from campaigner.channels.outbox import read_outbox
from campaigner.content.previews import preview
from campaigner.content.rendering import markdown_to_html, removed_markup
from campaigner.db import database
from campaigner.testing import make_contact, make_content
from tests.fixtures_engine import make_contacts, new_campaign, run_campaign
from tests.fixtures_plugins import bundled, configure_channel, plugins  # noqa: F401  (fixtures)

HOSTILE = [
    "[领取红包](https://evil.example/red)",
    "![x](https://evil.example/pixel.png)",
    "https://evil.example/bare",
    "<https://evil.example/auto>",
    "www.evil.example/www",
    "<a href=\"https://evil.example/a\">click</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<script>alert(1)</script>",
    "<style>",
    "<b",
    "<!--",
    "<![CDATA[",
    "{{ email }}",
    "{% if 1 %}x{% endif %}",
    "${7*7}",
    "**bold** _it_ `code`",
    "# heading",
    "> quote",
    "1. list",
    "line one\n\n# line two\n<div>",
    "&lt;b&gt; &amp;",
    "\\[escaped\\](https://evil.example/esc)",
    "[ref]: https://evil.example/ref",
    "| a | b |\n|---|---|",
]
AFTER = "AFTER-THE-FIELD stays"
BODY = f"Hello {{{{ name }}}} {AFTER}. City {{{{ city }}}} {AFTER} too. Shop at https://shop.example.com/sale"


def plain(payload: str) -> str:
    """The payload as a reader should see it: its text, with runs of whitespace as one space."""
    return " ".join(payload.split())


def assert_no_markup_from(payload: str, rendered_html: str):
    real_tags = " ".join(re.findall(r"<[a-zA-Z][^<>]*>", rendered_html))
    assert "evil.example" not in real_tags and "onerror" not in real_tags and "ontoggle" not in real_tags
    tags = set(re.findall(r"<([a-zA-Z][\w-]*)", rendered_html))
    assert tags <= {"p", "a", "html", "head", "meta", "title", "body", "div", "hr", "br", "small", "style"} and \
        rendered_html.count("<a ") <= 2, f"markup from {payload!r}: {rendered_html}"
    assert html.escape(plain(payload), quote=False) in rendered_html.replace("&quot;", '"').replace("&#x27;", "'")


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_name_in_email_html_and_text_is_text(bundled, payload):
    email = bundled.channel("email").with_config({"host": "127.0.0.1", "from_address": "shop@example.com"})
    contact = make_contact(name=payload, email="fan@example.com", attributes={"city": payload})
    message = email.render(make_content(body=BODY), contact, {"unsubscribe_url": "https://brand.example/u/x"})
    body_html = message.html.split("<body", 1)[1]
    assert_no_markup_from(payload, body_html.split("Unsubscribe")[0])
    assert body_html.count(AFTER) == 2
    assert message.body.count(AFTER) == 2 and message.body.count(plain(payload)) == 2, message.body


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_name_in_sms_and_chat_is_the_same_text(bundled, payload):
    contact = make_contact(name=payload, phone="+8613800138000", chat_id="room-1", attributes={"city": payload})
    sms = bundled.channel("sms").with_config({"mode": "outbox"})
    chat = bundled.channel("chat").with_config({"provider": "json", "url": "http://127.0.0.1:9/hook"})
    for message in (sms.render(make_content(body=BODY), contact, {}),):
        assert message.body.count(f"{plain(payload)} {AFTER}") == 2, message.body
    message = chat.render(make_content(body=BODY), contact, {})
    assert message.data["text"].count(f"{plain(payload)} {AFTER}") == 2, message.data["text"]
    # The chat body is Markdown for the receiving app to render: rendered, it is the payload as text.
    assert_no_markup_from(payload, markdown_to_html(message.body))


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_name_in_a_mini_program_message_adds_no_field(bundled, tmp_path, payload):
    mini = bundled.channel("miniprogram").with_config({"template_id": "T1"}, instance_path=str(tmp_path))
    content = make_content(variants={"miniprogram": "character_string1: {{ name }}\nthing2: 之后的文字"})
    contact = make_contact(name=payload, openid="o6_x", attributes={"city": payload})
    try:
        message = mini.render(content, contact, {})
    except PermanentError as exc:  # a payload too long or of the wrong characters for its field
        assert str(exc).startswith("character_string1:") and "thing2" not in str(exc)
        return
    assert set(message.data["fields"]) == {"character_string1", "thing2"}
    assert message.data["fields"] == {"character_string1": plain(payload), "thing2": "之后的文字"}


def test_only_the_editors_links_become_short_links(app, plugins, configure_channel):
    from campaigner.links.models import ShortLink

    configure_channel("sms", mode="outbox")
    with database.connection_context():
        content = make_content_row(BODY)
    make_contacts(len(HOSTILE), name=lambda i: HOSTILE[i], attributes=lambda i: {"city": HOSTILE[i]})
    campaign = new_campaign(channels=("sms",), content=content, quiet_hours={"enabled": False})
    run_campaign(campaign.id)
    with database.connection_context():
        targets = {link.original_url for link in ShortLink.select()}
    assert targets == {"https://shop.example.com/sale"}
    sent = read_outbox(app.instance_path + "/outbox/sms.jsonl")
    assert len(sent) == len(HOSTILE)
    assert {plain(p) for p in HOSTILE} == {re.search(r"Hello (.*?) " + AFTER, m["text"], re.S).group(1) for m in sent}
    assert all("evil.example" not in re.sub(r"Hello .*? " + AFTER, "", m["text"].split("City")[0]) for m in sent)
    assert all("https://shop.example.com" not in m["text"] and "/s/" in m["text"] for m in sent)


def make_content_row(body: str):
    from campaigner.content.models import ContentItem

    return ContentItem.create(title="Offer", slug="hostile-offer", body=body, status="approved")


def test_the_sanitizer_keeps_what_follows_and_the_preview_names_what_it_removed(bundled):
    body = "before\n\n<style>x\n\nafter paragraph <img src=x onerror=alert(1)> [a](javascript:alert(1))"
    assert "after paragraph" in markdown_to_html(body)
    assert removed_markup(body) == ["<style>", "onerror=", "javascript:"]
    shown = preview(bundled.channel("email"), "t", body, {})
    assert "<p>before</p>" in shown.html and "after paragraph" in shown.html and "onerror" not in shown.html
    assert shown.removed == ["<style>", "onerror=", "javascript:"]


def test_code_keeps_its_tags_and_autolinks_stay_links():
    assert removed_markup("`<style>` and <https://a.example/x>") == []
    assert 'href="https://a.example/x"' in markdown_to_html("<https://a.example/x>")


def test_preview_api_and_page_warn_about_removed_markup(api_token, logged_in_editor, client):
    response = client.post("/api/v1/content/preview", headers=api_token("editor"),
                           json={"title": "t", "body": "before\n\n<style>x\n\nafter paragraph"})
    assert response.status_code == 200
    email = next(p for p in response.get_json()["previews"] if p["channel"] == "email")
    assert email["removed"] == ["<style>"] and "after paragraph" in email["html"]
    page = logged_in_editor.post("/content/preview", data={"title": "t", "body": "before\n\n<style>x\n\nafter"},
                                 headers={"HX-Request": "true"})
    assert page.status_code == 200, page.status_code
    assert "Removed as unsafe" in page.get_data(as_text=True) and "&lt;style&gt;" in page.get_data(as_text=True)
