"""Fixtures shared by every test module.

The suite runs on SQLite + SqliteHuey by default. With
``CAMPAIGNER_TEST_BACKEND=postgres`` it runs on PostgreSQL (127.0.0.1:5432) and
RedisHuey (127.0.0.1:6379): the session creates its own database and drops it
at the end. With ``CI=true`` an unreachable PostgreSQL or Redis fails the run.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import uuid

import pytest
from flask.testing import FlaskClient

from campaigner import create_app
from campaigner.db import close_all_connections, database

BACKEND = os.environ.get("CAMPAIGNER_TEST_BACKEND", "sqlite")
PG_HOST = os.environ.get("CAMPAIGNER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("CAMPAIGNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Every database this run creates carries this marker in its name; reset_database() refuses any other,
# so a CAMPAIGNER_DATABASE_URL left in the shell can never be emptied by the suite.
RUN_MARKER = f"campaigner_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _no_campaigner_environment(monkeypatch):
    """Settings come from the test's config only: the user's CAMPAIGNER_* variables are cleared."""
    for name in list(os.environ):
        if name.startswith("CAMPAIGNER_") and not name.startswith("CAMPAIGNER_TEST_"):
            monkeypatch.delenv(name)


def _fail_or_skip(reason: str):
    if IN_CI:
        pytest.exit(f"CI requires it: {reason}", returncode=1)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def backend():
    """Database and queue URLs for this run; for postgres, a database made (and dropped) for it."""
    if BACKEND == "sqlite":
        yield {"name": "sqlite"}
        return
    if BACKEND != "postgres":
        pytest.exit(f"unknown CAMPAIGNER_TEST_BACKEND {BACKEND!r}", returncode=2)
    import psycopg2
    import redis

    dbname = RUN_MARKER
    try:
        admin = psycopg2.connect(f"{PG_HOST}/postgres", connect_timeout=5)
        admin.autocommit = True
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"PostgreSQL or Redis unreachable for the scale-path suite: {exc}", returncode=1)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield {"name": "postgres", "database_url": f"{PG_HOST}/{dbname}", "queue_url": REDIS_URL}
    finally:
        close_all_connections()  # pooled ones too: database.close() would only return them to the pool
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,))
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        admin.close()


def app_config(tmp_path, backend, **extra) -> dict:
    """Settings for an app on this run's backend with its own instance folder and queue."""
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "TESTING": True,
        "QUEUE_NAME": f"campaigner-test-{uuid.uuid4().hex[:8]}",
        "ADMIN_PASSWORD": "admin-password-1",
        "LOGIN_RATE_LIMIT": "10 per minute",
    }
    if backend["name"] == "postgres":
        config["DATABASE_URL"] = backend["database_url"]
        config["QUEUE_URL"] = backend["queue_url"]
    else:
        config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'instance' / (RUN_MARKER + '.db')}"
        config["QUEUE_URL"] = f"sqlite:///{tmp_path / 'instance' / 'queue.db'}"
    config.update(extra)
    return config


def reset_database() -> None:
    """An empty, migrated schema (PostgreSQL keeps one database per run, so empty it)."""
    from campaigner.db import is_postgres
    from campaigner.migrations import upgrade

    name = os.path.basename(str(database.obj.database))
    if RUN_MARKER not in name:
        raise RuntimeError(f"refusing to reset {name!r}: this test run did not create it (no {RUN_MARKER!r} in its name)")
    with database.connection_context():
        if is_postgres():
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        upgrade()


@pytest.fixture
def app(tmp_path, backend):
    app = create_app(app_config(tmp_path, backend))
    app.test_client_class = CsrfClient
    reset_database()
    yield app
    from campaigner.queue import huey

    huey.flush()
    if not database.is_closed():
        database.close()


class CsrfClient(FlaskClient):
    """A test client that sends the CSRF token on unsafe requests, as the pages' forms and htmx do.

    Pass ``csrf=False`` to send an unsafe request without it.
    """

    _token: str | None = None

    def csrf_token(self) -> str:
        if self._token is None:
            page = super().open("/login", method="GET").get_data(as_text=True)
            self._token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        return self._token

    def open(self, *args, csrf: bool = True, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method in {"POST", "PUT", "PATCH", "DELETE"} and "Authorization" not in (kwargs.get("headers") or {}):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Invoke the `campaigner` command against this test's app."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from campaigner.cli import main

    class Runner(CliRunner):
        def invoke(self, args=None, **kwargs):
            return super().invoke(main, args, obj=ScriptInfo(create_app=lambda: app), **kwargs)

    return Runner()


def make_user(role: str, email: str | None = None, password: str = "password-123"):
    from campaigner.accounts.services import create_user

    with database.connection_context():
        user, _ = create_user(email or f"{role}-{uuid.uuid4().hex[:6]}@example.com", role, password)
    return user


@pytest.fixture
def login_as(app):
    """``login_as(role)`` -> a client signed in as a new user with that role."""

    def login(role: str, client=None):
        client = client or app.test_client()
        user = make_user(role)
        response = client.post("/login", data={"email": user.email, "password": "password-123"})
        assert response.status_code == 302, response.get_data(as_text=True)
        client.user = user
        return client

    return login


@pytest.fixture
def logged_in_editor(login_as):
    return login_as("editor")


@pytest.fixture
def logged_in_ops(login_as):
    return login_as("ops")


@pytest.fixture
def logged_in_developer(login_as):
    return login_as("developer")


@pytest.fixture
def logged_in_admin(login_as):
    return login_as("admin")


@pytest.fixture
def api_token(app):
    """``api_token(role)`` -> headers with a Bearer token of a new user with that role."""
    from campaigner.accounts.services import create_token

    def make(role: str = "admin"):
        user = make_user(role)
        with database.connection_context():
            _, token = create_token(user, "test")
        return {"Authorization": f"Bearer {token}"}

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app):
    """The app served by waitress on a loopback port; yields its base URL."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=free_port(), threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        _fail_or_skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser page whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10000)
    yield page
    context.close()


@pytest.fixture
def browser_login(page):
    """``browser_login(role)`` signs the browser page in as a new user with that role."""

    def login(role: str):
        user = make_user(role)
        page.goto("/login")
        page.fill("#email", user.email)
        page.fill("#password", "password-123")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/$"))
        return user

    return login
