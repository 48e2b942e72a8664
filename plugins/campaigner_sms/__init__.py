"""The SMS channel: an HTTP JSON gateway, or an outbox file for local use.

Every text is composed as signature + text + opt-out suffix (e.g.
``【品牌】…回T退订``), counted in segments the way carriers bill them (see
`campaigner_sms.segments`) and sent to E.164 numbers only.

The gateway protocol: ``POST <url>`` with ``Authorization: Bearer <token>``,
``Idempotency-Key: <key>`` and the JSON body ``{"to", "text", "signature",
"idempotency_key"}``; a 2xx answer may carry ``{"id": …}`` (the provider id).
5xx, 429 and timeouts are retried; other 4xx fail the delivery with the
gateway's message.

Inbound (``/hooks/sms/<name>``, when a receipt secret is configured): the gateway posts JSON signed
with ``X-Signature: sha256=<HMAC-SHA256 of the body with the receipt secret>``, one event or
``{"events": [...]}``: a delivery receipt ``{"type": "receipt", "id": <provider id>, "status":
"delivered" | "failed", "error": …}`` or a reply ``{"type": "reply", "id": <the gateway's id>,
"from": "+86…", "text": "…"}``. Receipts mark deliveries delivered (or failed); a reply is recorded
as the contact's ``replied`` event and T, TD or 退订 opts the number out of SMS.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json

import phonenumbers

from campaigner import (
    Capabilities,
    Channel,
    ConfigError,
    ConfigField,
    ContentLimits,
    InboundReceiver,
    InboundRejected,
    Message,
    PermanentError,
    Received,
    SendResult,
    append_to_outbox,
    configured_channel,
    find_contact_by_address,
    hookimpl,
    is_opt_out_reply,
    opt_out_contact,
    record_contact_event,
    record_delivery_receipt,
    lazy_gettext as _,
    markdown_to_text,
    outbox_path,
    personalize,
    post_json,
    text_for_channel,
)

from .segments import Segments, is_gsm7, segments  # noqa: F401  (public helpers of this plugin)

MAX_LENGTH = 500  # carriers reject or cut longer concatenated messages


def e164(number: str | None) -> str | None:
    """`number` formatted as E.164 when it is a valid international number, else None."""
    if not number:
        return None
    text = str(number).strip()
    if not text.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SmsChannel(Channel):
    name = "sms"
    label = _("SMS")
    contact_field = "phone"
    limits = ContentLimits(max_length=MAX_LENGTH, format="text", segment_length=67)
    capabilities = Capabilities()
    send_timeout = 15.0
    config_schema = (
        ConfigField("mode", _("Mode"), type="choice", default="outbox", choices=("outbox", "gateway"),
                    help=_("outbox writes messages to a file in the instance folder instead of sending them")),
        ConfigField("url", _("Gateway URL"), type="url", help=_("required in gateway mode")),
        ConfigField("token", _("Gateway token"), secret=True),
        ConfigField("signature", _("Sender signature"), default="",
                    help=_("Put before every text, e.g. 【品牌】")),
        ConfigField("opt_out_suffix", _("Opt-out suffix"), default="回T退订",
                    help=_("Appended to every text unless it already ends with it")),
        ConfigField("gateway_dedupes", _("The gateway drops repeats of an Idempotency-Key"), type="boolean",
                    default=False, help=_("Lets a send whose outcome is unknown be retried safely")),
        ConfigField("rate_limit_per_minute", _("Messages a minute (empty: no limit)"), type="integer", min=1),
        ConfigField("timeout", _("Network timeout (seconds)"), type="integer", default=10, min=1, max=14),
        ConfigField("outbox_path", _("Outbox file"), help=_("default: outbox/sms.jsonl in the instance folder")),
        ConfigField("receipt_secret", _("Receipt and reply secret"), secret=True,
                    help=_("The gateway signs receipts and replies posted to /hooks/sms/gateway with it")),
    )

    def clean_config(self, cleaned: dict) -> dict:
        if cleaned.get("mode") == "gateway" and not cleaned.get("url"):
            raise ConfigError({"url": _("required in gateway mode")})
        return cleaned

    def configured(self) -> None:
        self.capabilities = dataclasses.replace(
            type(self).capabilities,
            provider_dedupes=bool(self.setting("gateway_dedupes")) and self.setting("mode") == "gateway",
            rate_limit_per_minute=self.setting("rate_limit_per_minute"),
        )

    def address(self, contact) -> str | None:
        """The contact's phone as E.164, or None when it has none or it is not a valid number."""
        return e164(getattr(contact, "phone", None))

    def compose(self, text: str) -> str:
        """Signature + text + opt-out suffix: exactly what the phone shows."""
        text = (text or "").strip()
        signature = str(self.setting("signature") or "").strip()
        suffix = str(self.setting("opt_out_suffix") or "").strip()
        if signature and not text.startswith(signature):
            text = signature + text
        if suffix and not text.endswith(suffix):
            text = f"{text} {suffix}"
        return text

    def check(self, text: str) -> list[str]:
        """Length and segment warnings for `text` as sent (signature and suffix included)."""
        info = segments(self.compose(text))
        warnings = []
        if info.parts > 1:
            warnings.append(
                _("%(length)d characters: sent as %(parts)d SMS parts of %(per_part)d (%(encoding)s); "
                  "a single SMS holds %(single)d")
                % {"length": info.length, "parts": info.parts, "per_part": info.per_part,
                   "encoding": info.encoding, "single": 70 if info.encoding == "UCS-2" else 160})
        if info.length > MAX_LENGTH:
            warnings.append(_("%(length)d characters: carriers cut or refuse texts over %(limit)d")
                            % {"length": info.length, "limit": MAX_LENGTH})
        return warnings

    def render(self, content, contact, context: dict) -> Message:
        """Plain text from the sms variant (or body), personalised, with signature and suffix."""
        to = self.address(contact)
        if to is None:
            raise PermanentError(f"not a valid E.164 phone number: {getattr(contact, 'phone', None)!r}")
        text = markdown_to_text(personalize(text_for_channel(content, self.name), contact,
                                            {"unsubscribe_url": context.get("unsubscribe_url", "")}, fmt="markdown"))
        body = self.compose(text)
        info = segments(body)
        return Message(to=to, body=body, data={"encoding": info.encoding, "segments": info.parts})

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Post to the gateway (or append to the outbox); the gateway's id is the provider id."""
        to = e164(message.to)
        if to is None:
            raise PermanentError(f"not a valid E.164 phone number: {message.to!r}")
        info = segments(message.body)
        if self.setting("mode") == "outbox":
            path = outbox_path(self.instance_path, self.name, self.setting("outbox_path"))
            append_to_outbox(path, {"to": to, "text": message.body, "idempotency_key": idempotency_key,
                                    "segments": info.parts, "encoding": info.encoding,
                                    "at": dt.datetime.now(dt.timezone.utc).isoformat()})
            return SendResult(provider_id=f"outbox:{idempotency_key}", details={"segments": info.parts})
        headers = {"Idempotency-Key": idempotency_key}
        if self.setting("token"):
            headers["Authorization"] = f"Bearer {self.setting('token')}"
        response = post_json(self.setting("url"),
                             {"to": to, "text": message.body, "signature": self.setting("signature") or "",
                              "idempotency_key": idempotency_key},
                             headers=headers, timeout=float(self.setting("timeout")))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        provider_id = None
        if isinstance(answer, dict):
            provider_id = answer.get("id") or answer.get("message_id") or answer.get("msgid")
        return SendResult(provider_id=str(provider_id) if provider_id else None, details={"segments": info.parts})


