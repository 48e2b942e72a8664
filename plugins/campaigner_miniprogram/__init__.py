"""The mini-program channel: a stub of WeChat subscription messages (订阅消息) written to an outbox.

A subscription message fills a template's data fields; the field's key says
its type and the type limits the value (``thing`` ≤ 20 characters, ``number``
≤ 32 digits, ``phrase`` ≤ 5 characters …). The content's ``miniprogram``
variant lists the fields one a line (``thing1: 新品上市``, ``date2: 2025-05-01``,
optionally ``page: pages/shop/index``); without a variant the config's field
template is used, where ``{{ title }}`` and ``{{ text }}`` stand for the
content's title and plain text. Each message is validated as the platform
would and appended to an outbox file in the shape of ``subscribeMessage.send``,
so the flow can be tried without a platform account.
"""
from __future__ import annotations

import datetime as dt
import re

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
    text_for_channel,
)

# type -> (max characters, pattern the value must match or None)
FIELD_TYPES: dict[str, tuple[int, str | None]] = {
    "thing": (20, None),
    "number": (32, r"[0-9.]+"),
    "letter": (32, r"[A-Za-z]+"),
    "symbol": (5, r"[^\w\s]+"),
    "character_string": (32, r"[\x21-\x7e]+"),
    "time": (32, r"(\d{4}[年/-]\d{1,2}[月/-]\d{1,2}日?\s*)?\d{1,2}:\d{2}(:\d{2})?"),
    "date": (32, r"\d{4}[年/-]\d{1,2}[月/-]\d{1,2}日?(\s+\d{1,2}:\d{2}(:\d{2})?)?"),
    "amount": (14, r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?"),
    "phone_number": (17, r"[0-9+\-() ]+"),
    "car_number": (8, None),
    "name": (20, None),  # 10 Chinese characters or 20 letters
    "phrase": (5, None),
}
KEY = re.compile(r"^(?P<type>[a-z_]+?)(?P<n>\d+)$")


def field_problem(key: str, value: str) -> str | None:
    """What is wrong with one data field, or None."""
    match = KEY.match(key)
    if not match or match.group("type") not in FIELD_TYPES:
        return f"{key}: unknown field type (one of {', '.join(FIELD_TYPES)} followed by a number)"
    kind = match.group("type")
    limit, pattern = FIELD_TYPES[kind]
    if kind == "name" and re.search(r"[^\x00-\x7f]", value):
        limit = 10
    if not value:
        return f"{key}: empty"
    if len(value) > limit:
        return f"{key}: {len(value)} characters; {kind} takes at most {limit}"
    if pattern and not re.fullmatch(pattern, value):
        return f"{key}: {value!r} is not a valid {kind}"
    return None


def parse_fields(text: str) -> tuple[dict[str, str], str | None]:
    """The data fields and the page from ``key: value`` lines."""
    fields, page = {}, None
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("：")  # a full-width colon, as typed on a Chinese keyboard
        key, value = key.strip(), value.strip()
        if not sep or not key:
            continue
        if key == "page":
            page = value
        else:
            fields[key] = value
    return fields, page


class MiniProgramChannel(Channel):
    name = "miniprogram"
    label = _("Mini-program subscription message")
    contact_field = "openid"
    limits = ContentLimits(format="text", max_fields={k: v[0] for k, v in FIELD_TYPES.items()})
    # A subscription message needs the user's consent per send; the stub records, never delivers twice.
    capabilities = Capabilities()
    send_timeout = 10.0
    config_schema = (
        ConfigField("template_id", _("Template id"), required=True),
        ConfigField("page", _("Page opened from the message"), default="pages/index/index"),
        ConfigField("fields", _("Field template"), type="text", default="thing1: {{ title }}",
                    help=_("Used when the content has no miniprogram variant: one field a line; "
                           "{{ title }} and {{ text }} are the content's")),
        ConfigField("state", _("Mini-program version"), type="choice", default="formal",
                    choices=("developer", "trial", "formal")),
        ConfigField("outbox_path", _("Outbox file"), help=_("default: outbox/miniprogram.jsonl in the instance folder")),
    )

    def clean_config(self, cleaned: dict) -> dict:
        fields, _page = parse_fields(cleaned.get("fields") or "")
        if not fields:
            raise ConfigError({"fields": _("at least one line like thing1: {{ title }}")})
        return cleaned

    def check(self, text: str) -> list[str]:
        """Each data field that breaks its type's limits, for a variant or for a body under the field template."""
        fields, _page = parse_fields(text)
        if not any(KEY.match(key) for key in fields):
            # Not written as fields: this text is a body, which reaches the message
            # through the field template's {{ text }} fields; check those.
            template, _page = parse_fields(str(self.setting("fields")))
            fields = {key: personalize(value, None, {"text": text}) for key, value in template.items()
                      if re.search(r"\{\{\s*text\b", value)}
        return [problem for key, value in fields.items() if (problem := field_problem(key, value))]

    def render(self, content, contact, context: dict) -> Message:
        """The subscription message's data fields, personalised and validated."""
        to = self.address(contact)
        if not to:
            raise PermanentError("the contact has no openid")
        extra = {"title": content.title, "text": markdown_to_text(content.body)}
        variant = (content.variants or {}).get(self.name)
        source = text_for_channel(content, self.name) if variant else str(self.setting("fields"))
        # Lines first, then values: a line break in a contact's data can't add a field of its own.
        fields, page = parse_fields(source)
        fields = {key: " ".join(personalize(value, contact, extra).split()) for key, value in fields.items()}
        page = personalize(page, contact, extra) if page else page
        problems = [p for key, value in fields.items() if (p := field_problem(key, value))]
        if not fields:
            problems.append("no data fields")
        if problems:
            raise PermanentError("; ".join(problems))
        page = page or self.setting("page")
        body = "\n".join(f"{key}: {value}" for key, value in fields.items())
        return Message(to=to, body=body, data={"fields": fields, "page": page})

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Append the message, shaped as subscribeMessage.send takes it, to the outbox."""
        fields = message.data.get("fields") or parse_fields(message.body)[0]
        problems = [p for key, value in fields.items() if (p := field_problem(key, value))]
        if problems:
            raise PermanentError("; ".join(problems))
        record = {
            "touser": message.to,
            "template_id": self.setting("template_id"),
            "page": message.data.get("page") or self.setting("page"),
            "data": {key: {"value": value} for key, value in fields.items()},
            "miniprogram_state": self.setting("state"),
            "lang": "zh_CN",
            "idempotency_key": idempotency_key,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        append_to_outbox(outbox_path(self.instance_path, self.name, self.setting("outbox_path")), record)
        return SendResult(provider_id=f"outbox:{idempotency_key}")


@hookimpl
def register_channels(register):
    register(MiniProgramChannel())
