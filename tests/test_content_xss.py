"""An XSS payload in a body or a variant is neutralised on every page, preview and API answer."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.fixtures_content import XSS_PAYLOADS, in_db, make_content, preview_channels  # noqa: F401

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}


class _LiveMarkup(HTMLParser):
    """Collects markup that would run: a payload is harmless only while it stays text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag in {"iframe", "svg", "object", "embed"}:
            self.problems.append(f"<{tag}> element")
        if tag == "script":
            self._in_script = True
        for name, value in attrs:
            value = (value or "").strip().lower()
            # Text in a value="" or title="" is shown, not run; handlers, styles and URLs run.
            if (name.startswith("on") or name == "style") and ("alert(" in value or "javascript:" in value):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and value.replace(" ", "").startswith(("javascript:", "data:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.problems.append(f"script running {data.strip()[:60]!r}")


def live_markup(html: str) -> list[str]:
    parser = _LiveMarkup()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_checker_itself_sees_live_payloads():
    # Without this the tests below could pass by looking at nothing.
    for payload in XSS_PAYLOADS:
        if "javascript:alert('xss-link')" in payload:
            payload = '<a href="javascript:alert(1)">x</a>'
        assert live_markup(payload), payload
    assert not live_markup("&lt;script&gt;alert('x')&lt;/script&gt; <b>alert('text')</b>")


@pytest.fixture
def hostile_item(make_content, preview_channels):
    """An item whose body and variants (HTML channel, text channel, sms) carry every payload."""
    payloads = "\n\n".join(XSS_PAYLOADS)
    item = make_content(title="Hostile <script>alert('xss-title')</script>", body=f"Hello\n\n{payloads}",
                        variants={"testhtml": payloads, "testtext": payloads, "sms": payloads}, tags=["xss"])
    return item


def test_payloads_are_neutralised_on_every_page(logged_in_editor, hostile_item):
    pages = [
        "/content/",
        "/content/?q=Hello",
        f"/content/{hostile_item.id}",
        f"/content/{hostile_item.id}/edit",
        f"/content/{hostile_item.id}/versions",
        f"/content/{hostile_item.id}/versions/1",
    ]
    for url in pages:
        response = logged_in_editor.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert "xss-title" in html, url  # the hostile item is on the page
        assert live_markup(html) == [], url


def test_payloads_are_neutralised_in_the_versions_diff(logged_in_editor, make_content, preview_channels):
    item = make_content(title="Plain", body="Nothing here yet.")
    payloads = "\n\n".join(XSS_PAYLOADS)
    response = logged_in_editor.post(f"/content/{item.id}/edit", data={
        "title": "Plain", "kind": "article", "body": payloads, "variant_testhtml": payloads, "version": "1"})
    assert response.status_code == 302
    html = logged_in_editor.get(f"/content/{item.id}/versions/2").get_data(as_text=True)
    assert "xss-onerror" in html  # the diff shows the payload lines, as text
    assert live_markup(html) == []


def test_payloads_are_neutralised_in_the_live_preview(logged_in_editor, preview_channels):
    payloads = "\n\n".join(XSS_PAYLOADS)
    response = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "t", "kind": "article", "body": payloads, "variant_testhtml": payloads, "variant_testtext": payloads,
        "variant_sms": payloads})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-channel="testhtml"' in html and 'data-channel="testtext"' in html
    assert "xss-" in html
    assert live_markup(html) == []


def test_each_payload_alone_is_neutralised_in_the_preview(logged_in_editor, preview_channels):
    for payload in XSS_PAYLOADS:
        response = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
            "title": "t", "kind": "article", "body": payload, "variant_testhtml": payload})
        assert response.status_code == 200
        assert live_markup(response.get_data(as_text=True)) == [], payload


def test_payloads_are_neutralised_in_api_html(client, api_token, hostile_item):
    headers = api_token("ops")
    item = client.get(f"/api/v1/content/{hostile_item.id}", headers=headers).get_json()
    assert "<script>" in item["body"]  # the Markdown source is returned as it was written
    for html in [item["html"], *item["variants_html"].values()]:
        assert live_markup(html) == []
    previews = client.get(f"/api/v1/content/{hostile_item.id}/previews", headers=headers).get_json()["previews"]
    assert {p["channel"] for p in previews} >= {"testhtml", "testtext"}
    for preview in previews:
        assert live_markup(preview["html"]) == []
    version = client.get(f"/api/v1/content/{hostile_item.id}/versions/1", headers=headers).get_json()
    assert live_markup(version["html"]) == []


def test_contact_data_cannot_inject_markup_when_rendered(app):
    from types import SimpleNamespace

    from campaigner.content.rendering import render_html

    content = SimpleNamespace(body="Hi {{ name }}", variants={})
    contact = SimpleNamespace(name="<img src=x onerror=alert('xss-contact')>", attributes={})
    assert live_markup(render_html(content, "email", contact)) == []


def test_a_hostile_image_file_name_is_shown_as_text(logged_in_editor, make_content):
    import io

    from tests.fixtures_content import png_bytes

    item = make_content(title="With image")
    name = "<img src=x onerror=alert('xss-filename')>.png"
    response = logged_in_editor.post("/content/media", content_type="multipart/form-data", data={
        "file": (io.BytesIO(png_bytes()), name), "content_id": str(item.id)})
    assert response.status_code == 302
    for url in ["/content/media", f"/content/{item.id}/edit", f"/content/{item.id}"]:
        html = logged_in_editor.get(url).get_data(as_text=True)
        assert "xss-filename" in html, url
        assert live_markup(html) == [], url
