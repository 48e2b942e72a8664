"""Short links refuse credentials, internal addresses (unless the admin allows the host) and a past expiry."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner import create_app
from campaigner.db import database, utcnow
from tests.conftest import CsrfClient, app_config, reset_database


@pytest.mark.parametrize("target", [
    "https://user:pass@shop.example.com/a", "https://token@shop.example.com/a",
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9000/admin", "http://localhost/x",
    "http://10.1.2.3/", "http://192.168.0.1/router", "http://172.16.5.4/", "http://[::1]/", "http://[fd00::1]/",
    "http://2130706433/", "http://0.0.0.0/", "http://printer.local/", "http://wiki.internal/", "http://intranet/",
    "https://shop.example.com:99999/", "https://shop.example.com:port/",
])
def test_a_link_to_credentials_or_an_internal_address_is_refused_and_not_stored(client, api_token, target):
    from campaigner.links.models import ShortLink

    response = client.post("/api/v1/links", headers=api_token("editor"), json={"target": target})
    assert response.status_code == 422, (target, response.status_code, response.get_json())
    with database.connection_context():
        assert ShortLink.select().count() == 0


def test_the_form_refuses_an_internal_address_with_the_reason(logged_in_editor):
    response = logged_in_editor.post("/links/", data={"label": "x", "target": "http://169.254.169.254/", "expires_at": ""})
    assert response.status_code == 400 and "internal address" in response.get_data(as_text=True)


def test_a_public_address_is_accepted(client, api_token):
    response = client.post("/api/v1/links", headers=api_token("editor"), json={"target": "https://8.8.8.8/x"})
    assert response.status_code == 201


def test_an_expiry_already_past_is_refused_on_a_new_link(client, api_token):
    past = (utcnow() - dt.timedelta(hours=1)).isoformat() + "Z"
    response = client.post("/api/v1/links", headers=api_token("editor"),
                           json={"target": "https://shop.example.com/a", "expires_at": past})
    assert response.status_code == 422 and response.get_json()["field"] == "expires_at"


def test_an_admin_may_allow_internal_hosts(tmp_path, backend, api_token):
    app = create_app(app_config(tmp_path, backend, LINK_INTERNAL_HOSTS="wiki.internal, 10.0.0.8"))
    app.test_client_class = CsrfClient
    reset_database()
    from tests.conftest import make_user
    from campaigner.accounts.services import create_token

    with database.connection_context():
        _, token = create_token(make_user("editor"))
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.post("/api/v1/links", headers=headers, json={"target": "http://wiki.internal/page"}).status_code == 201
    assert client.post("/api/v1/links", headers=headers, json={"target": "http://10.0.0.8/x"}).status_code == 201
    assert client.post("/api/v1/links", headers=headers, json={"target": "http://10.0.0.9/x"}).status_code == 422
