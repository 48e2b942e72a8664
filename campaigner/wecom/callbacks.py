"""WeCom's callbacks: checking and decrypting them (wechatpy's crypto), and applying each event to the model.

Checking, before anything is stored: the query's ``msg_signature`` over (token, timestamp, nonce,
Encrypt) must match, the timestamp must be within `MAX_SKEW` of now (a replayed old callback is
refused), the body must decrypt with the account's EncodingAESKey and name the account's corp id,
and the plaintext must be an event XML. Any failure is an `InboundRejected` (4xx), nothing stored.

The dedupe key is a hash of the decrypted XML: WeCom's retries of one callback carry the same XML
(the same CreateTime) even when re-encrypted with another nonce, while two different events
differ. Applying (on the worker) dispatches on Event/ChangeType; see `apply_callback`.
"""
from __future__ import annotations

import hashlib
import time
import xml.parsers.expat

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from campaigner.inbound.receivers import InboundRejected, Received, Reply
from campaigner.wecom import services
from campaigner.wecom.accounts import WecomAccount
from campaigner.wecom.client import WecomClient
from campaigner.wecom.models import ChatGroup

MAX_SKEW = 300  # seconds between WeCom's timestamp and our clock before a callback counts as replayed


def _crypto(account: WecomAccount) -> WeChatCrypto:
    if not account.callback_token or not account.encoding_aes_key:
        raise InboundRejected("callbacks are not configured for this account (token, EncodingAESKey)", 404)
    return WeChatCrypto(account.callback_token, account.encoding_aes_key, account.corp_id)


def _check_time(timestamp: str, now: float | None = None) -> None:
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        raise InboundRejected("timestamp missing or not a number") from None
    if abs((now or time.time()) - stamp) > MAX_SKEW:
        raise InboundRejected("timestamp too old or in the future (a replayed callback?)", 403)


def verify_url(account: WecomAccount, args: dict) -> Reply:
    """WeCom's URL check: decrypt ``echostr`` after checking its signature, and answer it in plain text."""
    crypto = _crypto(account)
    _check_time(args.get("timestamp", ""))
    try:
        echo = crypto.check_signature(args.get("msg_signature", ""), args.get("timestamp", ""),
                                      args.get("nonce", ""), args.get("echostr", ""))
    except InvalidSignatureException:
        raise InboundRejected("wrong msg_signature", 403) from None
    except InvalidCorpIdException:
        raise InboundRejected("the echostr is for another corp", 403) from None
    except Exception:  # noqa: BLE001 - wechatpy raises base64/AES/unicode errors for a bad echostr
        raise InboundRejected("echostr does not decrypt") from None
    return Reply(body=echo if isinstance(echo, str) else echo.decode("utf-8"))


