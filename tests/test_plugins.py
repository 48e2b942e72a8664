"""The plugin system: where plugins load from, each hook, failures kept apart, the listing, the docs."""
from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from campaigner import ConfigError, UnknownChannel, hookspecs
from campaigner.db import database
from campaigner.plugins import BUNDLED_PLUGINS_DIR, ENTRY_POINT_GROUP, plugin_report
from campaigner.testing import FakeGateway, assert_channel_conforms, make_contact
from tests.fixtures_plugins import (  # noqa: F401  (fixtures)
    ROOT,
    app_with_plugins,
    configure_channel,
    example_plugin_installed,
    make_contact_row,
    make_delivery_row,
    plugins,
)

BUILT_INS = {"campaigner_email": "email", "campaigner_sms": "sms", "campaigner_chat": "chat",
             "campaigner_miniprogram": "miniprogram"}

RECORDING_CHANNEL = """
from campaigner import Channel, Message, SendResult, hookimpl

class EchoChannel(Channel):
    name = "echo"
    label = "Echo"
    contact_field = "chat_id"

    def render(self, content, contact, context):
        return Message(to=self.address(contact), body=content.body)

    def send(self, message, idempotency_key):
        return SendResult(provider_id="echo-" + idempotency_key)

@hookimpl
def register_channels(register):
    register(EchoChannel())
"""


def test_builtin_channels_load_through_the_plugins_directory(plugins):
    assert set(plugins.channels()) >= set(BUILT_INS.values())
    for plugin_name, channel_name in BUILT_INS.items():
        info = plugins.infos[plugin_name]
        assert info.source == "directory"
        assert Path(info.location).parent.parent == BUNDLED_PLUGINS_DIR
        assert plugins.channel_plugin(channel_name) == plugin_name
    assert not plugins.load_errors


def test_builtin_plugins_missing_from_the_install_are_reported_not_an_empty_list(monkeypatch):
    import campaigner.plugins as plugins_module

    monkeypatch.setattr(plugins_module, "BUNDLED_PLUGINS_DIR", None)
    manager = plugins_module.build_plugin_manager({})
    assert "reinstall Campaigner" in manager.load_errors["campaigner_plugins"]
    assert not set(manager.channels()) & set(BUILT_INS.values())
    assert "campaigner_plugins" in {e["plugin"] for e in plugin_report(manager, check_config=False)["errors"]}


def test_drop_in_plugin_register_channels_adds_a_channel(app_with_plugins):
    app = app_with_plugins({"campaigner_echo": RECORDING_CHANNEL})
    manager = app.extensions["campaigner"].plugins
    assert manager.channel("echo").label == "Echo"
    assert manager.channel_plugin("echo") == "campaigner_echo"
    assert manager.hooks_of("campaigner_echo") == ["register_channels"]
    assert "email" in manager.channels()  # the bundled directory still loads beside it


