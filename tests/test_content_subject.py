"""Content has a subject line: per item, overridden in the email variant, personalised like the body (as data,
never markup); the title is only the fallback. The editor, the previews, the API and library files carry it."""
from __future__ import annotations

import re

import pytest

from campaigner.content.library_files import item_file_text, parse_item_text
from campaigner.content.models import ContentItem
from campaigner.db import database
from campaigner.testing import DEFAULT_CONTEXT, make_contact
from tests.fixtures_content import make_content  # noqa: F401  (fixture)
from tests.fixtures_plugins import bundled  # noqa: F401  (fixture)

FANG = make_contact(name="王芳", email="fang@example.com")


@pytest.fixture
def email(bundled):
    return bundled.channel("email").with_config({"host": "127.0.0.1", "from_address": "hello@beans.example"})


def _item(**fields) -> ContentItem:
    fields.setdefault("title", "朋友圈 · 周一早安拿铁")
    return ContentItem(slug="s", body="早安 {{ name }}", variants={}, status="approved", kind="moments", tags=[],
                       **fields)


def test_email_subject_is_the_items_subject_personalised(email):
    message = email.render(_item(subject="{{ name | 朋友 }}，早安拿铁第二杯半价"), FANG, dict(DEFAULT_CONTEXT))
    assert message.subject == "王芳，早安拿铁第二杯半价"
    assert "<title>王芳，早安拿铁第二杯半价</title>" in message.html


def test_the_title_is_only_the_fallback(email):
    assert email.render(_item(), FANG, dict(DEFAULT_CONTEXT)).subject == "朋友圈 · 周一早安拿铁"


def test_the_email_variants_own_subject_wins(email):
    item = _item(subject="早安拿铁", subjects={"email": "{{ name }}，只给邮件读者的优惠"})
    assert email.render(item, FANG, dict(DEFAULT_CONTEXT)).subject == "王芳，只给邮件读者的优惠"


def test_a_contacts_data_in_the_subject_stays_data(email):
    hostile = make_contact(name="<b>boss</b>\r\nBcc: all@example.com", email="x@example.com")
    message = email.render(_item(subject="Hi {{ name }}"), hostile, dict(DEFAULT_CONTEXT))
    assert "\n" not in message.subject and "\r" not in message.subject  # one line: no header injected
    # (the body's personalisation is the security work's; here the subject, in the HTML's <title>)
    title = re.search(r"<title>(.*?)</title>", message.html, re.S).group(1)
    assert "<b>" not in title and "&lt;b&gt;boss&lt;/b&gt;" in title
    built = email.build_email(message, "k-1")
    assert built["Bcc"] is None


def test_saving_checks_the_subjects_fields_and_length(app, make_content):
    from campaigner.content.services import ContentValidationError, save_content

    with database.connection_context():
        with pytest.raises(ContentValidationError) as caught:
            save_content(None, {"title": "t", "subject": "{{ shoe_size }}", "subjects": {"email": "x" * 201}})
    assert set(caught.value.errors) == {"subject", "subjects.email"}


def test_editor_shows_the_subject_says_the_title_is_the_fallback_and_previews_it(logged_in_editor):
    page = logged_in_editor.get("/content/new", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'name="subject"' in page and 'name="subject_for_email"' in page
    assert "Empty: the title is used." in page

    preview = logged_in_editor.post("/content/preview", headers={"HX-Request": "true", "Accept-Language": "en"},
                                    data={"title": "朋友圈 · 周一早安拿铁", "subject": "", "body": "早安"})
    html = preview.get_data(as_text=True)
    assert re.search(r"Subject:</span> <strong>朋友圈 · 周一早安拿铁</strong>", html)
    assert "the title, as no subject is written" in html
    preview = logged_in_editor.post("/content/preview", headers={"HX-Request": "true", "Accept-Language": "en"},
                                    data={"title": "朋友圈 · 周一早安拿铁", "subject": "{{ name }}，早安",
                                          "body": "早安"})
    assert re.search(r"Subject:</span> <strong>王小明，早安</strong>", preview.get_data(as_text=True))


def test_editor_saves_and_reloads_both_subjects(logged_in_editor):
    saved = logged_in_editor.post("/content/new", data={
        "title": "周一早安", "kind": "moments", "subject": "早安 {{ name }}", "subject_for_email": "邮件专属",
        "body": "早安"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with database.connection_context():
        item = ContentItem.get(ContentItem.title == "周一早安")
    assert (item.subject, item.subjects) == ("早安 {{ name }}", {"email": "邮件专属"})
    page = logged_in_editor.get(f"/content/{item.id}/edit").get_data(as_text=True)
    assert 'value="早安 {{ name }}"' in page and 'value="邮件专属"' in page


def test_the_api_takes_and_shows_subjects_and_restores_them_with_a_version(client, api_token):
    headers = api_token("editor")
    created = client.post("/api/v1/content", headers=headers, json={
        "title": "周一早安", "subject": "早安 {{ name }}", "subjects": {"email": "邮件专属"}, "body": "早安"})
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert (item["subject"], item["subjects"]) == ("早安 {{ name }}", {"email": "邮件专属"})
    client.patch(f"/api/v1/content/{item['id']}", headers=headers, json={"subject": "晚安", "subjects": {}})
    restored = client.post(f"/api/v1/content/{item['id']}/versions/1/restore", headers=headers).get_json()
    assert (restored["subject"], restored["subjects"]) == ("早安 {{ name }}", {"email": "邮件专属"})
    previews = client.get(f"/api/v1/content/{item['id']}/previews", headers=headers).get_json()["previews"]
    assert {p["channel"]: p["subject"] for p in previews}["email"] == "邮件专属"
    bad = client.post("/api/v1/content", headers=headers, json={"title": "t", "subjects": ["email"]})
    # The wrong type for the documented schema: refused before the view, naming the field.
    assert bad.status_code == 400 and "subjects" in str(bad.get_json())


def test_library_files_round_trip_the_subjects():
    item = _item(subject="早安 {{ name }}", subjects={"email": "邮件专属"})
    data = parse_item_text(item_file_text(item), "s")
    assert (data["subject"], data["subjects"]) == ("早安 {{ name }}", {"email": "邮件专属"})
