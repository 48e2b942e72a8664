"""The content library as an editor uses it: writing, versions, restore, status, search, previews."""
from __future__ import annotations

import re

import pytest

from campaigner.db import database
from tests.fixtures_content import in_db, make_content, preview_channels  # noqa: F401


def _item(slug=None, item_id=None):
    from campaigner.content.models import ContentItem

    with database.connection_context():
        return ContentItem.get(ContentItem.slug == slug) if slug else ContentItem.get_by_id(item_id)


def _versions(item_id):
    from campaigner.content.models import ContentVersion

    with database.connection_context():
        return list(ContentVersion.select().where(ContentVersion.content == item_id).order_by(ContentVersion.number))


# ---------------------------------------------------------------- writing and versions


def test_editor_writes_a_post_and_it_is_kept_as_version_one(logged_in_editor):
    response = logged_in_editor.post("/content/new", data={
        "title": "秋季燕麦拿铁", "slug": "autumn-oat-latte", "kind": "moments", "tags": "咖啡，新品, 秋季",
        "body": "{{ name | 朋友 }}，燕麦拿铁回来了！\r\n\r\n本周第二杯半价。", "variant_sms": "燕麦拿铁回归，第二杯半价。"})
    assert response.status_code == 302
    item = _item("autumn-oat-latte")
    assert response.headers["Location"].endswith(f"/content/{item.id}")
    assert item.status == "draft" and item.kind == "moments"
    assert item.tags == ["咖啡", "新品", "秋季"]
    assert item.body == "{{ name | 朋友 }}，燕麦拿铁回来了！\n\n本周第二杯半价。"  # browsers send CRLF
    assert item.variants == {"sms": "燕麦拿铁回归，第二杯半价。"}
    [version] = _versions(item.id)
    assert (version.number, version.saved_by_id, version.body) == (1, logged_in_editor.user.id, item.body)
    page = logged_in_editor.get(f"/content/{item.id}").get_data(as_text=True)
    assert "秋季燕麦拿铁" in page and "本周第二杯半价" in page


def test_a_chinese_title_gets_a_usable_slug(logged_in_editor):
    logged_in_editor.post("/content/new", data={"title": "周三闪购", "kind": "community", "body": "限量 50 包"})
    from campaigner.content.models import ContentItem

    with database.connection_context():
        slug = ContentItem.get(ContentItem.title == "周三闪购").slug
    assert re.fullmatch(r"community-[0-9a-f]{8}", slug)


def test_every_save_keeps_a_version_with_who_and_when(logged_in_editor, login_as, make_content):
    item = make_content(title="Cold brew guide", body="Step 1")
    logged_in_editor.post(f"/content/{item.id}/edit", data={"title": "Cold brew guide", "kind": "article",
                                                            "body": "Step 1\nStep 2", "version": "1"})
    other = login_as("editor")
    other.post(f"/content/{item.id}/edit", data={"title": "Cold brew guide (2024)", "kind": "article",
                                                 "body": "Step 1\nStep 2", "variant_sms": "Cold brew: 1:10, 12h.",
                                                 "version": "2"})
    versions = _versions(item.id)
    assert [v.number for v in versions] == [1, 2, 3]
    assert [v.saved_by_id for v in versions[1:]] == [logged_in_editor.user.id, other.user.id]
    assert versions[2].saved_at >= versions[1].saved_at >= versions[0].saved_at
    history = logged_in_editor.get(f"/content/{item.id}/versions").get_data(as_text=True)
    assert other.user.email in history and logged_in_editor.user.email in history
    assert "title, variants.sms" in history  # what changed in version 3


def test_saving_without_a_change_writes_no_version(logged_in_editor, make_content):
    item = make_content(title="Same", body="Unchanged body")
    response = logged_in_editor.post(f"/content/{item.id}/edit", data={
        "title": "Same", "kind": "article", "body": "Unchanged body\r\n", "version": "1"}, follow_redirects=True)
    assert "Nothing changed" in response.get_data(as_text=True)
    assert len(_versions(item.id)) == 1


def test_a_stale_editor_cannot_overwrite_a_newer_save(logged_in_editor, make_content):
    item = make_content(title="Flash sale", body="v1")
    logged_in_editor.post(f"/content/{item.id}/edit", data={"title": "Flash sale", "kind": "article",
                                                            "body": "v2 from the first tab", "version": "1"})
    response = logged_in_editor.post(f"/content/{item.id}/edit", data={
        "title": "Flash sale", "kind": "article", "body": "v2 from a stale tab", "version": "1"})
    assert response.status_code == 409
    assert "Someone saved this item" in response.get_data(as_text=True)
    assert _item(item_id=item.id).body == "v2 from the first tab"