def test_broken_plugins_are_listed_and_the_rest_still_load(app_with_plugins, runner):
    app = app_with_plugins({
        "campaigner_broken_import": "raise RuntimeError('missing dependency: libfoo')\n",
        "campaigner_misspelled": "from campaigner import hookimpl\n\n@hookimpl\ndef register_channel(register):\n    pass\n",
        "campaigner_bad_register": "from campaigner import hookimpl\n\n@hookimpl\n"
                                   "def register_channels(register):\n    raise KeyError('oops')\n",
        "campaigner_not_a_channel": "from campaigner import hookimpl\n\n@hookimpl\n"
                                    "def register_channels(register):\n    register(object())\n",
        "campaigner_echo": RECORDING_CHANNEL,
    })
    manager = app.extensions["campaigner"].plugins
    channels = manager.channels()
    assert {"echo", "email", "sms", "chat", "miniprogram"} <= set(channels)
    assert "missing dependency: libfoo" in manager.load_errors["campaigner_broken_import"]
    assert "register_channel" in manager.load_errors["campaigner_misspelled"]
    assert "KeyError" in manager.load_errors["campaigner_bad_register"]
    assert "not object" in manager.load_errors["campaigner_not_a_channel"]
    assert manager.pm.get_plugin("campaigner_misspelled") is None

    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from campaigner.cli import main

    result = CliRunner().invoke(main, ["plugins"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "Failed to load" in result.output and "missing dependency: libfoo" in result.output


def test_a_second_channel_with_a_taken_name_is_refused_and_listed(app_with_plugins):
    app = app_with_plugins({"campaigner_echo": RECORDING_CHANNEL,
                            "campaigner_echo_again": RECORDING_CHANNEL})
    manager = app.extensions["campaigner"].plugins
    owner = manager.channel_plugin("echo")
    other = ({"campaigner_echo", "campaigner_echo_again"} - {owner}).pop()
    assert "already registered" in manager.load_errors[other]


def test_register_blueprints_mounts_a_plugins_inbound_webhook(app_with_plugins):
    app = app_with_plugins({"campaigner_hooks": """
        from flask import Blueprint, request
        from campaigner import hookimpl, public

        bp = Blueprint("campaigner_hooks", __name__, url_prefix="/hooks/test")

        @bp.get("/ping")
        @public
        def ping():
            return {"pong": request.args.get("n")}

        @bp.get("/private")
        def private():
            return "secret"

        @hookimpl
        def register_blueprints(register):
            register(bp)
    """})
    client = app.test_client()
    assert client.get("/hooks/test/ping?n=3").get_json() == {"pong": "3"}
    assert client.get("/hooks/test/private").status_code == 302  # login required unless @public


RECORDER = """
from campaigner import hookimpl

EVENTS = []

@hookimpl
def delivery_event(event, delivery, details):
    EVENTS.append((event, getattr(delivery, "id", None), dict(details)))
"""

RAISER = """
from campaigner import hookimpl

@hookimpl
def delivery_event(event, delivery, details):
    raise RuntimeError("analytics endpoint down")
"""


def test_delivery_event_every_implementation_runs_even_when_one_raises(app_with_plugins, login_as):
    app = app_with_plugins({"campaigner_a_raiser": RAISER, "campaigner_recorder": RECORDER,
                            "campaigner_z_raiser": RAISER})
    manager = app.extensions["campaigner"].plugins
    contact = make_contact_row(email="fang@example.com")
    delivery = make_delivery_row(contact)
    with database.connection_context():
        failures = manager.emit_delivery_event("sent", delivery, {"provider_id": "p-1"})
    recorder = sys.modules["campaigner_recorder"]
    assert recorder.EVENTS == [("sent", delivery.id, {"provider_id": "p-1"})]
    assert sorted(f.plugin for f in failures) == ["campaigner_a_raiser", "campaigner_z_raiser"]
    assert all("analytics endpoint down" in f.error for f in failures)

    page = login_as("ops", app.test_client()).get("/plugins/").get_data(as_text=True)
    assert "campaigner_a_raiser" in page and "analytics endpoint down" in page


def test_unknown_delivery_event_is_refused(plugins):
    with pytest.raises(ValueError, match="unknown delivery event"):
        plugins.emit_delivery_event("bounced", None, {})


def test_configured_channel_applies_database_then_environment(app, plugins, configure_channel, monkeypatch):
    configure_channel("sms", mode="gateway", url="http://127.0.0.1:9/send", token="db-token", signature="【咖啡】")
    monkeypatch.setenv("CAMPAIGNER_CHANNEL_SMS_TOKEN", "env-token")
    with database.connection_context():
        channel = plugins.configured_channel("sms")
    assert channel.config["token"] == "env-token" and channel.config["signature"] == "【咖啡】"
    assert "env-token" not in repr(channel) and "db-token" not in repr(channel)
    assert plugins.channel("sms").config == {}  # the registered template is left alone


def test_configured_channel_names_each_bad_field(app, plugins):
    with database.connection_context(), pytest.raises(ConfigError) as caught:
        plugins.configured_channel("email")
    assert set(caught.value.errors) == {"host", "from_address"}
    with pytest.raises(UnknownChannel):
        plugins.configured_channel("fax")


def test_campaigner_plugins_lists_plugins_hooks_channels_and_config_status(runner, configure_channel):
    configure_channel("miniprogram", template_id="TPL-1")
    result = runner.invoke(["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["campaigner_sms"]["hooks"] == ["register_channels", "register_inbound_receivers"]
    assert plugins["campaigner_sms"]["channels"] == ["sms"]
    channels = {c["name"]: c for c in report["channels"]}
    assert channels["miniprogram"]["config_valid"] is True
    assert channels["email"]["config_valid"] is False
    assert set(channels["email"]["config_errors"]) == {"host", "from_address"}

    text = runner.invoke(["plugins"])
    assert text.exit_code == 0 and "campaigner_email" in text.output and "config invalid" in text.output


def test_example_plugin_is_found_through_its_entry_point_beside_the_builtins(example_plugin_installed, tmp_path):
    """`campaigner plugins --json` run as a user runs it, in a process of its own."""
    env = {**os.environ, "CAMPAIGNER_INSTANCE_PATH": str(tmp_path / "instance"),
           "CAMPAIGNER_SECRET_KEY": "example-plugin-test-secret"}
    for key in ("CAMPAIGNER_DATABASE_URL", "CAMPAIGNER_QUEUE_URL", "CAMPAIGNER_PLUGINS_DIR"):
        env.pop(key, None)
    command = Path(sys.executable).with_name("campaigner")
    result = subprocess.run([str(command), "plugins", "--json"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["dingtalk"]["source"] == "entry point"
    assert plugins["dingtalk"]["location"] == "campaigner-dingtalk 0.1.0"
    assert plugins["dingtalk"]["channels"] == ["dingtalk"]
    channels = {c["name"] for c in report["channels"]}
    assert {"dingtalk", "email", "sms", "chat", "miniprogram"} <= channels
    assert not report["errors"]


def test_example_plugin_channel_conforms_and_sends_through_a_fake_robot(example_plugin_installed, app_with_plugins):
    app = app_with_plugins({})
    manager = app.extensions["campaigner"].plugins
    assert manager.infos["dingtalk"].source == "entry point"
    with FakeGateway() as robot:
        robot.reply(200, {"errcode": 0, "errmsg": "ok"})
        assert_channel_conforms(manager.channel("dingtalk"), {"url": robot.url, "secret": "SEC-123"},
                                make_contact(chat_id="robot-token"), send=True)
        assert robot.requests[0].query["access_token"] == ["robot-token"]
        assert "sign" in robot.requests[0].query


# ---------------------------------------------------------------- docs that can't drift

DOCS = ROOT / "docs" / "plugins.md"


def _hooks():
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "campaigner_spec")]


def test_every_hook_is_documented_with_its_signature():
    docs = DOCS.read_text(encoding="utf-8")
    assert _hooks(), "no hookspecs found"
    for name, fn in _hooks():
        signature = f"{name}({', '.join(inspect.signature(fn).parameters)})"
        assert re.search(rf"^###\s+{re.escape(signature)}\s*$", docs, re.M), \
            f"docs/plugins.md has no heading '### {signature}'"


def test_every_hook_has_a_test_of_its_own():
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_plugins*.py"))
    for name, _fn in _hooks():
        assert re.search(rf"def test_\w*{name}\w*\(", tests), f"no test named after the hook {name}"


def test_docs_name_the_entry_point_group_the_code_loads():
    docs = DOCS.read_text(encoding="utf-8")
    assert f"[project.entry-points.{ENTRY_POINT_GROUP}]" in docs
    example = (ROOT / "docs" / "example-plugin" / "pyproject.toml").read_text(encoding="utf-8")
    assert f"[project.entry-points.{ENTRY_POINT_GROUP}]" in example


def test_plugin_report_can_leave_config_unchecked(plugins):
    report = plugin_report(plugins, check_config=False)
    assert {c["name"] for c in report["channels"]} >= set(BUILT_INS.values())


def test_previews_get_configured_channels_where_config_is_valid(app, plugins, configure_channel):
    configure_channel("sms", signature="【一个很长的品牌签名】")
    with database.connection_context():
        channels = plugins.channels_for_preview()
    assert channels["sms"].config["signature"] == "【一个很长的品牌签名】"
    assert channels["email"] is plugins.channel("email")  # invalid config: the template, for its defaults
    text = "春季新品到店" * 10  # 60 characters: one SMS alone, two with this signature and the suffix
    assert plugins.channel("sms").check(text) == [] and channels["sms"].check(text)
