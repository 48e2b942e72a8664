"""The conformance kit catches the contract breaks a plugin author makes first: a network timeout the config
may set above `send_timeout`, and a credential field not marked secret. The example plugin keeps its word."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaigner import Channel, ConfigField, ContentLimits, Message, PermanentError, SendResult
from campaigner.testing import assert_channel_conforms, make_contact

EXAMPLE_PLUGIN = Path(__file__).resolve().parent.parent / "docs" / "example-plugin"


class Robot(Channel):
    name = "robot"
    label = "Robot"
    contact_field = "chat_id"
    limits = ContentLimits(format="text")
    send_timeout = 15.0
    config_schema = (ConfigField("timeout", "Network timeout", type="integer", default=10, min=1, max=14),)

    def render(self, content, contact, context):
        to = self.address(contact)
        if not to:
            raise PermanentError("no chat id")
        return Message(to=to, body=content.body.replace("{{ name }}", contact.name))

    def send(self, message, key):
        return SendResult(provider_id=key)


def _with_fields(*fields):
    return type("Variant", (Robot,), {"config_schema": tuple(fields)})()


def test_a_channel_that_keeps_the_contract_passes():
    assert_channel_conforms(Robot(), {}, make_contact(chat_id="room-1"))


@pytest.mark.parametrize("field,says", [
    (ConfigField("timeout", "Timeout", type="integer", default=10, min=1, max=60), "allows a timeout of 60 s"),
    (ConfigField("timeout", "Timeout", type="integer", default=20, min=1, max=14), "defaults to 20 s"),
    (ConfigField("read_timeout", "Timeout", type="integer", default=5), "without a maximum"),
    (ConfigField("timeout", "Timeout", default="10"), "without a maximum"),
])
def test_a_timeout_the_config_may_set_above_send_timeout_fails(field, says):
    with pytest.raises(AssertionError, match=says):
        assert_channel_conforms(_with_fields(field), {}, make_contact(chat_id="room-1"))


@pytest.mark.parametrize("name", ["token", "api_key", "app_secret", "password", "access_token", "key",
                                  "client_credentials"])
def test_a_field_named_like_a_secret_must_be_marked_secret(name):
    with pytest.raises(AssertionError, match=f"field {name} is named like a secret"):
        assert_channel_conforms(_with_fields(ConfigField(name, "Credential")), {}, make_contact(chat_id="room-1"))
    assert_channel_conforms(_with_fields(ConfigField(name, "Credential", secret=True)), {},
                            make_contact(chat_id="room-1"))


@pytest.mark.parametrize("name", ["signature", "monkey", "tokens_per_message", "template_id", "keyword"])
def test_names_that_only_look_alike_pass(name):
    assert_channel_conforms(_with_fields(ConfigField(name, "Not a credential")), {}, make_contact(chat_id="room-1"))


def test_the_example_plugins_own_tests_pass():
    """`pytest docs/example-plugin/tests`, as the example's README tells its reader to run it."""
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE_PLUGIN)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=EXAMPLE_PLUGIN, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