def test_history_shows_a_diff_of_the_changed_lines(logged_in_editor, make_content):
    item = make_content(title="Tips", body="Line one\nWater at 92°C\nLine three")
    logged_in_editor.post(f"/content/{item.id}/edit", data={
        "title": "Tips", "kind": "article", "body": "Line one\nWater at 90°C\nLine three", "version": "1"})
    page = logged_in_editor.get(f"/content/{item.id}/versions/2").get_data(as_text=True)
    assert '<span class="diff-del">- Water at 92°C</span>' in page
    assert '<span class="diff-add">+ Water at 90°C</span>' in page
    assert '<span class="diff-ctx">  Line one</span>' in page


def test_restoring_an_old_version_brings_back_its_body_and_variants_exactly(logged_in_editor, make_content):
    body = "  Indented first line\n\n| a | b |\n|---|---|\n| 拿铁 | 32 |\n\n{{ name | 朋友 }}, trailing spaces inside  \nend"
    variants = {"sms": "【山野】第二杯半价\n回T退订", "chat": "☕ 燕麦拿铁\n\n\t缩进"}
    item = make_content(title="Original", body=body, variants=variants, tags=["a", "b"])
    logged_in_editor.post(f"/content/{item.id}/edit", data={"title": "Rewritten", "kind": "sms", "tags": "c",
                                                            "body": "Something else", "variant_sms": "",
                                                            "variant_chat": "other", "version": "1"})
    changed = _item(item_id=item.id)
    assert (changed.body, changed.variants) == ("Something else", {"chat": "other"})

    response = logged_in_editor.post(f"/content/{item.id}/versions/1/restore")
    assert response.status_code == 302
    restored = _item(item_id=item.id)
    assert restored.body == body
    assert restored.variants == variants
    assert (restored.title, restored.kind, restored.tags) == ("Original", "article", ["a", "b"])
    versions = _versions(item.id)
    assert [v.number for v in versions] == [1, 2, 3]  # the restore is a new version, history kept
    assert versions[2].note == "restored version 1" and versions[2].saved_by_id == logged_in_editor.user.id
    assert (versions[2].body, versions[2].variants) == (body, variants)


def test_restoring_the_current_text_writes_nothing(logged_in_editor, make_content):
    item = make_content(title="Only", body="one")
    response = logged_in_editor.post(f"/content/{item.id}/versions/1/restore", follow_redirects=True)
    assert "is what the item says already" in response.get_data(as_text=True)
    assert len(_versions(item.id)) == 1


# ---------------------------------------------------------------- personalisation


