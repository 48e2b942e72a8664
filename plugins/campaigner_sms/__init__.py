"""The SMS channel: an HTTP JSON gateway, or an outbox file for local use.

Every text is composed as signature + text + opt-out suffix (e.g.
``【品牌】…回T退订``), counted in segments the way carriers bill them (see
`campaigner_sms.segments`) and sent to E.164 numbers only.

The gateway protocol: ``POST <url>`` with ``Authorization: Bearer <token>``,
``Idempotency-Key: <key>`` and the JSON body ``{"to", "text", "signature",
"idempotency_key"}``; a 2xx answer may carry ``{"id": …}`` (the provider id).
5xx, 429 and timeouts are retried; other 4xx fail the delivery with the
gateway's message.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import phonenumbers

from campaigner import (
    Capabilities,
    Channel,
    ConfigError,
    ConfigField,
    ContentLimits,
    Message,
    PermanentError,
    SendResult,
    append_to_outbox,
    hookimpl,
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
                                            {"unsubscribe_url": context.get("unsubscribe_url", "")}))
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


@hookimpl
def register_channels(register):
    register(SmsChannel())
