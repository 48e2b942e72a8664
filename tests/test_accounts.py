"""Accounts, roles, CSRF and the safe defaults."""
from campaigner.accounts.models import User
from campaigner.db import database


def test_anonymous_page_request_redirects_to_login(client):
    response = client.get("/content/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/content/")


def test_login_page_is_public(client):
    assert client.get("/login").status_code == 200


def test_admin_signs_in_with_configured_password(app, client, runner):
    result = runner.invoke(["db", "upgrade"])
    assert result.exit_code == 0
    from campaigner.accounts.services import ensure_admin

    with database.connection_context():
        ensure_admin("boss@example.com", "admin-password-1")
    response = client.post("/login", data={"email": "boss@example.com", "password": "admin-password-1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_shows_error_and_stays_on_login(client, app):
    from tests.conftest import make_user

    user = make_user("editor")
    response = client.post("/login", data={"email": user.email, "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert "Wrong email or password" in response.get_data(as_text=True)


def test_login_attempts_are_rate_limited(client, app):
    for _ in range(10):
        client.post("/login", data={"email": "x@example.com", "password": "wrong-password"})
    response = client.post("/login", data={"email": "x@example.com", "password": "wrong-password"})
    assert response.status_code == 429


def test_unsafe_request_without_csrf_token_is_refused_with_message(logged_in_editor):
    response = logged_in_editor.post("/logout", csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_htmx_request_without_csrf_token_gets_json_400(logged_in_editor):
    response = logged_in_editor.post("/settings/tokens", data={"token-name": "x"}, csrf=False,
                                     headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]


def test_editor_gets_403_on_admin_pages(logged_in_editor):
    assert logged_in_editor.get("/settings/users").status_code == 403


def test_admin_creates_user_and_sees_one_time_password(logged_in_admin):
    response = logged_in_admin.post("/settings/users", data={"email": "new@example.com", "name": "New", "role": "ops"})
    assert response.status_code == 200
    assert "new@example.com" in response.get_data(as_text=True)
    with database.connection_context():
        assert User.get(User.email == "new@example.com").role == "ops"


def test_user_changes_password(logged_in_editor, app):
    response = logged_in_editor.post("/settings/password", data={
        "pw-current": "password-123", "pw-new": "a-new-password-1", "pw-confirm": "a-new-password-1"})
    assert response.status_code == 302
    logged_in_editor.post("/logout")
    fresh = app.test_client()
    ok = fresh.post("/login", data={"email": logged_in_editor.user.email, "password": "a-new-password-1"})
    assert ok.status_code == 302


def test_password_is_stored_hashed(app):
    from tests.conftest import make_user

    user = make_user("ops", password="plain-text-pw")
    assert "plain-text-pw" not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_next_parameter_cannot_redirect_off_site(client):
    from tests.conftest import make_user

    user = make_user("editor")
    response = client.post("/login?next=//evil.example.com/", data={"email": user.email, "password": "password-123"})
    assert response.headers["Location"] == "/"


def test_user_create_command_prints_password(runner, app):
    result = runner.invoke(["user", "create", "--email", "ops@example.com", "--role", "ops"])
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output


def test_deactivated_user_cannot_sign_in(logged_in_admin, app):
    from tests.conftest import make_user

    user = make_user("editor")
    logged_in_admin.post(f"/settings/users/{user.id}", data={"active": "0"})
    response = app.test_client().post("/login", data={"email": user.email, "password": "password-123"})
    assert response.status_code == 200
