"""The chat channel: WeCom (企业微信) group robots, or a generic JSON webhook.

WeCom: each community group has a robot; a contact standing for a group
carries its robot's key as ``chat_id`` and messages go to
``<url>?key=<chat_id>`` as the robot's ``text`` or ``markdown`` message type.
WeCom takes at most 20 messages a minute per robot: the channel counts them
and answers a `TransientError` with ``retry_after`` once a robot is at its
limit (the engine retries then), and declares the limit in its capabilities.
WeCom answers HTTP 200 with an ``errcode``: 45009 (too frequent) and -1 (busy)
are retried, any other non-zero code fails the delivery with WeCom's message.

Generic JSON webhook: ``POST <url>`` with ``Authorization: Bearer <token>``,
``Idempotency-Key`` and ``{"to", "text", "markdown", "idempotency_key"}``.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from urllib.parse import urlencode

from campaigner import (
    Capabilities,
    Channel,
    ConfigError,
    ConfigField,
    ContentLimits,
    Message,
    PermanentError,
    SendResult,
    TransientError,
    hookimpl,
    lazy_gettext as _,
    markdown_to_text,
    personalize,
    post_json,
    strike_markdown,
    text_for_channel,
)

WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
WECOM_LIMITS = {"text": 2048, "markdown": 4096}  # bytes of UTF-8 content per message
WECOM_RETRY = {45009, -1}  # too frequent; system busy


class RateLimiter:
    """At most `limit` events per `window` seconds per key, counted in this process."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._events: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, limit: int, window: float = 60.0) -> float:
        """Take a slot for `key` and return 0, or return the seconds until one frees up."""
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, collections.deque())
            while events and now - events[0] >= window:
                events.popleft()
            if len(events) >= limit:
                return window - (now - events[0])
            events.append(now)
            return 0.0


# Shared by every configured copy of the channel in this process: the limit is per robot.
robot_limiter = RateLimiter()


class ChatChannel(Channel):
    name = "chat"
    label = _("Chat groups (WeCom robot / webhook)")
    contact_field = "chat_id"
    limits = ContentLimits(max_length=WECOM_LIMITS["text"], format="markdown")
    capabilities = Capabilities(rate_limit_per_address_per_minute=20)
    send_timeout = 15.0
    config_schema = (
        ConfigField("provider", _("Provider"), type="choice", default="wecom", choices=("wecom", "json"),
                    help=_("wecom: a group robot per contact, whose key is the contact's chat id; "
                           "json: your own webhook")),
        ConfigField("url", _("Webhook URL"), type="url", default=WECOM_URL),
        ConfigField("msgtype", _("WeCom message type"), type="choice", default="markdown",
                    choices=("text", "markdown")),
        ConfigField("token", _("Webhook token (json provider)"), secret=True),
        ConfigField("robot_limit_per_minute", _("Messages a minute per robot"), type="integer", default=20,
                    min=1, max=1000),
        ConfigField("timeout", _("Network timeout (seconds)"), type="integer", default=10, min=1, max=14),
    )

    def clean_config(self, cleaned: dict) -> dict:
        if cleaned.get("provider") == "json" and cleaned.get("url") == WECOM_URL:
            raise ConfigError({"url": _("the json provider needs your webhook's URL")})
        return cleaned

    def configured(self) -> None:
        per_robot = self.setting("robot_limit_per_minute") if self.setting("provider") == "wecom" else None
        self.capabilities = dataclasses.replace(type(self).capabilities,
                                                rate_limit_per_address_per_minute=per_robot)

    def _format(self) -> str:
        return "text" if self.setting("provider") == "wecom" and self.setting("msgtype") == "text" else "markdown"

    def check(self, text: str) -> list[str]:
        """Warn when the text exceeds what a WeCom robot message takes."""
        if self.setting("provider") != "wecom":
            return []
        limit = WECOM_LIMITS[self._format()]
        size = len((text or "").encode("utf-8"))
        if size > limit:
            return [_("%(size)d bytes; a WeCom robot message takes at most %(limit)d")
                    % {"size": size, "limit": limit}]
        return []

    def render(self, content, contact, context: dict) -> Message:
        """Markdown (or plain text for the text type) from the chat variant, personalised."""
        to = self.address(contact)
        if not to:
            raise PermanentError("the contact has no chat id")
        source = personalize(text_for_channel(content, self.name), contact,
                             {"unsubscribe_url": context.get("unsubscribe_url", "")}, fmt="markdown").strip()
        text = markdown_to_text(source)
        body = text if self._format() == "text" else strike_markdown(source)  # WeCom's Markdown has no ~~
        if self.setting("provider") == "wecom":
            limit = WECOM_LIMITS[self._format()]
            if len(body.encode("utf-8")) > limit:
                raise PermanentError(f"{len(body.encode('utf-8'))} bytes; a WeCom robot message takes at most {limit}")
        return Message(to=to, body=body, data={"format": self._format(), "text": text})

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Post to the robot (respecting its per-minute limit) or to the JSON webhook."""
        if self.setting("provider") == "json":
            return self._send_json(message, idempotency_key)
        return self._send_wecom(message)

    def _send_wecom(self, message: Message) -> SendResult:
        url, timeout = self.setting("url"), float(self.setting("timeout"))
        wait = robot_limiter.acquire(f"{url}|{message.to}", int(self.setting("robot_limit_per_minute")))
        if wait:
            raise TransientError(f"robot at its limit of {self.setting('robot_limit_per_minute')} messages a minute",
                                 retry_after=round(wait, 1))
        msgtype = message.data.get("format") or self._format()
        payload = {"msgtype": msgtype, msgtype: {"content": message.body}}
        separator = "&" if "?" in url else "?"
        response = post_json(f"{url}{separator}{urlencode({'key': message.to})}", payload, timeout=timeout)
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(f"WeCom answered something other than JSON: {response.text[:200]!r}") from None
        code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
        if code in WECOM_RETRY:
            raise TransientError(f"WeCom {code}: {answer.get('errmsg', '')}", retry_after=60 if code == 45009 else None)
        if code:
            raise PermanentError(f"WeCom {code}: {answer.get('errmsg', '')}")
        return SendResult(provider_id=None, details={"msgtype": msgtype})

    def _send_json(self, message: Message, idempotency_key: str) -> SendResult:
        headers = {"Idempotency-Key": idempotency_key}
        if self.setting("token"):
            headers["Authorization"] = f"Bearer {self.setting('token')}"
        payload = {"to": message.to, "text": message.data.get("text", message.body),
                   "markdown": message.body if message.data.get("format") == "markdown" else None,
                   "idempotency_key": idempotency_key}
        response = post_json(self.setting("url"), payload, headers=headers, timeout=float(self.setting("timeout")))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        provider_id = answer.get("id") if isinstance(answer, dict) else None
        return SendResult(provider_id=str(provider_id) if provider_id else None)


@hookimpl
def register_channels(register):
    register(ChatChannel())
