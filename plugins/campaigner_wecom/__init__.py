"""The WeCom (企业微信) channel: customer contact through wechatpy, and WeCom's callbacks into the inbound ledger.

Sending creates a customer mass-message task (``externalcontact/add_msg_template``) from the
customer's staff account, which that staff member confirms in WeCom (hence
``needs_staff_confirmation``); the task's msgid is the provider id. The receiver answers WeCom's
callbacks at ``/hooks/wecom/<account>``: URL verification, signature, timestamp and corp id
checks and decryption happen before anything is stored; each stored event is applied to staff,
customers, groups and tags by `campaigner.apply_wecom_callback`.

Config: one corp in the fields below (``account`` names it, default ``main``) and further corps
in ``more_accounts`` (a JSON list of objects with name, corp_id, secret, callback_token,
encoding_aes_key, api_base_url, tag_groups). The access token is shared by every process through
Campaigner's token store.
"""
from __future__ import annotations

import threading
import time

from campaigner import (
    Capabilities,
    Channel,
    ConfigField,
    ContentLimits,
    InboundReceiver,
    InboundRejected,
    Message,
    PermanentError,
    announce_wecom_tag_change,
    SendResult,
    TransientError,
    WecomApiError,
    WecomClient,
    apply_wecom_add_callbacks,
    apply_wecom_callback,
    decode_wecom_callback,
    hookimpl,
    lazy_gettext as _,
    markdown_to_text,
    personalize,
    text_for_channel,
    verify_wecom_url,
    wecom_accounts,
    wecom_accounts_from_config,
    wecom_identity,
)

MAX_LENGTH = 4000  # WeCom's limit for a text message's content (bytes in UTF-8; checked as characters here)


class WecomChannel(Channel):
    name = "wecom"
    label = _("WeCom customer contact")
    contact_field = "external_userid"
    limits = ContentLimits(max_length=MAX_LENGTH, format="text")
    capabilities = Capabilities(needs_staff_confirmation=True, caps_per_contact={"day": 1})
    send_timeout = 20.0
    config_schema = (
        ConfigField("account", _("Account name"), default="main",
                    help=_("How Campaigner names this corp; the callback URL is /hooks/wecom/<account name>")),
        ConfigField("corp_id", _("Corp ID"), required=True),
        ConfigField("secret", _("Customer contact secret"), required=True, secret=True),
        ConfigField("callback_token", _("Callback token"), secret=True),
        ConfigField("encoding_aes_key", _("Callback EncodingAESKey"), secret=True),
        ConfigField("api_base_url", _("API base URL"), type="url", default="https://qyapi.weixin.qq.com/cgi-bin/"),
        ConfigField("tag_groups", _("Corp tag groups kept in sync"), default="",
                    help=_("Comma-separated WeCom tag group names; each becomes a local tag group of the same name")),
        ConfigField("more_accounts", _("More corps (JSON)"), type="text", secret=True,
                    help=_("A JSON list of objects with name, corp_id, secret, callback_token, encoding_aes_key")),
    )

    def clean_config(self, cleaned: dict) -> dict:
        wecom_accounts_from_config(cleaned)  # raises ConfigError naming the bad field
        return cleaned

    def address(self, contact) -> str | None:
        """The contact's external_userid (with a staff account that still has it), or None."""
        given = getattr(contact, "external_userid", None)
        if given:
            return str(given)
        identity = wecom_identity(contact) if getattr(contact, "id", None) else None
        return identity["external_userid"] if identity else None

    def render(self, content, contact, context: dict) -> Message:
        to = self.address(contact)
        if to is None:
            raise PermanentError("the contact has no WeCom identity with a current staff account")
        text = markdown_to_text(personalize(text_for_channel(content, self.name), contact,
                                            {"unsubscribe_url": context.get("unsubscribe_url", "")}))
        identity = wecom_identity(contact) if getattr(contact, "id", None) else None
        sender = identity["staff"] if identity else getattr(contact, "wecom_staff", None)
        account = identity["account"] if identity else self.setting("account")
        return Message(to=to, body=text, data={"sender": sender, "account": account})

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        account = wecom_accounts_from_config(self.config).get(message.data.get("account") or self.setting("account"))
        if account is None:
            raise PermanentError(f"no WeCom account {message.data.get('account')!r} is configured")
        template = {"chat_type": "single", "external_userid": [message.to], "text": {"content": message.body}}
        if message.data.get("sender"):
            template["sender"] = message.data["sender"]
        try:
            answer = WecomClient(account, timeout=10).external_contact.add_msg_template(template)
        except WecomApiError as exc:
            if exc.transient:
                raise TransientError(str(exc)) from None
            raise PermanentError(str(exc)) from None
        if answer.get("fail_list"):
            raise PermanentError(f"WeCom refused the customer: {answer['fail_list']}")
        return SendResult(provider_id=answer.get("msgid"), details={"sender": message.data.get("sender")})


class WecomReceiver(InboundReceiver):
    """WeCom's customer-contact callbacks (contacts, groups, tags) for each configured corp."""

    provider = "wecom"
    label = "WeCom"
    max_body = 256 * 1024  # WeCom's event XML is a few kilobytes
    # Reading and validating the channel's config costs as much as storing a callback: it is read at
    # most once a second per process (a changed config applies within that second).
    ACCOUNTS_TTL = 1.0

    def __init__(self):
        self._accounts = (0.0, {})
        self._lock = threading.Lock()

    def accounts(self) -> dict:
        with self._lock:
            read_at, accounts = self._accounts
            if time.monotonic() - read_at < self.ACCOUNTS_TTL:
                return accounts
        accounts = wecom_accounts()
        with self._lock:
            self._accounts = (time.monotonic(), accounts)
        return accounts

    def _account(self, name: str):
        account = self.accounts().get(name)
        if account is None:
            raise InboundRejected("no WeCom account of that name is configured", 404)
        return account

    def verify(self, request):
        return verify_wecom_url(self._account(request.account), request.args)

    def accept(self, request):
        return decode_wecom_callback(self._account(request.account), request.args, request.body)

    def process(self, event) -> None:
        account = self.accounts().get(event.account)
        if account is None:
            raise LookupError(f"the WeCom account {event.account!r} is no longer configured")
        apply_wecom_callback(account, event.payload)

    def process_many(self, events) -> int:
        """A burst of customers adding staff (a poster's live code) is applied in bulk, per account."""
        accounts = self.accounts()
        handled = 0
        while handled < len(events):
            account = accounts.get(events[handled].account)
            if account is None:
                break
            run = []
            for event in events[handled:]:
                if event.account != account.name:
                    break
                run.append(event.payload)
            applied = apply_wecom_add_callbacks(account, run)
            if not applied:
                break
            handled += applied
        return handled


@hookimpl
def register_channels(register):
    register(WecomChannel())


@hookimpl
def register_inbound_receivers(register):
    register(WecomReceiver())


@hookimpl
def contact_event(event):
    """Tags of mapped tag groups changed here are marked in WeCom too (queued for the worker)."""
    announce_wecom_tag_change(event)
