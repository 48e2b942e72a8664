"""The crash test: a worker process SIGKILLed three times mid-send loses nothing and sends nothing twice.

Two 20,000-contact campaigns run at once in a real `campaigner worker`
process: one through a channel whose provider dedupes idempotency keys, one
through a channel whose provider does not. Both channels append every message
they are handed to a file with one write() each, so what reached the "provider"
survives the kills. The worker is killed with SIGKILL three times while it
sends and started again; afterwards every targeted contact has exactly one
delivery in a final state, and the file shows no contact got a message twice —
except replays of a batch in flight at a kill, on the deduping channel, with
the same idempotency key (counted and reported). On the other channel those
in-flight sends end `unknown`, never resent, and only they: a batch records
each group of `handover_size` messages before it hands over the next, so a
kill leaves at most one group per send chain unknown, and everything it had
not handed over goes back to the queue. The engine's default lease and
heartbeat are used, so the time to finish includes real recovery.

It prints lost, duplicates, unknown and the time to finish for the backend.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from campaigner.db import database
from campaigner.deliveries.policy import ENGINE_DEFAULTS
from tests.fixtures_engine import deliveries_of, make_contacts, make_content

CONTACTS = 20_000
KILLS = 3
BATCH = 200
CHAINS = 2

PLUGIN = textwrap.dedent('''
    """Crash-test channels: append each message handed to them to a file, one write() per message."""
    import os
    import time

    from campaigner import Capabilities, Channel, Message, SendResult, hookimpl

    RECORD = os.environ["CRASH_RECORD"]
    _fd = []


    class FileChannel(Channel):
        label = "Crash file"
        contact_field = "email"
        send_timeout = 1.5

        def __init__(self, name, dedupes):
            super().__init__()
            self.name = name
            self.capabilities = Capabilities(provider_dedupes=dedupes)

        def render(self, content, contact, context):
            return Message(to=contact.email, body=content.body.replace("{{ name }}", contact.name))

        def send(self, message, key):
            time.sleep(0.001)  # a provider takes a moment, so a kill lands mid-batch
            if not _fd:
                _fd.append(os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
            os.write(_fd[0], f"{self.name}\\t{key}\\t{message.to}\\n".encode())
            return SendResult(provider_id=key)


    @hookimpl
    def register_channels(register):
        register(FileChannel("crash_dedupe", True))
        register(FileChannel("crash_nodedupe", False))
''')


def _lines(path: Path, channel: str | None = None) -> int:
    if not path.exists():
        return 0
    data = path.read_bytes()
    if channel is None:
        return data.count(b"\n")
    return data.count(channel.encode() + b"\t")


def _start_worker(instance: Path, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from campaigner.cli import main; main()", "worker", "--workers", "4"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(instance.parent), start_new_session=True)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_worker_killed_three_times_mid_send_loses_nothing_and_never_double_sends(app, tmp_path, backend):
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import create_campaign, schedule_campaign
    from campaigner.settings_store import set_value

    settings = app.config["CAMPAIGNER"]
    instance = Path(settings["INSTANCE_PATH"])
    plugin_dir = tmp_path / "crash_plugins"
    plugin_dir.mkdir()
    (plugin_dir / "crash_channels.py").write_text(PLUGIN)
    record = tmp_path / "received.tsv"
    (instance / "campaigner.toml").write_text(
        f'database_url = "{settings["DATABASE_URL"]}"\nqueue_url = "{settings["QUEUE_URL"]}"\n'
        f'queue_name = "{settings["QUEUE_NAME"]}"\nsecret_key = "{settings["SECRET_KEY"]}"\n')
    env = {**os.environ, "CAMPAIGNER_INSTANCE_PATH": str(instance), "CAMPAIGNER_PLUGINS_DIR": str(plugin_dir),
           "CRASH_RECORD": str(record)}

    # The app in this process must know the channels to validate the campaigns.
    sys.path.insert(0, str(plugin_dir))
    os.environ["CRASH_RECORD"] = str(record)
    try:
        import crash_channels

        plugins = app.extensions["campaigner"].plugins
        plugins.pm.register(crash_channels, name="crash_channels")
        plugins._channels = None
    finally:
        sys.path.remove(str(plugin_dir))

    make_contacts(CONTACTS)
    content = make_content(body="Hi {{ name }}")
    with database.connection_context():
        set_value("delivery_engine", {"batch_size": BATCH, "parallel_batches": CHAINS, "send_threads": 8,
                                      "caps": {"day": 0, "week": 0}})
        dedupe = create_campaign(name="crash dedupe", content=content, channels=["crash_dedupe"])
        nodedupe = create_campaign(name="crash no dedupe", content=content, channels=["crash_nodedupe"])
        # Schedule both before any worker runs: the worker finds the dispatch tasks in the queue.
        schedule_campaign(dedupe)
        schedule_campaign(nodedupe)

    log_path = tmp_path / "worker.log"
    kills = []
    started = time.monotonic()
    with log_path.open("ab") as log:
        worker = _start_worker(instance, env, log)
        try:
            for k in range(KILLS):
                # Kill while the no-dedupe channel is being handed messages: a batch is in flight.
                threshold = _lines(record, "crash_nodedupe") + CONTACTS // (KILLS + 2)
                deadline = time.monotonic() + 90
                while _lines(record, "crash_nodedupe") < threshold:
                    assert worker.poll() is None, log_path.read_text()[-3000:]
                    assert time.monotonic() < deadline, "the worker stopped sending\n" + log_path.read_text()[-3000:]
                    time.sleep(0.01)
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(10)
                kills.append(_lines(record))
                last_kill = time.monotonic()
                worker = _start_worker(instance, env, log)

            deadline = time.monotonic() + 120
            while True:
                with database.connection_context():
                    statuses = [c.status for c in Campaign.select().where(Campaign.id.in_([dedupe.id, nodedupe.id]))]
                if statuses == ["completed", "completed"]:
                    finished = time.monotonic()
                    break
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"not finished: {statuses}\n" + log_path.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)

    assert len(kills) == KILLS
    in_flight = KILLS * CHAINS * ENGINE_DEFAULTS["handover_size"]  # one group per chain at each kill
    received = collections.defaultdict(list)  # (channel, address) -> keys
    for line in record.read_text().splitlines():
        channel, key, to = line.split("\t")
        received[(channel, to)].append(key)

    report = {}
    for campaign, channel in ((dedupe, "crash_dedupe"), (nodedupe, "crash_nodedupe")):
        rows = deliveries_of(campaign.id)
        # Every targeted contact: exactly one delivery, in a final state.
        assert len(rows) == CONTACTS
        assert len({r.contact_id for r in rows}) == CONTACTS
        statuses = collections.Counter(r.status for r in rows)
        by_email = {}
        with database.connection_context():
            from campaigner.audience.models import Contact

            emails = dict(Contact.select(Contact.id, Contact.email).tuples())
        for r in rows:
            by_email[emails[r.contact_id]] = r
        twice = {to: keys for (ch, to), keys in received.items() if ch == channel and len(keys) > 1}
        # None lost: every delivery marked sent reached the channel.
        for email, row in by_email.items():
            if row.status == "sent":
                assert received.get((channel, email)), f"{email} marked sent but never handed to {channel}"
        if channel == "crash_dedupe":
            assert statuses == {"sent": CONTACTS}, statuses
            # Replays exist only as the same idempotency key, from batches in flight at a kill.
            for to, keys in twice.items():
                assert len(set(keys)) == 1, f"{to} got different keys: {keys}"
                assert by_email[to].attempts >= 2
            assert len(twice) <= in_flight
        else:
            assert set(statuses) <= {"sent", "unknown"}, statuses
            assert not twice, f"no-dedupe channel sent twice to {len(twice)} contacts"
            assert statuses["unknown"] >= 1, "a kill mid-send must leave in-flight sends unknown"
            assert statuses["unknown"] <= in_flight
            for email, row in by_email.items():
                if row.status == "unknown":
                    assert len(received.get((channel, email), [])) <= 1
        lost = sum(1 for email, row in by_email.items()
                   if row.status not in ("sent", "unknown") or (row.status == "sent" and not received.get((channel, email))))
        assert lost == 0
        report[channel] = {"lost": lost, "duplicates": len(twice), "unknown": statuses["unknown"],
                           "statuses": dict(statuses)}

    print(f"\ncrash test ({backend['name']}): {KILLS} SIGKILLs (at {kills} messages handed over); "
          f"finished {finished - started:.1f} s after the start, {finished - last_kill:.1f} s after the last kill; "
          + "; ".join(f"{channel}: lost {r['lost']}, duplicates {r['duplicates']} (same key, provider dedupes)"
                      if channel == "crash_dedupe" else
                      f"{channel}: lost {r['lost']}, duplicates {r['duplicates']}, unknown {r['unknown']}"
                      for channel, r in report.items()))
