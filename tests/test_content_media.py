"""Images for content: uploaded into the instance folder, checked by type and size, shown in previews."""
from __future__ import annotations

import io
import re
from pathlib import Path

from campaigner.db import database
from tests.fixtures_content import make_content, png_bytes, preview_channels  # noqa: F401
from tests.fixtures_plugins import configure_channel, plugins, smtp_server  # noqa: F401

PUBLIC_URL = r"/content/media/[A-Za-z0-9_-]{43}/[0-9a-f]{32}\.png"


def _upload(client, data: bytes, name: str, content_id="", htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/content/media", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name), "content_id": str(content_id)})


def test_editor_uploads_an_image_and_sees_it_in_the_preview(app, logged_in_editor, make_content, preview_channels):
    item = make_content(title="Oat latte")
    image = png_bytes((12, 9))
    response = _upload(logged_in_editor, image, "oat latte.png", item.id)
    assert response.status_code == 200
    panel = response.get_data(as_text=True)
    assert panel.lstrip().startswith('<section id="media"')  # the htmx partial
    url = re.search(rf'<img src="({PUBLIC_URL})"', panel).group(1)
    assert f"![oat latte]({url})" in panel  # the Markdown to paste into the body

    stored = Path(app.config["CAMPAIGNER"]["INSTANCE_PATH"]) / "media" / url.rsplit("/", 1)[1]
    assert stored.read_bytes() == image
    served = logged_in_editor.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == image
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    preview = logged_in_editor.post("/content/preview", headers={"HX-Request": "true"}, data={
        "title": "Oat latte", "kind": "moments", "body": f"Back this week\n\n![oat latte]({url})"}).get_data(as_text=True)
    html_preview = re.search(r'data-channel="testhtml">(.*?)</article>', preview, re.S).group(1)
    text_preview = re.search(r'data-channel="testtext">(.*?)</article>', preview, re.S).group(1)
    assert f'<img alt="oat latte" src="{url}">' in html_preview
    assert "Images are not sent on this channel" in text_preview
    from campaigner.content.models import Media

    with database.connection_context():
        row = Media.get()
        assert (row.content_id, row.width, row.height, row.size) == (item.id, 12, 9, len(image))


def test_an_uploaded_image_in_an_email_shows_for_its_anonymous_reader(app, logged_in_editor, make_content, plugins,
                                                                     configure_channel, smtp_server):
    from campaigner.plugins import render_context
    from campaigner.testing import make_contact

    image = png_bytes((30, 20))
    panel = _upload(logged_in_editor, image, "roast day.png").get_data(as_text=True)
    snippet = re.search(rf"<code>(!\[roast day\]\({PUBLIC_URL}\))</code>", panel).group(1)
    item = make_content(title="Roast day", body=f"Fresh beans on Friday.\n\n{snippet}")
    configure_channel("email", host=smtp_server.host, port=smtp_server.port, security="none",
                      from_address="hello@beans.example")
    settings = {**app.config["CAMPAIGNER"], "BASE_URL": "https://hi.beans.example/"}
    with database.connection_context():
        channel = plugins.configured_channel("email")
        contact = make_contact(email="fang@example.com")
        channel.send(channel.render(item, contact, render_context(contact, "email", settings=settings)), "k-1")
    [received] = smtp_server.wait_for(1)
    html = received.get_body(("html",)).get_content()
    address = re.search(rf'<img alt="roast day" src="https://hi\.beans\.example({PUBLIC_URL})">', html).group(1)

    anonymous = app.test_client()  # a mail client: no session, no cookies
    served = anonymous.get(address)
    assert served.status_code == 200 and served.data == image
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in served.headers
    assert anonymous.get(address, headers={"If-None-Match": served.headers["ETag"]}).status_code == 304


def test_an_image_address_with_a_wrong_token_is_404(app, logged_in_editor):
    from campaigner.content.media import media_token
    from campaigner.content.models import Media

    _upload(logged_in_editor, png_bytes(), "a.png", htmx=False)
    _upload(logged_in_editor, png_bytes(color=(1, 2, 3)), "b.png", htmx=False)
    with database.connection_context():
        first, second = [m.filename for m in Media.select().order_by(Media.id)]
    secret = app.config["CAMPAIGNER"]["SECRET_KEY"]
    anonymous = app.test_client()
    assert anonymous.get(f"/content/media/{media_token(secret, first)}/{first}").status_code == 200
    assert anonymous.get(f"/content/media/{media_token(secret, second)}/{first}").status_code == 404  # another's
    assert anonymous.get(f"/content/media/{media_token('another-secret-key-0000', first)}/{first}").status_code == 404
    assert anonymous.get(f"/content/media/{media_token(secret, first)[:-1]}A/{first}").status_code == 404
    assert anonymous.get(f"/content/media/x/{first}").status_code == 404
    assert anonymous.get(f"/content/media/{first}").status_code == 404  # the bare file name opens nothing
    unknown = "0" * 32 + ".png"
    assert anonymous.get(f"/content/media/{media_token(secret, unknown)}/{unknown}").status_code == 404
    assert logged_in_editor.get(f"/content/media/{media_token(secret, first)}/../secret_key").status_code == 404


def test_files_that_are_not_accepted_images_are_refused_with_a_reason(app, logged_in_editor):
    from PIL import Image

    def gif():
        buffer = io.BytesIO()
        Image.new("P", (4, 4)).save(buffer, format="GIF")
        return buffer.getvalue()

    def huge_pixels():
        buffer = io.BytesIO()
        Image.new("1", (10_000, 5_000)).save(buffer, format="PNG")  # tiny file, 50 megapixels
        return buffer.getvalue()

    def bmp():
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buffer, format="BMP")
        return buffer.getvalue()

    valid = png_bytes((40, 40))
    cases = {
        "notes.png": (b"just some text, named like a picture", "not an image"),
        "drawing.png": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "not an image"),
        "half.png": (valid[: len(valid) // 2], "not an image"),
        "empty.png": (b"", ""),
        "big.png": (b"\x89PNG" + b"0" * (5 * 1024 * 1024 + 1), "the limit is 5 MB"),
        "bomb.png": (huge_pixels(), "too many pixels"),
        "old.bmp": (bmp(), "BMP are not accepted"),
    }
    for name, (data, reason) in cases.items():
        response = _upload(logged_in_editor, data, name)
        assert response.status_code == 400, name
        assert reason in response.get_data(as_text=True), name
    assert _upload(logged_in_editor, gif(), "ok.gif").status_code == 200
    from campaigner.content.models import Media

    with database.connection_context():
        assert [m.mime for m in Media.select()] == ["image/gif"]
    stored = list((Path(app.config["CAMPAIGNER"]["INSTANCE_PATH"]) / "media").iterdir())
    assert [p.suffix for p in stored] == [".gif"]


def test_the_same_image_uploaded_twice_is_stored_once(app, logged_in_editor):
    image = png_bytes()
    _upload(logged_in_editor, image, "first.png")
    _upload(logged_in_editor, image, "second.png")
    from campaigner.content.models import Media

    with database.connection_context():
        assert Media.select().count() == 1
    assert len(list((Path(app.config["CAMPAIGNER"]["INSTANCE_PATH"]) / "media").iterdir())) == 1


def test_ops_cannot_upload(login_as):
    client = login_as("ops")
    assert _upload(client, png_bytes(), "a.png").status_code == 403
    assert client.get("/content/media").status_code == 200
