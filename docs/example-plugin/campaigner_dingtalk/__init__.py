"""DingTalk (钉钉) group robots as a Campaigner channel: an example third-party plugin.

Each community group has a custom robot; a contact standing for a group
carries the robot's access token as its ``chat_id``. With the robot's
"signing" (加签) security setting, every request is signed with the secret.

What the plugin declares it also does, as the contract asks:

- ``rate_limit_per_address_per_minute=20``: DingTalk takes 20 messages a minute
  per robot, so the channel counts them per robot (a moving window from the
  ``limits`` package) and raises ``TransientError(retry_after=…)`` at the limit,
  before DingTalk refuses;
- its network timeout can only be set below ``send_timeout``, so a slow robot
  fails with DingTalk's own reason before the engine cuts the send off;
- a send counts as sent only when DingTalk answers ``errcode`` 0: an answer
  without one is not DingTalk's (a wrong URL, a proxy's page) and fails.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

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
    render_subject,
    text_for_channel,
)

DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"
PER_ROBOT_PER_MINUTE = 20
TOO_FAST = 130101  # DingTalk's errcode for a robot sending too fast

# Shared by every configured copy of the channel in this process: the limit is per robot.
robot_limiter = MovingWindowRateLimiter(MemoryStorage())
ROBOT_LIMIT = RateLimitItemPerMinute(PER_ROBOT_PER_MINUTE)


class DingTalkChannel(Channel):
    name = "dingtalk"
    label = _("DingTalk group robot")
    contact_field = "chat_id"  # the group robot's access token
    limits = ContentLimits(max_length=5000, format="markdown")
    capabilities = Capabilities(rate_limit_per_address_per_minute=PER_ROBOT_PER_MINUTE)
    send_timeout = 15.0
    config_schema = (
        ConfigField("url", _("Robot API URL"), type="url", default=DINGTALK_URL),
        ConfigField("secret", _("Signing secret (加签)"), secret=True,
                    help=_("From the robot's security settings; leave empty without signing")),
        ConfigField("msgtype", _("Message type"), type="choice", default="markdown", choices=("text", "markdown")),
        # Below send_timeout (15 s): the robot's own error, not the engine's cut-off, explains a slow send.
        ConfigField("timeout", _("Network timeout (seconds)"), type="integer", default=10, min=1, max=14),
    )

    def render(self, content, contact, context: dict) -> Message:
        """Markdown (or plain text) from the dingtalk variant or the body, personalised."""
        to = self.address(contact)
        if not to:
            raise PermanentError("the contact has no chat id (the group robot's access token)")
        source = personalize(text_for_channel(content, self.name), contact)
        body = source if self.setting("msgtype") == "markdown" else markdown_to_text(source)
        return Message(to=to, subject=render_subject(content, self.name, contact), body=body)

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Post to the robot (within its 20 a minute); DingTalk answers 200 with an errcode (0 = sent)."""
        if not robot_limiter.hit(ROBOT_LIMIT, message.to):
            reset = robot_limiter.get_window_stats(ROBOT_LIMIT, message.to).reset_time
            raise TransientError(f"robot at its limit of {PER_ROBOT_PER_MINUTE} messages a minute",
                                 retry_after=max(1.0, reset - time.time()))
        query = {"access_token": message.to}
        if self.setting("secret"):
            query.update(sign_request(self.setting("secret")))
        if self.setting("msgtype") == "markdown":
            payload = {"msgtype": "markdown", "markdown": {"title": message.subject or "", "text": message.body}}
        else:
            payload = {"msgtype": "text", "text": {"content": message.body}}
        response = post_json(f"{self.setting('url')}?{urlencode(query)}", payload,
                             timeout=float(self.setting("timeout")))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("errcode"), int):
            # Not DingTalk's answer: nothing says the message reached a group.
            raise PermanentError(f"the robot URL answered without a DingTalk errcode: {response.text[:200]!r}")
        code = answer["errcode"]
        if code == TOO_FAST:
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
