"""Fixtures for the plugin and channel tests: loopback servers, channel config, drop-in plugins.

Import what a module needs: ``from tests.fixtures_plugins import smtp_server, ...``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from campaigner.db import database
from campaigner.testing import FakeGateway, SmtpServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = ROOT / "docs" / "example-plugin"


@pytest.fixture
def smtp_server():
    """An aiosmtpd server on 127.0.0.1 keeping each message it accepts."""
    with SmtpServer(refuse={"nobody@example.com": "550 5.1.1 no such mailbox",
                            "busy@example.com": "451 4.3.0 try again later"}) as server:
        yield server


@pytest.fixture
def fake_sms_gateway():
    """An HTTP JSON SMS gateway on 127.0.0.1 recording each request (answers 200 {"id": ...})."""
    with FakeGateway() as gateway:
        yield gateway


@pytest.fixture
def fake_chat_webhook():
    """A WeCom-robot-compatible webhook on 127.0.0.1 (answers {"errcode": 0})."""
    with FakeGateway() as gateway:
        gateway.reply(200, {"errcode": 0, "errmsg": "ok"})
        yield gateway


@pytest.fixture
def configure_channel(app):
    """``configure_channel(name, **config)`` stores a channel's config as the Plugins page would."""
    from campaigner.channels.config import save_config

    def configure(name: str, **config):
        channel = app.extensions["campaigner"].plugins.channel(name)
        with database.connection_context():
            save_config(channel, config, app.config["CAMPAIGNER"])
        return channel

    return configure


@pytest.fixture
def plugins(app):
    """The app's plugin manager."""
    return app.extensions["campaigner"].plugins


def make_contact_row(**fields):
    """A contact saved in the database."""
    from campaigner.audience.models import Contact

    fields.setdefault("name", "王芳")
    fields.setdefault("external_id", f"c-{uuid.uuid4().hex[:8]}")
    with database.connection_context():
        return Contact.create(**fields)


def make_delivery_row(contact, channel: str = "email", source_type: str = "test", source_id: int = 1):
    """A delivery of `contact` in the database."""
    from campaigner.deliveries.models import Delivery

    with database.connection_context():
        return Delivery.create(source_type=source_type, source_id=source_id, contact=contact, channel=channel,
                               idempotency_key=f"{source_type}:{source_id}:{contact.id}:{channel}:{uuid.uuid4().hex[:6]}")


def write_plugin(directory: Path, name: str, source: str) -> Path:
    """Write a drop-in plugin module `name`.py into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def app_with_plugins(tmp_path, backend):
    """``app_with_plugins({"name": source, ...})`` -> an app whose CAMPAIGNER_PLUGINS_DIR holds those modules."""
    from campaigner import create_app
    from tests.conftest import CsrfClient, app_config, reset_database

    made = []

    def make(modules: dict[str, str]):
        directory = tmp_path / f"plugins-{len(made)}"
        directory.mkdir()
        for name, source in modules.items():
            write_plugin(directory, name, source)
        app = create_app(app_config(tmp_path, backend, PLUGINS_DIR=str(directory)))
        app.test_client_class = CsrfClient
        reset_database()
        made.append(app)
        return app

    yield make
    from campaigner.queue import huey

    huey.flush()
    if not database.is_closed():
        database.close()


def _installed_example_matches() -> bool:
    """Whether the installed campaigner-dingtalk is this checkout's (so installing again is not needed)."""
    try:
        dist = importlib.metadata.distribution("campaigner-dingtalk")
    except importlib.metadata.PackageNotFoundError:
        return False
    installed = dist.locate_file("campaigner_dingtalk/__init__.py")
    source = EXAMPLE_PLUGIN / "campaigner_dingtalk" / "__init__.py"
    ep_ok = any(ep.group == "campaigner" and ep.name == "dingtalk" for ep in dist.entry_points)
    return ep_ok and Path(installed).exists() and Path(installed).read_bytes() == source.read_bytes()


@pytest.fixture(scope="session")
def example_plugin_installed(tmp_path_factory):
    """docs/example-plugin pip-installed into the running environment, as a user would install it."""
    if not _installed_example_matches():
        build = tmp_path_factory.mktemp("example-plugin") / "campaigner-dingtalk"
        shutil.copytree(EXAMPLE_PLUGIN, build, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", str(build)],
            capture_output=True, text=True)
        assert result.returncode == 0, f"pip install of the example plugin failed:\n{result.stdout}\n{result.stderr}"
        importlib.invalidate_caches()
        sys.modules.pop("campaigner_dingtalk", None)
    return EXAMPLE_PLUGIN


@pytest.fixture(scope="session")
def bundled():
    """A plugin manager with the bundled plugins, for tests of channels that need no app or database."""
    from campaigner.plugins import build_plugin_manager

    return build_plugin_manager({})
