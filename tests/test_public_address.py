"""Links in messages point where the server really listens: `campaigner up` on a port of its own, an email
campaign to a real SMTP server, and the short link and unsubscribe link found in the received message work."""
from __future__ import annotations

import re
import subprocess

import pytest
import requests

from campaigner.db import database
from campaigner.public_address import adopt_stored_address, follow_listening_address, listening_url
from campaigner.settings import load_settings
from campaigner.testing import SmtpServer
from tests.conftest import free_port
from tests.test_core_cli import CAMPAIGNER, instance_env, start_up, stop  # noqa: F401  (fixture)

ADMIN_PASSWORD = "first-hour-password-1"


def own_queue(env: dict) -> dict:
    """`env` with a queue of its own, also on the scale path: every `campaigner` process on this Redis shares
    the default queue name, so another instance's worker would take this one's tasks (and this one theirs)."""
    return {**env, "CAMPAIGNER_QUEUE_URL": f"sqlite:///{env['CAMPAIGNER_INSTANCE_PATH']}/queue.db"}


def stop_up(proc) -> str:
    """Stop `campaigner up` with Ctrl-C and return its console; never leave it running, even on a failure."""
    try:
        return stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _token(env) -> str:
    out = subprocess.run([*CAMPAIGNER, "token", "create", "--email", "admin@example.com"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_up_on_its_own_port_sends_links_that_work(instance_env):
    env = {**own_queue(instance_env), "CAMPAIGNER_ADMIN_PASSWORD": ADMIN_PASSWORD}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, startup = start_up(env, port)
    try:
        assert f"Links in messages point at {base}" in startup
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {_token(env)}"
        with SmtpServer() as smtp:
            saved = api.put(f"{base}/api/v1/channels/email/config", json={
                "host": smtp.host, "port": smtp.port, "security": "none", "from_address": "hello@beans.example"})
            assert saved.status_code == 200, saved.text
            contact = api.post(f"{base}/api/v1/contacts", json={"name": "王芳", "email": "fang@example.com"}).json()
            content = api.post(f"{base}/api/v1/content", json={
                "title": "Spring beans", "status": "approved",
                "body": "Our spring beans are in: [see the menu](https://shop.example.com/menu)"})
            assert content.status_code == 201, content.text
            campaign = api.post(f"{base}/api/v1/campaigns", json={
                "name": "Spring", "content_id": content.json()["id"], "channels": ["email"], "schedule": True})
            assert campaign.status_code == 201, campaign.text
            [received] = smtp.wait_for(1, timeout=120)  # returns as soon as it arrives

        text = received.get_body(("plain",)).get_content()
        short = re.search(r"(http://[^\s)]+/s/[\w-]+)", text).group(1)
        assert short.startswith(f"{base}/s/"), text
        click = requests.get(short, allow_redirects=False)
        assert click.status_code == 302
        assert click.headers["Location"].startswith("https://shop.example.com/menu?utm_source=campaigner")

        unsubscribe = re.fullmatch(r"<([^>]+)>", received["List-Unsubscribe"]).group(1)
        assert unsubscribe.startswith(f"{base}/u/")
        assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        confirm = requests.get(unsubscribe, headers={"Accept-Language": "en"})
        assert confirm.status_code == 200 and "Unsubscribe from messages by" in confirm.text
        assert api.get(f"{base}/api/v1/contacts/{contact['id']}").json()["opt_outs"] == []
        assert requests.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        [opt_out] = api.get(f"{base}/api/v1/contacts/{contact['id']}").json()["opt_outs"]
        assert (opt_out["channel"], opt_out["source"]) == ("email", "one_click")
    finally:
        console = stop_up(proc)
    campaign_id = campaign.json()["id"]
    # A quiet console: the campaign's story at INFO, none of the queue's task-by-task lines.
    assert f"campaign {campaign_id} started" in console and f"campaign {campaign_id} finished" in console
    assert "Executing campaigner." not in console and "executed in" not in console, console


def test_a_base_url_that_differs_from_where_up_listens_is_named_in_a_warning(instance_env):
    env = {**own_queue(instance_env), "CAMPAIGNER_BASE_URL": "https://campaigner.example.com"}
    port = free_port()
    proc, startup = start_up(env, port)
    stop_up(proc)
    warning = next(line for line in startup.splitlines() if line.startswith("Warning:"))
    assert "https://campaigner.example.com" in warning and f"http://127.0.0.1:{port}" in warning


def test_a_base_url_equal_to_where_up_listens_starts_without_a_warning(instance_env):
    port = free_port()
    env = {**own_queue(instance_env), "CAMPAIGNER_BASE_URL": f"http://localhost:{port}/"}
    proc, startup = start_up(env, port)
    stop_up(proc)
    assert "Warning:" not in startup


def test_unset_base_url_follows_the_listening_address_and_a_separate_worker_takes_it(app, tmp_path):
    web = load_settings({"INSTANCE_PATH": str(tmp_path / "a")}, environ={})
    assert web["BASE_URL_SET"] is False
    with database.connection_context():
        assert follow_listening_address(web, "127.0.0.1", 8101) is None
    assert web["BASE_URL"] == web["LINK_BASE_URL"] == "http://127.0.0.1:8101"

    worker = load_settings({"INSTANCE_PATH": str(tmp_path / "b")}, environ={})
    assert worker["BASE_URL"] == "http://127.0.0.1:8000"  # nothing known yet
    with database.connection_context():
        adopt_stored_address(worker)
    assert worker["BASE_URL"] == worker["LINK_BASE_URL"] == "http://127.0.0.1:8101"


def test_a_chosen_link_domain_stays_when_base_url_follows(app, tmp_path):
    settings = load_settings({"INSTANCE_PATH": str(tmp_path), "LINK_BASE_URL": "https://go.brand.example"},
                             environ={})
    with database.connection_context():
        follow_listening_address(settings, "127.0.0.1", 8102)
    assert (settings["BASE_URL"], settings["LINK_BASE_URL"]) == ("http://127.0.0.1:8102", "https://go.brand.example")


@pytest.mark.parametrize("host,expected", [("127.0.0.1", "http://127.0.0.1:9000"), ("::1", "http://[::1]:9000")])
def test_listening_url(host, expected):
    assert listening_url(host, 9000) == expected


def test_wildcard_host_gives_the_machine_name_not_an_address_nobody_can_open():
    assert "0.0.0.0" not in listening_url("0.0.0.0", 9000)