def decode_callback(account: WecomAccount, args: dict, body: bytes) -> list[Received]:
    """The event in a callback POST, after checking signature, time and corp id (raises InboundRejected)."""
    crypto = _crypto(account)
    _check_time(args.get("timestamp", ""))
    try:
        envelope = xmltodict.parse(body)["xml"]
        encrypted = envelope["Encrypt"]
    except (xml.parsers.expat.ExpatError, KeyError, TypeError, ValueError):
        raise InboundRejected("the body is not WeCom's callback XML") from None
    if not isinstance(encrypted, str) or not encrypted:
        raise InboundRejected("the body has no Encrypt")
    try:
        plain = crypto.decrypt_message({"Encrypt": encrypted}, args.get("msg_signature", ""),
                                       args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        raise InboundRejected("wrong msg_signature", 403) from None
    except InvalidCorpIdException:
        raise InboundRejected("the callback is for another corp", 403) from None
    except Exception:  # noqa: BLE001 - base64, AES padding or UTF-8 errors of a forged body
        raise InboundRejected("the body does not decrypt") from None
    try:
        fields = xmltodict.parse(plain)["xml"]
    except (xml.parsers.expat.ExpatError, KeyError, TypeError, ValueError):
        raise InboundRejected("the decrypted body is not XML") from None
    if not isinstance(fields, dict) or not fields.get("MsgType"):
        raise InboundRejected("the decrypted body is not a WeCom message or event")
    kind = ":".join(str(fields.get(k)) for k in ("Event", "ChangeType") if fields.get(k)) or str(fields["MsgType"])
    key = hashlib.sha256((plain if isinstance(plain, bytes) else plain.encode("utf-8"))).hexdigest()
    return [Received(kind=kind[:100], dedupe_key=f"{account.name}:{key}", payload=dict(fields))]


# ---------------------------------------------------------------- applying


def _member_ids(payload: dict) -> list[str]:
    """MemChangeList's userids (``<MemChangeList><Item>…</Item></MemChangeList>``)."""
    items = (payload.get("MemChangeList") or {})
    items = items.get("Item") if isinstance(items, dict) else items
    if items is None:
        return []
    return [str(i) for i in (items if isinstance(items, list) else [items]) if i]


def apply_callback(account: WecomAccount, payload: dict, client_factory=WecomClient) -> None:
    """Change the model as one WeCom event says (raises to be retried later; unknown events are no-ops).

    Contacts: add (and add-half) opens a relationship and records ``joined`` with its State and
    WelcomeCode (details are fetched later, in bulk); del_external_contact (the staff removed the
    customer; by transfer when Source says so) and del_follow_user (the customer deleted the staff
    account: churn) close it and record ``left``; edit marks the details stale. Groups: create
    reads the group; update applies member joins and leaves from MemChangeList (or re-reads the
    group), and re-reads it for owner, name and notice changes; dismiss ends it. Tags: any corp tag
    change re-reads the mapped tag groups.
    """
    event = payload.get("Event")
    change = payload.get("ChangeType")
    at = services.from_timestamp(payload.get("CreateTime"))
    name = account.name
    if event == "change_external_contact":
        userid, external = payload.get("UserID"), payload.get("ExternalUserID")
        if not userid or not external:
            return
        staff = services.upsert_staff(name, userid)[0]
        customer = services.customer_for(name, external)[0]
        if change in ("add_external_contact", "add_half_external_contact"):
            services.open_owner(customer, staff, added_at=at, state=payload.get("State") or "", announce=True,
                                details={"welcome_code": payload.get("WelcomeCode") or "",
                                         "half": change == "add_half_external_contact"})
        elif change == "edit_external_contact":
            services.WecomCustomer.update(details_at=None).where(services.WecomCustomer.id == customer.id).execute()
        elif change == "del_external_contact":
            removed_by = "transfer" if payload.get("Source") == "DELETE_BY_TRANSFER" else "staff"
            services.close_owner(customer, staff, removed_by=removed_by, at=at)
        elif change == "del_follow_user":
            services.close_owner(customer, staff, removed_by="customer", at=at)
    elif event == "change_external_chat":
        chat_id = payload.get("ChatId")
        if not chat_id:
            return
        if change == "dismiss":
            services.dismiss_group(name, chat_id, at=at)
            return
        group = ChatGroup.get_or_none(ChatGroup.account == name, ChatGroup.chat_id == chat_id)
        detail = payload.get("UpdateDetail")
        members = _member_ids(payload)
        if change == "update" and group is not None and detail in ("add_member", "del_member") and members:
            for member_id in members:
                if detail == "add_member":
                    services.join_group(group, member_id, joined_at=at, announce=True,
                                        join_scene=int(payload.get("JoinScene") or 0))
                else:
                    services.leave_group(group, member_id, at=at, announce=True,
                                         quit_scene=int(payload.get("QuitScene") or 0))
            services.refresh_member_count(group)
            return
        client = client_factory(account)
        services.apply_group(name, client.external_contact_group_chat.get(chat_id)["group_chat"], announce=True, at=at)
    elif event == "change_external_tag":
        if account.tag_groups:
            client = client_factory(account)
            tags = client.external_contact.get_corp_tag_list().get("tag_group") or []
            services.apply_corp_tags(name, tags, account.tag_groups)


ADDS = ("add_external_contact", "add_half_external_contact")


def apply_add_callbacks(account: WecomAccount, payloads: list[dict]) -> int:
    """Apply the leading run of add-contact events among `payloads` at once; return how many of them that was."""
    adds = []
    for payload in payloads:
        if payload.get("Event") != "change_external_contact" or payload.get("ChangeType") not in ADDS:
            break
        if not payload.get("UserID") or not payload.get("ExternalUserID"):
            break
        adds.append({"userid": payload["UserID"], "external_userid": payload["ExternalUserID"],
                     "at": services.from_timestamp(payload.get("CreateTime")), "state": payload.get("State") or "",
                     "welcome_code": payload.get("WelcomeCode") or "",
                     "half": payload.get("ChangeType") == "add_half_external_contact"})
    services.open_owners_from_callbacks(account.name, adds)
    return len(adds)
