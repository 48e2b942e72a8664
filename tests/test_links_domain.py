"""Short links live on the brand's own link domain (CAMPAIGNER_LINK_BASE_URL), apart from the app's address."""
from __future__ import annotations

import pytest

from campaigner import create_app
from campaigner.db import database
from tests.conftest import CsrfClient, app_config, make_user, reset_database


@pytest.fixture
def branded_app(tmp_path, backend):
    app = create_app(app_config(tmp_path, backend, LINK_BASE_URL="https://go.brand.example",
                                BASE_URL="https://campaigner.brand.example"))
    app.test_client_class = CsrfClient
    reset_database()
    yield app
    from campaigner.links.redirect import click_recorder
    from campaigner.queue import huey

    with database.connection_context():
        click_recorder(app).flush()

    huey.flush()
    if not database.is_closed():
        database.close()


def editor_token() -> dict:
    from campaigner.accounts.services import create_token

    user = make_user("editor")
    with database.connection_context():
        _, token = create_token(user, "test")
    return {"Authorization": f"Bearer {token}"}


def test_short_links_are_issued_on_the_link_domain(branded_app):
    from campaigner.links.shortener import find_urls

    client = branded_app.test_client()
    editor = editor_token()
    made = client.post("/api/v1/links", json={"target": "https://shop.example.com/a"}, headers=editor)
    assert made.get_json()["short_url"].startswith("https://go.brand.example/s/")
    response = client.get(f"/s/{made.get_json()['code']}", base_url="https://go.brand.example",
                          headers={"User-Agent": "Mozilla/5.0 Chrome/124"})
    assert response.status_code == 302 and response.headers["Location"] == "https://shop.example.com/a"
    # Links already on our own domains (short links, unsubscribe pages) are not shortened again
    text = "https://go.brand.example/s/abcdefgh https://campaigner.brand.example/u/tok https://shop.example.com/b"
    with branded_app.app_context():
        assert [u for _s, _e, u in find_urls(text)] == ["https://shop.example.com/b"]
    refused = client.post("/api/v1/links", json={"target": "https://go.brand.example/s/abcdefgh"},
                          headers=editor)
    assert refused.status_code == 422 and "itself a short link" in refused.get_json()["error"]
