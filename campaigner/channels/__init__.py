"""The channel contract every delivery channel plugin implements.

A channel turns content into a message for one contact (`render`) and hands it
to a provider (`send`). `send` returns a `SendResult` or raises
`TransientError` (retried later with backoff) or `PermanentError` (the delivery
fails with the reason). Channels know nothing of Flask, Huey or the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ChannelError(Exception):
    """A send did not succeed; the message is the reason shown to ops."""


class TransientError(ChannelError):
    """Try again later: the provider timed out, answered 5xx, or rate-limited us."""


class PermanentError(ChannelError):
    """Do not try again: bad address, rejected content, 4xx from the provider."""


class ConfigError(ValueError):
    """A channel's configuration is invalid; `errors` maps field name to message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ConfigField:
    """One field of a channel's config schema."""

    name: str
    label: str
    type: str = "string"  # string, integer, boolean, url, email, choice
    required: bool = False
    secret: bool = False  # masked on every page, in logs and in the API
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Capabilities:
    rate_limit_per_minute: int | None = None
    provider_dedupes: bool = False  # the provider drops a repeat of the same idempotency key
    needs_staff_confirmation: bool = False  # e.g. WeCom mass messages a staff member confirms
    outcome_queryable: bool = False
    caps_per_contact: dict[str, int] = field(default_factory=dict)  # e.g. {"month": 4}
    supports_batch: bool = False


@dataclass(frozen=True)
class ContentLimits:
    max_length: int | None = None
    format: str = "text"  # text, markdown, html
    segment_length: int | None = None  # SMS: characters per part
    max_fields: dict[str, int] = field(default_factory=dict)  # mini-program field limits


@dataclass
class Message:
    """What a channel sends to one contact, as produced by `render`."""

    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Channel:
    """Base class for channels. Subclasses set the class attributes and implement render and send."""

    name: str = ""
    label: str = ""
    contact_field: str = "email"  # email, phone, chat_id, openid
    limits: ContentLimits = ContentLimits()
    capabilities: Capabilities = Capabilities()
    config_schema: tuple[ConfigField, ...] = ()
    send_timeout: float = 30.0  # seconds before the engine gives up on a hung send

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})

    def configure(self, config: dict) -> None:
        self.config = dict(config)

    def validate_config(self, config: dict) -> dict:
        """Return the cleaned config, or raise `ConfigError` naming each bad field."""
        from campaigner.channels.config import validate_config

        return validate_config(self.config_schema, config)

    def address(self, contact) -> str | None:
        """The contact's address on this channel, or None when it can't be reached here."""
        return getattr(contact, self.contact_field, None) or None

    def check(self, text: str) -> list[str]:
        """Warnings about `text` against this channel's limits (shown in previews)."""
        if self.limits.max_length and len(text) > self.limits.max_length:
            return [f"{len(text)} characters; the limit is {self.limits.max_length}"]
        return []

    def render(self, content, contact, context: dict) -> Message:
        raise NotImplementedError(f"channel {self.name!r} must implement render()")

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        raise NotImplementedError(f"channel {self.name!r} must implement send()")

    def send_batch(self, items: list[tuple[Message, str]]) -> list[SendResult | Exception]:
        """Send many; the default sends one by one. Override where the provider has a batch API."""
        results: list[SendResult | Exception] = []
        for message, key in items:
            try:
                results.append(self.send(message, key))
            except Exception as exc:  # each item's outcome is recorded on its own delivery
                results.append(exc)
        return results
