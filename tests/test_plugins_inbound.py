"""The inbound ledger for every plugin: receivers registered by hook, events processed once, failures retried,
a killed worker's events processed after restart, the ops' inbound log."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from campaigner.db import database, utcnow
from campaigner.events.models import Event
from campaigner.inbound import services
from campaigner.inbound.models import InboundEvent
from tests.fixtures_plugins import app_with_plugins  # noqa: F401

RECEIVER_PLUGIN = textwrap.dedent('''
    """A test receiver: /hooks/echo/<account> takes JSON {"id", "contact", "fail"}; processing records `replied`."""
    import json
    import os
    import time

    from campaigner import InboundReceiver, InboundRejected, Received, hookimpl, record_contact_event

    RECORD = os.environ.get("ECHO_RECORD", "")
    _fd = []


    class EchoReceiver(InboundReceiver):
        provider = "echo"
        max_body = 1024

        def accept(self, request):
            if request.headers.get("X-Token") != "let-me-in":
                raise InboundRejected("wrong token", 401)
            try:
                data = json.loads(request.body)
            except ValueError:
                raise InboundRejected("not JSON")
            return [Received(kind="ping", dedupe_key=str(data["id"]), payload=data)]

        def process(self, event):
            if event.payload.get("fail"):
                raise RuntimeError("the provider's data is broken")
            if RECORD:
                if not _fd:
                    _fd.append(os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
                os.write(_fd[0], (event.dedupe_key + "\\n").encode())
                time.sleep(0.004)
            record_contact_event("replied", event.payload.get("contact"), source="echo",
                                 details={"text": event.payload.get("text", "")})


    @hookimpl
    def register_inbound_receivers(register):
        register(EchoReceiver())
''')


@pytest.fixture
def echo_app(app_with_plugins):
    return app_with_plugins({"campaigner_echo_receiver": RECEIVER_PLUGIN})


def _post(client, data: bytes, token="let-me-in"):
    return client.post("/hooks/echo/main", data=data, headers={"X-Token": token}, content_type="application/json")


def test_register_inbound_receivers_mounts_a_plugins_receiver_at_hooks(echo_app):
    client = echo_app.test_client()
    assert "echo" in echo_app.extensions["campaigner"].plugins.receivers()
    assert _post(client, b'{"id": 1, "text": "hi"}').status_code == 200
    assert _post(client, b'{"id": 1}', token="nope").status_code == 401
    assert _post(client, b"not json").status_code == 400
    assert _post(client, b"x" * 2000).status_code == 413
    with database.connection_context():
        [row] = InboundEvent.select()
        assert (row.provider, row.kind, row.dedupe_key, row.payload["text"]) == ("echo", "ping", "1", "hi")


def test_record_inbound_event_stores_a_dedupe_key_once(echo_app):
    with database.connection_context():
        assert services.record_inbound_event("echo", "ping", "k1", {"a": 1}) is True
        assert services.record_inbound_event("echo", "ping", "k1", {"a": 2}) is False
        assert InboundEvent.select().count() == 1


def _login(app, role: str):
    from tests.conftest import make_user

    client = app.test_client()
    user = make_user(role)
    assert client.post("/login", data={"email": user.email, "password": "password-123"}).status_code == 302
    return client


def test_a_failing_event_is_retried_with_back_off_then_failed_and_ops_can_retry_it(echo_app):
    client = echo_app.test_client()
    _post(client, b'{"id": "bad", "fail": true}')
    _post(client, b'{"id": "good"}')
    with database.connection_context():
        report = services.process_pending()
        assert (report.done, report.retried) == (1, 1)
        bad = InboundEvent.get(InboundEvent.dedupe_key == "bad")
        assert bad.status == "pending" and bad.attempts == 1 and "broken" in bad.error
        assert bad.due_at > utcnow() + dt.timedelta(seconds=3)  # not before the back-off
        assert services.process_pending().claimed == 0
        for attempt in range(2, services.MAX_ATTEMPTS + 1):
            InboundEvent.update(due_at=utcnow()).where(InboundEvent.id == bad.id).execute()
            services.process_pending()
        bad = InboundEvent.get_by_id(bad.id)
        assert bad.status == "failed" and bad.attempts == services.MAX_ATTEMPTS
    ops = _login(echo_app, "ops")
    page = ops.get("/inbound/?status=failed").get_data(as_text=True)
    assert "broken" in page and "good" not in page
    assert ops.get("/inbound/?provider=echo&status=done").get_data(as_text=True).count("/inbound/") >= 1
    assert ops.get(f"/inbound/{bad.id}").status_code == 200
    assert ops.get("/inbound/?status=nonsense").status_code == 200  # shown as a filter error, not a 500
    response = ops.post(f"/inbound/{bad.id}/retry")
    assert response.status_code == 302
    with database.connection_context():
        assert InboundEvent.get_by_id(bad.id).status == "pending"


def test_the_inbound_log_needs_ops_or_developer(echo_app):
    assert _login(echo_app, "editor").get("/inbound/").status_code == 403
    assert _login(echo_app, "developer").get("/inbound/").status_code == 200


def test_events_a_stopped_worker_held_are_processed_again_after_the_lease(echo_app):
    client = echo_app.test_client()
    _post(client, b'{"id": "held"}')
    with database.connection_context():
        token, rows = services.claim_batch()
        assert len(rows) == 1 and rows[0].status == "processing"
        # The worker dies here. Before the lease ends the sweeper leaves the row alone …
        assert services.sweep_inbound()[0] == 0
        # … after it, the row is pending again and the next run processes it.
        assert services.sweep_inbound(now=utcnow() + dt.timedelta(seconds=services.LEASE_SECONDS + 1))[0] == 1
        assert services.process_pending().done == 1
        # The stopped run, should it wake up, writes nothing.
        assert services.process_claimed(token, rows).done == 0
        assert Event.select().count() == 1


def _start_worker(instance: Path, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from campaigner.cli import main; main()", "worker", "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(instance.parent), start_new_session=True)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_sigkilled_while_processing_loses_no_event(app, tmp_path, backend):
    """300 events; a real worker process is SIGKILLed mid-batch; after the lease and a restart all are processed once."""
    from campaigner.audience.models import Contact
    from campaigner.inbound.tasks import process_inbound

    settings = app.config["CAMPAIGNER"]
    instance = Path(settings["INSTANCE_PATH"])
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "campaigner_echo_receiver.py").write_text(RECEIVER_PLUGIN)
    record = tmp_path / "processed.txt"
    (instance / "campaigner.toml").write_text(
        f'database_url = "{settings["DATABASE_URL"]}"\nqueue_url = "{settings["QUEUE_URL"]}"\n'
        f'queue_name = "{settings["QUEUE_NAME"]}"\nsecret_key = "{settings["SECRET_KEY"]}"\n')
    env = {**os.environ, "CAMPAIGNER_INSTANCE_PATH": str(instance), "CAMPAIGNER_PLUGINS_DIR": str(plugin_dir),
           "ECHO_RECORD": str(record)}
    count = 300
    with database.connection_context():
        contact = Contact.create(name="王芳", phone="+8613800138000")
        for n in range(count):
            services.record_inbound_event("echo", "ping", f"e{n}", {"contact": contact.id, "text": str(n)})
    process_inbound()  # queued before any worker runs: the first worker finds it
    log_path = tmp_path / "worker.log"
    with log_path.open("ab") as log:
        worker = _start_worker(instance, env, log)
        try:
            deadline = time.monotonic() + 60
            while _lines(record) < 40:
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker processed nothing\n" + log_path.read_text()[-3000:]
                time.sleep(0.005)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
            seen_before_kill = _lines(record)
            with database.connection_context():
                statuses = {s for (s,) in InboundEvent.select(InboundEvent.status).tuples()}
                assert "processing" in statuses  # the killed batch is held, not lost and not done
                assert Event.select().count() < count
                # The sweeper, once the lease ran out, makes the held events pending again.
                released, due = services.sweep_inbound(now=utcnow() + dt.timedelta(seconds=services.LEASE_SECONDS + 1))
                assert released > 0 and due
            process_inbound()
            worker = _start_worker(instance, env, log)
            deadline = time.monotonic() + 90
            while True:
                with database.connection_context():
                    done = InboundEvent.select().where(InboundEvent.status == "done").count()
                if done == count:
                    break
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{done} of {count} done\n" + log_path.read_text()[-3000:]
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
    with database.connection_context():
        texts = sorted(int(e.details["text"]) for e in Event.select().where(Event.kind == "replied"))
    assert texts == list(range(count))  # every event's effect exactly once
    assert seen_before_kill < _lines(record)  # the killed run's work was done again, not lost
