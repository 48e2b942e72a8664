"""Sending a test message through a channel to an address typed on the Plugins page or in the API.

The message goes through the same render and send as a real delivery, to a
contact that exists only for the test, with no delivery row: nothing is
recorded but the outcome the caller shows (and the audit entry it writes).
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from campaigner.channels import Message, PermanentError, SendResult, TransientError

DEFAULT_TITLE = "Campaigner test message"
DEFAULT_TEXT = "This is a test message from **Campaigner**, sent to {{ name | you }}."


@dataclass
class TestOutcome:
    """What a test send produced: the rendered message and the provider's answer."""

    message: Message
    result: SendResult
    idempotency_key: str


def send_test_message(manager, channel_name: str, address: str, text: str = "", title: str = "") -> TestOutcome:
    """Render and send a test message to `address`; raise ConfigError, UnknownChannel or ChannelError.

    The send runs in a thread bounded by the channel's `send_timeout`, so a
    hung provider can't hold the web request longer than a real send may take.
    """
    from campaigner.audience.models import Contact
    from campaigner.content.models import ContentItem
    from campaigner.plugins import render_context

    channel = manager.configured_channel(channel_name)
    contact = Contact(name="Test")
    setattr(contact, channel.contact_field, (address or "").strip())
    if not channel.address(contact):
        raise PermanentError(f"{address!r} is not an address the {channel.name} channel can send to")
    content = ContentItem(title=title or DEFAULT_TITLE, slug="test-message", body=text or DEFAULT_TEXT,
                          variants={}, status="approved")
    context = render_context(None, channel.name, settings=manager.settings, test=True)
    message = channel.render(content, contact, context)
    key = f"test:{channel.name}:{uuid.uuid4().hex}"
    return TestOutcome(message, _send_within_timeout(channel, message, key), key)


def _send_within_timeout(channel, message: Message, key: str) -> SendResult:
    outcome: dict = {}

    def send():
        try:
            outcome["result"] = channel.send(message, key)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=send, name=f"test-send-{channel.name}", daemon=True)
    thread.start()
    thread.join(channel.send_timeout)
    if thread.is_alive():
        raise TransientError(f"no answer from {channel.name} within {channel.send_timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    result = outcome.get("result")
    if not isinstance(result, SendResult):
        raise PermanentError(f"{channel.name}.send returned {type(result).__name__}, not a SendResult")
    return result
