"""A misbehaving plugin in a real worker: it fails only its own deliveries, with the error recorded.

A drop-in plugin (loaded from CAMPAIGNER_PLUGINS_DIR, like any third party's)
provides a channel that raises for one contact, hangs past its send_timeout
for another and sends the rest, plus a delivery_event hook that always
raises. A `campaigner worker` process runs the campaign; afterwards it runs a
second campaign too, so the worker demonstrably went on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaigner.db import database
from tests.fixtures_plugins import app_with_plugins  # noqa: F401  (fixture)

FLAKY = """
import time

from campaigner import Capabilities, Channel, Message, SendResult, hookimpl


class FlakyChannel(Channel):
    name = "flaky"
    label = "Flaky provider"
    contact_field = "email"
    capabilities = Capabilities(provider_dedupes=False)
    send_timeout = 0.5

    def render(self, content, contact, context):
        return Message(to=contact.email, body=content.body)

    def send(self, message, idempotency_key):
        if message.to.startswith("raises@"):
            raise RuntimeError("the provider's SDK blew up")
        if message.to.startswith("hangs@"):
            time.sleep(3)  # far past send_timeout
        return SendResult(provider_id="flaky-" + idempotency_key)


@hookimpl
def register_channels(register):
    register(FlakyChannel())


@hookimpl
def delivery_event(event, delivery, details):
    raise ValueError("this listener is broken too")
"""


def _wait_for(predicate, what: str, worker: subprocess.Popen, log: Path, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert worker.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not happen:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_plugin_that_raises_or_hangs_fails_only_its_delivery_and_the_worker_goes_on(app_with_plugins, tmp_path):
    from campaigner.audience.models import Contact
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import create_campaign, schedule_campaign
    from campaigner.content.models import ContentItem
    from campaigner.deliveries.models import Delivery
    from campaigner.settings_store import set_value

    app = app_with_plugins({"campaigner_flaky": FLAKY})
    assert app.extensions["campaigner"].plugins.channel("flaky") is not None
    settings = app.config["CAMPAIGNER"]
    instance = Path(settings["INSTANCE_PATH"])
    (instance / "campaigner.toml").write_text(
        f'database_url = "{settings["DATABASE_URL"]}"\nqueue_url = "{settings["QUEUE_URL"]}"\n'
        f'queue_name = "{settings["QUEUE_NAME"]}"\nsecret_key = "{settings["SECRET_KEY"]}"\n'
        f'plugins_dir = "{settings["PLUGINS_DIR"]}"\n')

    with database.connection_context():
        set_value("delivery_engine", {"caps": {"day": 0, "week": 0}, "pause_after_errors": 100})
        for local in ("ok1", "raises", "hangs", "ok2", "ok3"):
            Contact.create(name=local, email=f"{local}@example.com", external_id=local)
        content = ContentItem.create(title="Offer", slug="offer", body="Hello {{ name }}", status="approved")
        first = create_campaign(name="flaky first", content=content, channels=["flaky"])
        schedule_campaign(first)

    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNER_")}
    env["CAMPAIGNER_INSTANCE_PATH"] = str(instance)
    log = tmp_path / "worker.log"

    def status(campaign_id):
        with database.connection_context():
            return Campaign.get_by_id(campaign_id).status

    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", "from campaigner.cli import main; main()", "worker", "--workers", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(tmp_path), start_new_session=True)
        try:
            _wait_for(lambda: status(first.id) == "completed", "the first campaign completing", worker, log)
            with database.connection_context():
                second = create_campaign(name="flaky second", content=content, channels=["flaky"], audience="")
                schedule_campaign(second)
            _wait_for(lambda: status(second.id) == "completed", "the second campaign completing", worker, log)
            assert worker.poll() is None
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)

    with database.connection_context():
        rows = {d.contact.email.split("@")[0]: d for d in
                Delivery.select().join(Contact).where(Delivery.source_id == first.id)}
        again = {d.contact.email.split("@")[0]: d.status for d in
                 Delivery.select().join(Contact).where(Delivery.source_id == second.id)}
    assert rows["raises"].status == "failed"
    assert "RuntimeError" in rows["raises"].error and "the provider's SDK blew up" in rows["raises"].error
    # A hung send's outcome is unknown; this provider does not dedupe, so it is never sent again blindly.
    assert rows["hangs"].status == "unknown" and "within 0.5 s" in rows["hangs"].error
    assert {k: rows[k].status for k in ("ok1", "ok2", "ok3")} == {"ok1": "sent", "ok2": "sent", "ok3": "sent"}
    assert rows["ok1"].provider_id == f"flaky-{rows['ok1'].idempotency_key}"
    assert again == {"ok1": "sent", "raises": "failed", "hangs": "unknown", "ok2": "sent", "ok3": "sent"}
    # The broken delivery_event listener was recorded with its plugin's name, and changed nothing.
    from campaigner.plugins import recent_hook_failures

    with database.connection_context():
        failures = recent_hook_failures()
    assert any(f["plugin"] == "campaigner_flaky" and "this listener is broken too" in f["error"] for f in failures)