MAX_EVENTS = 500  # per request


class SmsReceiver(InboundReceiver):
    """Delivery receipts and replies from the SMS gateway (see the module docstring for the format)."""

    provider = "sms"
    label = "SMS"
    max_body = 512 * 1024

    def accept(self, request):
        secret = str(configured_channel("sms").setting("receipt_secret") or "")
        if not secret:
            raise InboundRejected("receipts are not configured (no receipt secret)", 404)
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        given = {k.lower(): v for k, v in request.headers.items()}.get("x-signature", "")
        if not hmac.compare_digest(expected, given):
            raise InboundRejected("wrong X-Signature", 403)
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InboundRejected("the body is not JSON") from None
        items = data.get("events") if isinstance(data, dict) and "events" in data else [data]
        if not isinstance(items, list) or not items or len(items) > MAX_EVENTS:
            raise InboundRejected(f"expected an event or 1 to {MAX_EVENTS} events")
        return [self._received(item, n) for n, item in enumerate(items)]

    def _received(self, item, n: int) -> Received:
        if not isinstance(item, dict):
            raise InboundRejected(f"event {n}: not an object")
        kind = item.get("type")
        if kind == "receipt":
            if not item.get("id") or item.get("status") not in ("delivered", "failed"):
                raise InboundRejected(f"event {n}: a receipt needs id and status delivered or failed")
            key = f"receipt:{item['id']}:{item['status']}"
        elif kind == "reply":
            if not e164(item.get("from")) or not isinstance(item.get("text"), str):
                raise InboundRejected(f"event {n}: a reply needs an E.164 from and a text")
            key = f"reply:{item.get('id') or hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()}"
        else:
            raise InboundRejected(f"event {n}: type is receipt or reply")
        payload = {k: str(v)[:2000] for k, v in item.items() if k in ("type", "id", "status", "error", "from", "text", "at")}
        return Received(kind=kind, dedupe_key=key[:255], payload=payload)

    def process(self, event) -> None:
        data = event.payload
        if event.kind == "receipt":
            record_delivery_receipt("sms", data["id"], data["status"], error=data.get("error", ""))
            return
        contact = find_contact_by_address("sms", data["from"], create=True)
        record_contact_event("replied", contact, source="sms", details={"text": data["text"][:500]})
        if is_opt_out_reply(data["text"]):
            opt_out_contact(contact, "sms", "sms reply")


@hookimpl
def register_channels(register):
    register(SmsChannel())


@hookimpl
def register_inbound_receivers(register):
    register(SmsReceiver())
