"""The audience pages: contacts with search and pages, a contact's timeline, tags, the segment builder."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from campaigner.audience.models import Contact, Order, Segment, Tag
from campaigner.audience.services import add_tags, contact_tag_keys, create_contact
from campaigner.db import database, utcnow


def _contacts(n: int, tag_every: int = 2):
    with database.connection_context():
        for i in range(n):
            create_contact({"name": f"客户{i:03d}", "phone": f"1380013{i:04d}"},
                           tags=["vip"] if i % tag_every == 0 else [])


def test_contacts_list_searches_filters_by_expression_and_pages(logged_in_editor):
    _contacts(60)
    first = logged_in_editor.get("/audience/").get_data(as_text=True)
    assert "60 contacts" in first and "Page 1 of 2" in first
    second = logged_in_editor.get("/audience/?page=2").get_data(as_text=True)
    assert "客户000" in second and "客户059" not in second  # newest first
    found = logged_in_editor.get("/audience/?q=0013 0042").get_data(as_text=True)
    assert "1 contact" in found and "客户042" in found
    vips = logged_in_editor.get("/audience/?expr=tag:vip", headers={"HX-Request": "true"})
    text = vips.get_data(as_text=True)
    assert "30 contacts" in text and "<html" not in text  # the results block only, for htmx
    broken = logged_in_editor.get("/audience/?expr=tag:vip AND (").get_data(as_text=True)
    assert "position 14" in broken and 'class="caret"' in broken


def test_contact_page_shows_the_timeline_of_tags_orders_deliveries_and_clicks(app, logged_in_editor):
    from campaigner.deliveries.models import Delivery

    with database.connection_context():
        contact = create_contact({"name": "李雷", "phone": "13800138000"}, tags=["vip"])
        Order.create(contact=contact, amount=Decimal("88.50"), occurred_at=utcnow(), external_id="O-9")
        Delivery.create(source_type="campaign", source_id=1, contact=contact, channel="sms", status="sent",
                        idempotency_key="k-1", sent_at=utcnow())
        _click(contact)
    page = logged_in_editor.get(f"/audience/contacts/{contact.id}").get_data(as_text=True)
    timeline = page[page.index('class="timeline"'):]
    for text in ("tag added", "vip", "88.50", "#O-9", "sms: sent", "https://example.com/latte", "created"):
        assert text in timeline, text


def _click(contact):
    from campaigner.links.models import Click, ShortLink

    link = ShortLink.create(code="abc123", target="https://example.com/latte?utm_source=sms",
                            original_url="https://example.com/latte", contact=contact)
    Click.create(link=link, contact=contact, visitor=f"c:{contact.id}")


def test_editor_tags_and_untags_with_htmx_partials(app, logged_in_editor):
    with database.connection_context():
        contact = create_contact({"phone": "13800138000"})
    added = logged_in_editor.post(f"/audience/contacts/{contact.id}/tags", data={"key": "vip, 渠道:门店"},
                               headers={"HX-Request": "true"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and html.lstrip().startswith('<section class="card" id="contact-tags">')
    assert "渠道:门店" in html
    logged_in_editor.post(f"/audience/contacts/{contact.id}/tags/remove", data={"key": "vip"}, headers={"HX-Request": "true"})
    with database.connection_context():
        assert contact_tag_keys(contact) == ["渠道:门店"]
    empty = logged_in_editor.post(f"/audience/contacts/{contact.id}/tags", data={"key": " "}, headers={"HX-Request": "true"})
    assert empty.status_code == 400 and "Write a tag" in empty.get_data(as_text=True)


def test_ops_read_contacts_but_cannot_change_them(app, logged_in_ops):
    with database.connection_context():
        contact = create_contact({"phone": "13800138000"})
    assert logged_in_ops.get(f"/audience/contacts/{contact.id}").status_code == 200
    assert logged_in_ops.post(f"/audience/contacts/{contact.id}/tags", data={"key": "x"}).status_code == 403
    assert logged_in_ops.get("/audience/contacts/new").status_code == 403


def test_editor_creates_and_edits_a_contact_and_sees_field_errors(app, logged_in_editor):
    bad = logged_in_editor.post("/audience/contacts/new", data={"name": "X", "phone": "12345"})
    assert bad.status_code == 400 and "12345" in bad.get_data(as_text=True)
    made = logged_in_editor.post("/audience/contacts/new", data={
        "name": "韩梅梅", "phone": "138-0013-8000", "tags": "vip，渠道:门店", "attributes": "city=上海"})
    assert made.status_code == 302
    with database.connection_context():
        contact = Contact.get(Contact.name == "韩梅梅")
        assert contact.phone == "+8613800138000" and contact.attributes == {"city": "上海"}
        assert contact_tag_keys(contact) == ["vip", "渠道:门店"]
    logged_in_editor.post(f"/audience/contacts/{contact.id}/edit", data={
        "name": "韩梅梅", "phone": "13800138000", "email": "mei@example.com", "attributes": "level=gold"})
    with database.connection_context():
        contact = Contact.get_by_id(contact.id)
        assert contact.email == "mei@example.com" and contact.attributes == {"level": "gold"}
    opted = logged_in_editor.post(f"/audience/contacts/{contact.id}/opt-out", data={"channel": "sms"})
    assert opted.status_code == 302
    assert "opted out" in logged_in_editor.get(opted.headers["Location"]).get_data(as_text=True)


def test_tag_groups_and_tags_are_managed_on_the_tags_page(app, logged_in_editor):
    assert logged_in_editor.post("/audience/tags", data={"what": "group", "group-name": "职业"}).status_code == 302
    assert logged_in_editor.post("/audience/tags", data={"what": "tag", "tag-key": "职业:教师"}).status_code == 302
    clash = logged_in_editor.post("/audience/tags", data={"what": "tag", "tag-key": "职业:教师"})
    assert clash.status_code == 400 and "exists" in clash.get_data(as_text=True)
    page = logged_in_editor.get("/audience/tags").get_data(as_text=True)
    assert "职业" in page and "职业:教师" in page
    with database.connection_context():
        tag = Tag.get(Tag.key == "职业:教师")
        contact = create_contact({"phone": "13800138000"}, tags=["职业:教师"])
    assert logged_in_editor.post(f"/audience/tags/{tag.id}/delete").status_code == 302
    with database.connection_context():
        assert contact_tag_keys(contact) == []


def test_segment_builder_previews_count_and_sample_as_you_type(app, logged_in_editor):
    _contacts(12, tag_every=3)
    preview = logged_in_editor.get("/audience/preview", query_string={"expression": "tag:vip"},
                                   headers={"HX-Request": "true"})
    html = preview.get_data(as_text=True)
    assert '<strong id="audience-count">4</strong>' in html and "客户009" in html and "<html" not in html
    wrong = logged_in_editor.get("/audience/preview", query_string={"expression": "tag:vip OR OR"},
                                 headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "OR needs a term before it" in wrong
    assert re.search(r'<pre class="caret">tag:vip OR OR\n {11}\^</pre>', wrong)
    unknown = logged_in_editor.get("/audience/preview", query_string={"expression": "tag:nobody-has-it"},
                                   headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "No contact has these tags yet: nobody-has-it" in unknown


def test_editor_saves_a_segment_and_sees_its_count(app, logged_in_editor):
    _contacts(6)
    saved = logged_in_editor.post("/audience/segments/new", data={
        "name": "VIP on SMS", "expression": "tag:vip", "channel": "sms", "description": ""})
    assert saved.status_code == 302
    listing = logged_in_editor.get("/audience/segments").get_data(as_text=True)
    assert "VIP on SMS" in listing and ">3</a>" in listing
    bad = logged_in_editor.post("/audience/segments/new", data={"name": "Broken", "expression": "tag:vip AND"})
    assert bad.status_code == 400 and "position 12" in bad.get_data(as_text=True)
    with database.connection_context():
        segment = Segment.get(Segment.name == "VIP on SMS")
        assert (segment.expression, segment.channel) == ("tag:vip", "sms")
    assert logged_in_editor.post(f"/audience/segments/{segment.id}/delete").status_code == 302


def test_developers_cannot_save_segments_in_the_ui(logged_in_developer):
    assert logged_in_developer.post("/audience/segments/new", data={"name": "x", "expression": ""}).status_code == 403


# ---------------------------------------------------------------- in a real browser


@pytest.mark.browser
def test_count_and_sample_update_while_typing_the_expression(app, page, browser_login):
    _contacts(9, tag_every=3)
    with database.connection_context():
        add_tags(Contact.get(Contact.name == "客户001"), ["投诉"])
    browser_login("editor")
    page.goto("/audience/segments/new")
    expression = page.locator("#expression")
    expression.type("tag:vip")
    page.wait_for_function("document.querySelector('#audience-count') && "
                           "document.querySelector('#audience-count').textContent === '3'")
    assert "客户006" in page.locator("#segment-preview").inner_text()
    expression.type(" AND")
    page.locator("pre.caret").wait_for()
    assert "ends too early" in page.locator("#segment-preview").inner_text()
    expression.type(" NOT tag:投诉 OR tag:投诉")
    page.wait_for_function("document.querySelector('#audience-count') && "
                           "document.querySelector('#audience-count').textContent === '4'")
    page.fill("#name", "VIPs and complainers")
    page.click("text=Save segment")
    page.wait_for_url(re.compile(r".*/audience/segments/\d+$"))
    with database.connection_context():
        assert Segment.get(Segment.name == "VIPs and complainers").expression == \
            "tag:vip AND NOT tag:投诉 OR tag:投诉"
