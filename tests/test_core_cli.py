"""The one-process run, restarts, migrations and settings errors, as a new user meets them."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.conftest import BACKEND, PG_HOST, REDIS_URL, free_port

CAMPAIGNER = [sys.executable, "-m", "campaigner.cli"]


@pytest.fixture
def instance_env(tmp_path, backend):
    """Environment for a `campaigner` process with its own instance folder (and database on postgres)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNER_")}
    env.update(PYTHONUNBUFFERED="1", CAMPAIGNER_INSTANCE_PATH=str(tmp_path / "instance"))
    dbname = None
    if backend["name"] == "postgres":
        import psycopg2

        dbname = f"campaigner_cli_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(f"{PG_HOST}/postgres")
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{dbname}"')
        env["CAMPAIGNER_DATABASE_URL"] = f"{PG_HOST}/{dbname}"
        env["CAMPAIGNER_QUEUE_URL"] = REDIS_URL
    yield env
    if dbname:
        cur = admin.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s", (dbname,))
        cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        admin.close()


def start_up(env, port):
    proc = subprocess.Popen([*CAMPAIGNER, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Campaigner is running" in line:
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("campaigner up did not start:\n" + "".join(lines))


def stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def sign_in(base, email, password) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": password},
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def test_up_prints_admin_password_serves_ui_and_keeps_records_across_restart(instance_env):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, startup = start_up(instance_env, port)
    try:
        password = re.search(r"One-time password: (\S+)", startup).group(1)
        session = sign_in(base, "admin@example.com", password)
        # The printed password is one-time: every page leads to changing it first.
        settings = session.get(f"{base}/").text
        token = re.search(r'name="pw-csrf_token" type="hidden" value="([^"]+)"', settings).group(1)
        password, one_time = "admin-password-9", password
        changed = session.post(f"{base}/settings/password", data={"pw-csrf_token": token, "pw-current": one_time,
                                                                  "pw-new": password, "pw-confirm": password})
        assert changed.status_code == 200 and "Dashboard" in session.get(f"{base}/").text
        page = session.get(f"{base}/settings/users").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        created = session.post(f"{base}/settings/users",
                               data={"csrf_token": token, "email": "kept@example.com", "name": "Kept", "role": "ops"})
        assert "kept@example.com" in created.text
    finally:
        out = stop(proc)
    assert "Stopped." in out

    proc, startup = start_up(instance_env, port)
    try:
        assert "One-time password" not in startup  # the admin exists: no new one
        session = sign_in(base, "admin@example.com", password)
        assert "kept@example.com" in session.get(f"{base}/settings/users").text
    finally:
        stop(proc)

    again = subprocess.run([*CAMPAIGNER, "db", "upgrade"], env=instance_env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "Nothing to apply" in again.stdout


def test_wrong_setting_stops_start_naming_it(instance_env):
    env = {**instance_env, "CAMPAIGNER_TIMEZONE": "Mars/Olympus"}
    result = subprocess.run([*CAMPAIGNER, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "CAMPAIGNER_TIMEZONE" in result.stderr and "Mars/Olympus" in result.stderr


def test_admin_from_environment(instance_env):
    env = {**instance_env, "CAMPAIGNER_ADMIN_EMAIL": "chief@example.com", "CAMPAIGNER_ADMIN_PASSWORD": "chief-password-9"}
    port = free_port()
    proc, startup = start_up(env, port)
    try:
        assert "One-time password" not in startup
        sign_in(f"http://127.0.0.1:{port}", "chief@example.com", "chief-password-9")
    finally:
        stop(proc)


@pytest.mark.parametrize("name,value", [
    ("DATABASE_URL", "mysql://x/y"), ("QUEUE_URL", "amqp://x"), ("BASE_URL", "not a url"), ("WORKERS", "zero"),
    ("DATABASE_POOL_SIZE", "0"),
])
def test_settings_validation_names_the_setting(tmp_path, name, value):
    from campaigner.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=f"CAMPAIGNER_{name}"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={f"CAMPAIGNER_{name}": value})


def test_secret_key_is_generated_once_and_kept(tmp_path):
    from campaigner.settings import load_settings

    first = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})["SECRET_KEY"]
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})["SECRET_KEY"]
    assert first == second and len(first) > 30


def test_config_file_in_instance_folder_is_read(tmp_path):
    from campaigner.settings import load_settings

    (tmp_path / "campaigner.toml").write_text('timezone = "Europe/Berlin"\n')
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})["TIMEZONE"] == "Europe/Berlin"


def test_second_db_upgrade_is_a_no_op(runner, app):
    result = runner.invoke(["db", "upgrade"])
    assert result.exit_code == 0
    assert "Nothing to apply" in result.output
