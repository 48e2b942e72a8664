"""The channel contract every delivery channel plugin implements.

A channel turns content into a message for one contact (`render`) and hands it
to a provider (`send`, or `send_batch` for many). `send` returns a `SendResult`
carrying the provider's id, or raises `TransientError` (retried later with
backoff) or `PermanentError` (the delivery fails with the reason).

Channels know nothing of Flask, Huey or the database: the engine gives them
a configured instance (`campaigner.plugins.configured_channel(name)`), content
and contacts, and records what they answer. The engine also owns timeouts: it
calls `send`/`send_batch` in a worker thread and gives up after
`send_timeout` seconds (the delivery then fails with the timeout recorded), so
a hung provider costs one batch, not the worker. Channels should still set
their own network timeouts below `send_timeout`, so a slow provider surfaces
as a `TransientError` with a clear reason rather than as a cut-off.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any


class ChannelError(Exception):
    """A send did not succeed; the message is the reason shown to ops."""


class TransientError(ChannelError):
    """Try again later: the provider timed out, answered 5xx, or rate-limited us.

    `retry_after` (seconds), when the provider or the channel knows it, tells
    the engine not to retry sooner.
    """

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Do not try again: bad address, rejected content, 4xx from the provider."""


class ConfigError(ValueError):
    """A channel's configuration is invalid; `errors` maps field name to message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = {k: str(v) for k, v in errors.items()}


class UnknownChannel(LookupError):
    """No plugin registered a channel of that name."""


# external_userid: a WeCom customer's id in a corp; no contact column holds it, the channel reads it itself.
CONTACT_FIELDS = ("email", "phone", "chat_id", "openid", "external_userid")
FIELD_TYPES = ("string", "text", "integer", "boolean", "url", "email", "choice")


@dataclass(frozen=True)
class ConfigField:
    """One field of a channel's config schema."""

    name: str
    label: str
    type: str = "string"  # one of FIELD_TYPES
    required: bool = False
    secret: bool = False  # masked on every page, in logs and in the API
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    min: int | None = None  # integers only
    max: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a channel's provider can and cannot do; the engine plans around it."""

    rate_limit_per_minute: int | None = None  # whole channel; the engine spreads sends to stay under it
    # The provider's limit per recipient address (a WeCom robot takes 20 a minute);
    # the channel enforces it and raises TransientError(retry_after=...) when reached.
    rate_limit_per_address_per_minute: int | None = None
    provider_dedupes: bool = False  # the provider drops a repeat of the same idempotency key
    needs_staff_confirmation: bool = False  # e.g. WeCom mass messages a staff member confirms
    outcome_queryable: bool = False  # the provider can be asked later what became of a send
    caps_per_contact: dict[str, int] = field(default_factory=dict)  # platform caps, e.g. {"month": 4}
    supports_batch: bool = False  # send_batch is more than a loop over send


@dataclass(frozen=True)
class ContentLimits:
    """What content fits the channel; previews warn through `Channel.check`."""

    max_length: int | None = None
    format: str = "text"  # text, markdown, html
    segment_length: int | None = None  # SMS: characters per part of a long message
    max_fields: dict[str, int] = field(default_factory=dict)  # mini-program field limits
    subject: bool = False  # messages have a subject line (email): the editor offers the channel its own


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
    """A send the provider accepted; `provider_id` is its id for the message."""

    provider_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Channel:
    """Base class for channels. Subclasses set the class attributes and implement render and send.

    The instance a plugin registers is a template with no config; the engine
    works on `with_config(...)` copies, so one process can hold several.
    """

    name: str = ""
    label: str = ""
    contact_field: str = "email"  # one of CONTACT_FIELDS
    limits: ContentLimits = ContentLimits()
    capabilities: Capabilities = Capabilities()
    config_schema: tuple[ConfigField, ...] = ()
    send_timeout: float = 30.0  # seconds before the engine gives up on a hung send (per batch item)

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})
        self.instance_path: str | None = None  # set by with_config; where outbox files go

    # ------------------------------------------------------------ configuration

    def with_config(self, config: dict, *, instance_path: str | None = None) -> "Channel":
        """A copy of this channel with `config` validated and applied (raises `ConfigError`)."""
        clone = copy.copy(self)
        clone.config = self.validate_config(config)
        clone.instance_path = instance_path if instance_path is not None else self.instance_path
        clone.configured()
        return clone

    def configured(self) -> None:
        """Called on a fresh copy once its config is set: derive what depends on config here."""

    def configure(self, config: dict) -> None:
        """Set the config in place without validation (tests and scripts)."""
        self.config = dict(config)

    def validate_config(self, config: dict) -> dict:
        """Return the cleaned config, or raise `ConfigError` naming each bad field.

        Override `clean_config` for rules that span fields.
        """
        from campaigner.channels.config import validate_config

        return self.clean_config(validate_config(self.config_schema, config))

    def clean_config(self, cleaned: dict) -> dict:
        """Rules across fields (e.g. a URL required in gateway mode); raise `ConfigError`."""
        return cleaned

    def setting(self, name: str):
        """A config value, or the schema's default when unset."""
        value = self.config.get(name)
        if value in (None, ""):
            for f in self.config_schema:
                if f.name == name:
                    return f.default
        return value

    def masked_config(self) -> dict:
        """The config with secrets masked: safe for pages, logs and the API."""
        from campaigner.channels.config import mask_config

        return mask_config(self.config_schema, self.config)

    def __repr__(self) -> str:
        # Never the raw config: a repr ends up in logs and tracebacks.
        return f"<{type(self).__name__} {self.name!r} config={self.masked_config()!r}>"

    # ------------------------------------------------------------ contacts and content

    def address(self, contact) -> str | None:
        """The contact's address on this channel, or None when it can't be reached here."""
        value = getattr(contact, self.contact_field, None)
        return str(value).strip() or None if value else None

    def check(self, text: str) -> list[str]:
        """Warnings about `text` against this channel's limits (shown in previews)."""
        if self.limits.max_length and len(text) > self.limits.max_length:
            from campaigner.channels.config import _

            return [_("%(count)d characters; the limit is %(limit)d")
                    % {"count": len(text), "limit": self.limits.max_length}]
        return []

    def render(self, content, contact, context: dict) -> Message:
        """The message for `contact`; context has base_url, unsubscribe_url, delivery_id, campaign_id."""
        raise NotImplementedError(f"channel {self.name!r} must implement render()")

    # ------------------------------------------------------------ sending

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Hand one message to the provider; raise TransientError or PermanentError."""
        raise NotImplementedError(f"channel {self.name!r} must implement send()")

    def send_batch(self, items: list[tuple[Message, str]]) -> list[SendResult | Exception]:
        """Send many; one outcome per item, in order. The default sends one by one.

        Override where the provider has a batch API or a connection is worth
        reusing; never raise for one item's failure, return its exception.
        """
        results: list[SendResult | Exception] = []
        for message, key in items:
            try:
                results.append(self.send(message, key))
            except Exception as exc:  # noqa: BLE001 - each item's outcome is recorded on its own delivery
                results.append(exc)
        return results

    def describe(self) -> dict:
        """A JSON-ready description: name, label, contact field, limits, capabilities, config schema."""
        return {
            "name": self.name,
            "label": str(self.label),
            "contact_field": self.contact_field,
            "send_timeout": self.send_timeout,
            "limits": asdict(self.limits),
            "capabilities": asdict(self.capabilities),
            "config_schema": [
                {**asdict(f), "label": str(f.label), "help": str(f.help),
                 "default": None if f.secret else f.default, "choices": list(f.choices)}
                for f in self.config_schema
            ],
        }
