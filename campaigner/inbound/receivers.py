"""The inbound contract: what a plugin implements to receive callbacks (WeCom events, SMS receipts and replies).

A receiver is registered through the ``register_inbound_receivers`` hook and answers at
``/hooks/<provider>/<account>``. For each request the core calls `accept`, which checks the
request (signature, timestamp, size of what it decrypts, …) and returns the events in it as
`Received` values, or raises `InboundRejected` — then nothing is stored and the caller gets the
4xx. The core writes every `Received` to the ledger, *then* answers with `acknowledge`; a worker
calls `process` once for each stored event (a repeat of the same `dedupe_key` is stored once).
`process` raising means "try again later" (with back-off; after the last attempt the event is
failed and shown to ops, who can retry it). Receivers, like channels, know no Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class InboundRejected(Exception):
    """The request is no valid callback: nothing is stored, the sender gets `status` (a 4xx)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class InboundRequest:
    """One HTTP request to ``/hooks/<provider>/<account>``, as a receiver sees it."""

    account: str
    method: str
    args: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    """One event found in a callback: its kind, what makes a repeat of it recognisable, and its data."""

    kind: str
    dedupe_key: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What the receiver answers the provider."""

    body: str | bytes = "success"
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200


class InboundReceiver:
    """Base class for receivers; subclasses set `provider` and implement `accept` and `process`."""

    provider: str = ""  # the URL segment and the ledger's provider column: ASCII letters, digits, _
    label: str = ""
    max_body: int = 64 * 1024  # bytes; a longer request is answered 413 without being read

    def verify(self, request: InboundRequest) -> Reply:
        """Answer a GET (a provider's URL check, e.g. WeCom's echostr); the default refuses it."""
        raise InboundRejected("this endpoint takes POST callbacks", 405)

    def accept(self, request: InboundRequest) -> list[Received]:
        """Check a POST and return the events in it; raise `InboundRejected` for anything invalid."""
        raise NotImplementedError(f"receiver {self.provider!r} must implement accept()")

    def acknowledge(self, request: InboundRequest, received: list[Received]) -> Reply:
        """The answer once the events are stored (what the provider expects to stop retrying)."""
        return Reply()

    def process(self, event) -> None:
        """Act on one stored event (an `InboundEvent` row with kind, account, payload); raise to retry later."""
        raise NotImplementedError(f"receiver {self.provider!r} must implement process()")

    def process_many(self, events: list) -> int:
        """Optionally act on a run of events at once: return how many from the start of `events` it handled.

        `events` are this receiver's claimed events in the order they arrived. What this handles
        commits with them; the rest go through `process` one by one, in order. Raising undoes all of
        it and every event goes through `process`. The default handles none.
        """
        return 0

    def describe(self) -> dict:
        """A JSON-ready description for the plugins listing."""
        return {"provider": self.provider, "label": str(self.label or self.provider), "max_body": self.max_body}
