"""DingTalk (钉钉) group robots as a Campaigner channel: an example third-party plugin.

Each community group has a custom robot; a contact standing for a group
carries the robot's access token as its ``chat_id``. With the robot's
"signing" (加签) security setting, every request is signed with the secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

from campaigner import (
    Capabilities,
    Channel,
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
    text_for_channel,
)

DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"


class DingTalkChannel(Channel):
    name = "dingtalk"
    label = _("DingTalk group robot")
    contact_field = "chat_id"  # the group robot's access token
    limits = ContentLimits(max_length=5000, format="markdown")
    capabilities = Capabilities(rate_limit_per_address_per_minute=20)
    send_timeout = 15.0
    config_schema = (
        ConfigField("url", _("Robot API URL"), type="url", default=DINGTALK_URL),
        ConfigField("secret", _("Signing secret (加签)"), secret=True,
                    help=_("From the robot's security settings; leave empty without signing")),
        ConfigField("msgtype", _("Message type"), type="choice", default="markdown", choices=("text", "markdown")),
        ConfigField("timeout", _("Network timeout (seconds)"), type="integer", default=10, min=1, max=60),
    )

    def render(self, content, contact, context: dict) -> Message:
        """Markdown (or plain text) from the dingtalk variant or the body, personalised."""
        to = self.address(contact)
        if not to:
            raise PermanentError("the contact has no chat id (the group robot's access token)")
        source = personalize(text_for_channel(content, self.name), contact)
        body = source if self.setting("msgtype") == "markdown" else markdown_to_text(source)
        return Message(to=to, subject=personalize(content.title, contact), body=body)

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Post to the robot; DingTalk answers 200 with an errcode (0 = sent)."""
        query = {"access_token": message.to}
        if self.setting("secret"):
            query.update(sign_request(self.setting("secret")))
        if self.setting("msgtype") == "markdown":
            payload = {"msgtype": "markdown", "markdown": {"title": message.subject or "", "text": message.body}}
        else:
            payload = {"msgtype": "text", "text": {"content": message.body}}
        response = post_json(f"{self.setting('url')}?{urlencode(query)}", payload,
                             timeout=float(self.setting("timeout")))
        answer = response.json()
        code = answer.get("errcode", 0)
        if code == 130101:  # sending too fast: 20 a minute per robot
            raise TransientError(f"DingTalk {code}: {answer.get('errmsg')}", retry_after=60)
        if code:
            raise PermanentError(f"DingTalk {code}: {answer.get('errmsg')}")
        return SendResult(provider_id=None)


def sign_request(secret: str, timestamp_ms: int | None = None) -> dict:
    """DingTalk's signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": timestamp, "sign": base64.b64encode(digest).decode()}


@hookimpl
def register_channels(register):
    register(DingTalkChannel())