def test_an_unknown_personalisation_field_is_refused_at_save_time(logged_in_editor):
    response = logged_in_editor.post("/content/new", data={
        "title": "Birthday", "kind": "sms", "body": "Happy birthday {{ name }} from {{ city }}!",
        "variant_sms": "Hi {{ nickname | friend }}"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Unknown personalisation field city" in page
    assert "Unknown personalisation field nickname" in page
    from campaigner.content.models import ContentItem

    with database.connection_context():
        assert not ContentItem.select().exists()


def test_a_malformed_field_is_refused(app, make_content):
    from campaigner.content.services import ContentValidationError

    with pytest.raises(ContentValidationError) as caught:
        make_content(body="Hi {{ name | }} and {{ first name }}")
    assert "{{ first name }}" in str(caught.value)


def test_declared_and_seen_attribute_fields_can_be_used(logged_in_editor, make_content):
    from campaigner.audience.models import Contact

    response = logged_in_editor.post("/content/fields", data={"fields": "level\nfavourite_drink"})
    assert response.status_code == 302
    with database.connection_context():
        Contact.create(name="Lin", attributes={"city": "上海"})
    item = make_content(body="{{ name }} in {{ city }} ({{ level | member }}) likes {{ favourite_drink | coffee }}")
    assert item.id
    page = logged_in_editor.get("/content/fields").get_data(as_text=True)
    assert "favourite_drink" in page and "city" in page


def test_a_contact_without_a_field_gets_its_default(app):
    from types import SimpleNamespace

    from campaigner.content.rendering import personalize

    text = "{{ name | 朋友 }}，{{ city | 您所在的城市 }}的门店已开业"
    with_fields = SimpleNamespace(name="王小明", attributes={"city": "杭州"})
    without = SimpleNamespace(name="", attributes={})
    assert personalize(text, with_fields) == "王小明，杭州的门店已开业"
    assert personalize(text, without) == "朋友，您所在的城市的门店已开业"


def test_plain_text_keeps_link_addresses_and_decodes_entities(app):
    from campaigner.content.rendering import markdown_to_text

    text = markdown_to_text("Tom & Jerry <3\n\n[Roast list](https://example.com/r?a=1&b=2) and **bold**")
    assert text == "Tom & Jerry <3\n\nRoast list (https://example.com/r?a=1&b=2) and bold"


# ---------------------------------------------------------------- status


def test_status_moves_draft_to_approved_to_archived(logged_in_editor, make_content):
    from campaigner.content.services import ContentNotSendable, ensure_sendable

    item = make_content(title="Welcome")
    with database.connection_context(), pytest.raises(ContentNotSendable):
        ensure_sendable(item)
    logged_in_editor.post(f"/content/{item.id}/status", data={"status": "approved"})
    assert _item(item_id=item.id).status == "approved"
    with database.connection_context():
        assert ensure_sendable(item).status == "approved"
    logged_in_editor.post(f"/content/{item.id}/status", data={"status": "archived"})
    with database.connection_context(), pytest.raises(ContentNotSendable, match="archived"):
        ensure_sendable(item)
    response = logged_in_editor.post(f"/content/{item.id}/status", data={"status": "approved"}, follow_redirects=True)
    assert "cannot become approved" in response.get_data(as_text=True)
    assert _item(item_id=item.id).status == "archived"


def test_ops_and_developers_read_content_but_cannot_change_it(login_as, make_content):
    item = make_content(title="Read only")
    for role in ("ops", "developer"):
        client = login_as(role)
        assert client.get(f"/content/{item.id}").status_code == 200
        assert client.get("/content/new").status_code == 403
        assert client.post(f"/content/{item.id}/status", data={"status": "approved"}).status_code == 403
        assert client.post(f"/content/{item.id}/versions/1/restore").status_code == 403
    assert _item(item_id=item.id).status == "draft"


def test_deleting_an_item_used_by_a_campaign_is_refused(logged_in_editor, make_content):
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem

    used = make_content(title="Used")
    unused = make_content(title="Unused")
    with database.connection_context():
        Campaign.create(name="Autumn push", content=used.id)
    response = logged_in_editor.post(f"/content/{used.id}/delete", follow_redirects=True)
    assert "archive it instead" in response.get_data(as_text=True)
    assert logged_in_editor.post(f"/content/{unused.id}/delete").status_code == 302
    with database.connection_context():
        assert [i.title for i in ContentItem.select()] == ["Used"]


# ---------------------------------------------------------------- the library page


@pytest.fixture
def small_library(make_content):
    make_content(title="燕麦拿铁回归", body="秋天的第一杯", kind="moments", tags=["咖啡", "新品"], status="approved",
                 variants={"sms": "拿铁第二杯半价"})
    make_content(title="Cold brew at home", body="Steep the 拿铁 blend for 12 hours", kind="article",
                 tags=["咖啡"])
    make_content(title="修护精华上市", body="积雪草 + 神经酰胺", kind="moments", tags=["护肤"], status="approved")
    make_content(title="100% arabica_beans", body="Percent and underscore", kind="sms", status="archived")


def _titles(client, query: str) -> list[str]:
    page = client.get(f"/content/?{query}").get_data(as_text=True)
    return sorted(re.findall(r'<a href="/content/\d+">([^<]+)</a>', page))


def test_library_search_finds_chinese_terms_in_title_and_body(logged_in_editor, small_library):
    assert _titles(logged_in_editor, "q=拿铁") == ["Cold brew at home", "燕麦拿铁回归"]
    assert _titles(logged_in_editor, "q=神经酰胺") == ["修护精华上市"]
    assert _titles(logged_in_editor, "q=COLD+brew") == ["Cold brew at home"]
    assert _titles(logged_in_editor, "q=100%25") == ["100% arabica_beans"]  # % is literal, not a wildcard
    assert _titles(logged_in_editor, "q=1_0") == []  # so is _ (it would match "100")
    assert _titles(logged_in_editor, "q=不存在的词") == []


def test_library_filters_by_kind_tag_status_and_channel(logged_in_editor, small_library):
    page = logged_in_editor.get("/content/").get_data(as_text=True)
    assert re.findall(r'<option value="([^"]+)">\1</option>', page.split('id="content-tag"')[1].split("</select>")[0]) \
        == sorted(["护肤", "咖啡", "新品"])  # every tag in use, once each
    assert _titles(logged_in_editor, "kind=moments") == ["修护精华上市", "燕麦拿铁回归"]
    assert _titles(logged_in_editor, "tag=咖啡") == ["Cold brew at home", "燕麦拿铁回归"]
    assert _titles(logged_in_editor, "status=approved&tag=护肤") == ["修护精华上市"]
    assert _titles(logged_in_editor, "channel=sms") == ["燕麦拿铁回归"]
    assert _titles(logged_in_editor, "kind=moments&q=拿铁&channel=sms&status=approved") == ["燕麦拿铁回归"]


def test_an_htmx_search_returns_only_the_results(logged_in_editor, small_library):
    response = logged_in_editor.get("/content/?q=精华", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="results">')
    assert "修护精华上市" in html and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_library_pages_through_many_items(logged_in_editor, make_content):
    for n in range(45):
        make_content(title=f"Item {n:02d}", body="x")
    first = logged_in_editor.get("/content/").get_data(as_text=True)
    third = logged_in_editor.get("/content/?page=3").get_data(as_text=True)
    assert "45 items" in first and "Page 1 of 3" in first
    assert len(re.findall(r'<a href="/content/\d+">', first)) == 20
    assert len(re.findall(r'<a href="/content/\d+">', third)) == 5
    assert 'href="/content/?page=2"' in first
    past_the_end = logged_in_editor.get("/content/?page=99").get_data(as_text=True)
    assert "Page 3 of 3" in past_the_end and len(re.findall(r'<a href="/content/\d+">', past_the_end)) == 5


# ---------------------------------------------------------------- live previews


def test_previews_show_every_channel_side_by_side_with_its_warnings(logged_in_editor, preview_channels):
    response = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "Hi", "kind": "article", "body": "Hello **{{ name | friend }}**, this body is long enough to warn.",
        "variant_testhtml": "Short *HTML* variant"})
    html = response.get_data(as_text=True)
    assert "<html" not in html  # the partial only
    articles = dict(re.findall(r'data-channel="(\w+)">(.*?)</article>', html, re.S))
    assert {"testhtml", "testtext"} <= set(articles)
    assert "<em>HTML</em>" in articles["testhtml"] and "variant" in articles["testhtml"]
    assert "Hello 王小明, this body is long enough to warn." in articles["testtext"]  # example contact, plain text
    assert "characters; the limit is 40" in articles["testtext"]
    assert "preview-warning" not in articles["testhtml"]


def test_the_editor_asks_for_previews_as_the_editor_types(logged_in_editor):
    page = logged_in_editor.get("/content/new").get_data(as_text=True)
    assert 'hx-post="/content/preview"' in page
    assert "input changed delay:300ms from:#content-form" in page


def test_the_preview_flags_unknown_fields_while_typing(logged_in_editor):
    html = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "t", "kind": "article", "body": "Hi {{ shoe_size }}"}).get_data(as_text=True)
    assert "Unknown personalisation field in body: shoe_size" in html


def test_sms_preview_warns_past_70_chinese_characters(logged_in_editor):
    from campaigner.content.models import KINDS  # noqa: F401

    plugins = logged_in_editor.application.extensions["campaigner"].plugins
    if plugins.channel("sms") is None:
        pytest.fail("the sms channel plugin is not registered")
    short = "燕麦拿铁回归，第二杯半价。"
    long = "燕麦拿铁回归啦！" * 10  # 80 characters
    html_short = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "t", "kind": "sms", "body": "x", "variant_sms": short}).get_data(as_text=True)
    html_long = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "t", "kind": "sms", "body": "x", "variant_sms": long}).get_data(as_text=True)
    sms_short = re.search(r'data-channel="sms">(.*?)</article>', html_short, re.S).group(1)
    sms_long = re.search(r'data-channel="sms">(.*?)</article>', html_long, re.S).group(1)
    assert "preview-warning" not in sms_short
    assert "preview-warning" in sms_long and "SMS parts" in sms_long
