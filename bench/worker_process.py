"""For the engine benchmarks: a real `campaigner worker` process on the bench's database, with bench channels.

The channels live in a plugin module written to a temporary plugins folder,
so the worker loads them the way it loads any drop-in plugin.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bench.common import person_name

PLUGIN = textwrap.dedent('''
    """Bench channels: a no-op one (personalised rendering, nothing sent) and an SMS one over a loopback gateway."""
    import json
    import os
    import time
    import urllib.request

    import requests

    from campaigner import Capabilities, Channel, Message, SendResult, TransientError, hookimpl
    from campaigner.content.rendering import personalize, text_for_channel

    GATEWAY = os.environ.get("BENCH_GATEWAY", "")
    SENDS = os.environ.get("BENCH_SENDS", "")
    _fd = []
    _local = __import__("threading").local()


    def _record(line):
        if SENDS:
            if not _fd:
                _fd.append(os.open(SENDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
            os.write(_fd[0], line.encode())


    class NoopChannel(Channel):
        name = "bench_noop"
        label = "No-op"
        contact_field = "phone"

        def render(self, content, contact, context):
            return Message(to=self.address(contact), body=personalize(text_for_channel(content, self.name), contact))

        def send(self, message, key):
            _record(f"{time.time():.6f}\\t{key}\\n")
            return SendResult(provider_id=None)


    class GatewaySms(Channel):
        name = "bench_sms"
        label = "Bench SMS gateway"
        contact_field = "phone"
        send_timeout = 5.0

        def render(self, content, contact, context):
            return Message(to=self.address(contact), body=personalize(text_for_channel(content, self.name), contact))

        def send(self, message, key):
            session = getattr(_local, "session", None)
            if session is None:
                session = _local.session = requests.Session()  # one keep-alive connection per send thread
            response = session.post(GATEWAY, json={"to": message.to, "text": message.body, "id": key}, timeout=5)
            if response.status_code >= 500:
                raise TransientError(f"gateway {response.status_code}")
            return SendResult(provider_id=response.json()["id"])


    @hookimpl
    def register_channels(register):
        register(NoopChannel())
        register(GatewaySms())
''')


def write_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_channels.py").write_text(PLUGIN)
    return folder


def register_in_process(app, folder: Path) -> None:
    """The bench process's app must know the channels too, to validate campaigns."""
    sys.path.insert(0, str(folder))
    try:
        import bench_channels
    finally:
        sys.path.remove(str(folder))
    plugins = app.extensions["campaigner"].plugins
    if plugins.pm.get_plugin("bench_channels") is None:
        plugins.pm.register(bench_channels, name="bench_channels")
    plugins._channels = None


def make_contacts(n: int, seed: int = 6, timezone_spread: bool = False) -> None:
    """`n` contacts with realistic names and E.164 phones (raw executemany-sized chunks)."""
    from campaigner.audience.models import Contact
    from campaigner.db import database

    rng = random.Random(seed)
    with database.connection_context(), database.atomic():
        for start in range(0, n, 1000):
            # A number of each contact's own: a campaign sends one message an address (duplicates are skipped).
            rows = [{"name": person_name(rng), "phone": f"+86139{start + i:08d}", "external_id": f"b{start + i}",
                     "attributes": {}} for i in range(min(1000, n - start))]
            Contact.insert_many(rows).execute()


def start_worker(app, plugin_dir: Path, env_extra: dict, threads: int = 4) -> subprocess.Popen:
    """Start `campaigner worker` on the app's database and queue; return once its consumer runs."""
    settings = app.config["CAMPAIGNER"]
    instance = Path(settings["INSTANCE_PATH"])
    (instance / "campaigner.toml").write_text(
        f'database_url = "{settings["DATABASE_URL"]}"\nqueue_url = "{settings["QUEUE_URL"]}"\n'
        f'queue_name = "{settings["QUEUE_NAME"]}"\nsecret_key = "{settings["SECRET_KEY"]}"\n')
    env = {**os.environ, "CAMPAIGNER_INSTANCE_PATH": str(instance), "CAMPAIGNER_PLUGINS_DIR": str(plugin_dir),
           **env_extra}
    log = open(instance / "worker.log", "ab")
    process = subprocess.Popen([sys.executable, "-c", "from campaigner.cli import main; main()", "worker",
                                "--workers", str(threads), "-v"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    # The queue's own lines ("consumer started") show with -v only: the console is quiet by default.
    while b"consumer started" not in (instance / "worker.log").read_bytes().lower():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start:\n" + (instance / "worker.log").read_text()[-2000:])
        time.sleep(0.05)
    time.sleep(0.3)  # its startup sweep
    return process


def peak_rss_mb(process: subprocess.Popen) -> float:
    """The worker's peak resident memory (VmHWM), read before it stops."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass  # the worker is gone already: its peak is unknown, reported as NaN
    return float("nan")


def stop_worker(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_completed(campaign_ids: list[int], timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll until every campaign is completed; return the moment (perf_counter) it was seen."""
    from campaigner.campaigns.models import Campaign
    from campaigner.db import database

    deadline = time.monotonic() + timeout
    while True:
        with database.connection_context():
            done = Campaign.select().where(Campaign.id.in_(campaign_ids), Campaign.status == "completed").count()
        if done == len(campaign_ids):
            return time.perf_counter()
        if process is not None and process.poll() is not None:
            raise RuntimeError("the worker died")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {len(campaign_ids)} campaigns completed in {timeout:.0f} s")
        time.sleep(0.05)
