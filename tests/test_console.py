"""`campaigner` on the console: its own commands in --help, and a quiet log unless asked for more."""
from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from campaigner.cli import configure_console_logging, main
from campaigner.db import database
from campaigner.deliveries import engine
from tests.fixtures_engine import channels, new_campaign  # noqa: F401  (fixture)


def test_help_lists_only_campaigners_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for flask_own in ("--env-file", "-e,", "--app", "-A,", "--debug", "limiter"):
        assert flask_own not in result.output
    for ours in ("up", "web", "worker", "db", "user", "token", "plugins", "content", "audience"):
        assert f"\n  {ours} " in result.output


@pytest.mark.parametrize("command", ["up", "web", "worker"])
def test_server_commands_take_verbose(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "-v, --verbose" in result.output


@pytest.fixture
def restore_logging():
    root, huey = logging.getLogger(), logging.getLogger("huey")
    saved = (root.level, list(root.handlers), huey.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    huey.setLevel(saved[2])


@pytest.mark.parametrize("verbosity,queue_info,campaign_info,debug", [
    (0, False, True, False),   # the default: the campaigns' story, not the queue's housekeeping
    (1, True, True, False),
    (2, True, True, True),
])
def test_console_verbosity(restore_logging, verbosity, queue_info, campaign_info, debug):
    configure_console_logging(verbosity)
    assert logging.getLogger("huey.consumer").isEnabledFor(logging.INFO) is queue_info
    assert logging.getLogger("campaigner.deliveries.engine").isEnabledFor(logging.INFO) is campaign_info
    assert logging.getLogger("campaigner.audience.tasks").isEnabledFor(logging.DEBUG) is debug
    assert logging.getLogger("huey.consumer").isEnabledFor(logging.WARNING)  # the queue's troubles always show


def test_campaign_pause_is_logged_with_its_reason(app, channels, caplog):
    campaign = new_campaign()
    with database.connection_context():
        with caplog.at_level(logging.INFO, logger="campaigner.deliveries.engine"):
            assert engine.pause(campaign.id, "the SMTP server refused the login")
    assert f"campaign {campaign.id} paused: the SMTP server refused the login" in caplog.text
