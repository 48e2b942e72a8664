"""Sessions that can be revoked: a copied cookie is worth nothing after sign-out, a password change or a deactivation."""
from __future__ import annotations

import datetime as dt

from campaigner import create_app
from campaigner.db import database, utcnow
from tests.conftest import CsrfClient, app_config, make_user


def sign_in(app, user, password="password-123"):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value: str):
    thief = app.test_client()
    thief.set_cookie("session", value)
    return thief


def opens_users_page(client) -> bool:
    return client.get("/settings/users").status_code == 200


def test_a_cookie_saved_before_sign_out_opens_nothing_after(app):
    admin = make_user("admin")
    client = sign_in(app, admin)
    saved = cookie_of(client)
    assert opens_users_page(with_cookie(app, saved))
    assert client.post("/logout").status_code == 302
    response = with_cookie(app, saved).get("/settings/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app):
    admin = make_user("admin")
    other, this = sign_in(app, admin), sign_in(app, admin)
    response = this.post("/settings/password", data={"pw-current": "password-123", "pw-new": "a-new-password-9",
                                                     "pw-confirm": "a-new-password-9"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert not opens_users_page(other)
    assert opens_users_page(this)


def test_deactivating_a_user_ends_their_sessions(app, logged_in_admin):
    editor = make_user("editor")
    client = sign_in(app, editor)
    assert client.get("/content/").status_code == 200
    assert logged_in_admin.post(f"/settings/users/{editor.id}", data={"active": "0"}).status_code == 302
    assert client.get("/content/").status_code == 302
    from campaigner.accounts.models import UserSession

    with database.connection_context():
        assert UserSession.select().where(UserSession.user == editor.id).count() == 0


def test_sign_out_everywhere_ends_all_of_the_users_sessions(app):
    admin = make_user("admin")
    first, second = sign_in(app, admin), sign_in(app, admin)
    assert second.post("/settings/sessions/end").status_code == 302
    assert not opens_users_page(first) and not opens_users_page(second)
    assert opens_users_page(sign_in(app, admin))


def test_a_session_idle_longer_than_the_setting_ends(app):
    from campaigner.accounts.models import UserSession

    admin = make_user("admin")
    client = sign_in(app, admin)
    assert opens_users_page(client)
    idle = app.config["CAMPAIGNER"]["SESSION_IDLE_MINUTES"]
    with database.connection_context():
        UserSession.update(last_seen_at=utcnow() - dt.timedelta(minutes=idle + 1)).execute()
    assert not opens_users_page(client)


def test_the_printed_admin_password_must_be_replaced_at_first_sign_in(app):
    from campaigner.accounts.services import ensure_admin

    with database.connection_context():
        from campaigner.accounts.models import User

        User.delete().execute()
        password = ensure_admin("boss@example.com", None)
        boss = User.get(User.email == "boss@example.com")
    client = sign_in(app, boss, password)
    for path in ("/", "/content/", "/settings/users"):
        response = client.get(path)
        assert response.status_code == 302 and "/settings/" in response.headers["Location"], path
    assert client.get("/api/v1/me").status_code == 401  # no token yet, and none can be made before the change
    assert client.post("/settings/tokens", data={"token-name": "x"}).status_code == 302
    same = client.post("/settings/password", data={"pw-current": password, "pw-new": password, "pw-confirm": password})
    assert same.status_code == 400
    changed = client.post("/settings/password", data={"pw-current": password, "pw-new": "boss-password-9",
                                                      "pw-confirm": "boss-password-9"})
    assert changed.status_code == 302
    assert client.get("/settings/users").status_code == 200
    # The one-time password is gone: signing in with it again fails.
    assert app.test_client().post("/login", data={"email": boss.email, "password": password}).status_code == 200


def test_the_session_cookie_is_secure_when_base_url_is_https(tmp_path, backend):
    app = create_app(app_config(tmp_path, backend, BASE_URL="https://campaigns.brand.example"))
    app.test_client_class = CsrfClient
    assert app.config["SESSION_COOKIE_SECURE"] is True
    plain = create_app(app_config(tmp_path / "plain", backend))
    assert plain.config["SESSION_COOKIE_SECURE"] is False
    from tests.conftest import reset_database

    reset_database()
    user = make_user("editor")
    response = app.test_client().post("/login", data={"email": user.email, "password": "password-123"})
    assert "Secure" in response.headers["Set-Cookie"]
