"""What a receiver's `process` does with an inbound event: find the contact, opt it out, record a receipt.

Public (re-exported from `campaigner`), so every plugin's receiver acts the same way the built-in
ones do.
"""
from __future__ import annotations

from campaigner.audience.models import Contact
from campaigner.audience.services import opt_out
from campaigner.channels import UnknownChannel
from campaigner.deliveries.receipts import record_delivery_receipt  # noqa: F401  (re-exported)
from campaigner.plugins import emit_delivery_event
from campaigner.runtime import current_runtime
from campaigner.wecom.models import WecomCustomer

CONTACT_COLUMNS = ("email", "phone", "chat_id", "openid")
OPT_OUT_WORDS = ("T", "TD", "N", "退订", "退订TD", "UNSUBSCRIBE", "STOP")  # replies that mean "no more messages"


def find_contact_by_address(channel: str, address: str, *, create: bool = False) -> Contact | None:
    """The contact `address` names on `channel` (its phone for sms, email for email, …), created if asked.

    The address is first normalised by the channel itself (`Channel.address` on a stand-in
    contact), so "+86 138 0013 8000" finds the contact stored as +8613800138000.
    """
    template = current_runtime().plugins.channel(channel)
    if template is None:
        raise UnknownChannel(f"no plugin provides a channel named {channel!r}")
    field = template.contact_field
    if field == "external_userid":
        customer = WecomCustomer.select().where(WecomCustomer.external_userid == address).first()
        return Contact.get_or_none(Contact.id == customer.contact_id) if customer else None
    if field not in CONTACT_COLUMNS:
        return None
    normal = template.address(Contact(**{field: address})) or str(address).strip()
    found = Contact.select().where(getattr(Contact, field) == normal).order_by(Contact.id).first()
    if found is None and create and normal:
        found = Contact.create(**{field: normal})
    return found


def is_opt_out_reply(text: str) -> bool:
    """Whether a reply asks to stop messages (T, TD, 退订 …, as carriers and users write them)."""
    return str(text or "").strip().strip("。.!！").upper() in OPT_OUT_WORDS


def opt_out_contact(contact, channel: str, source: str) -> bool:
    """Opt a contact out of a channel (an SMS "T" reply, a provider's complaint); False when it already was."""
    created = opt_out(contact, channel, source)
    if created:
        emit_delivery_event("opted_out", None, {"channel": channel, "source": source,
                                                "contact_id": getattr(contact, "id", contact)})
    return created
