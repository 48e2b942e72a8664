"""Tags kept in sync with WeCom's corp tags, the other way: a local tag change is marked in WeCom.

WeCom → Campaigner happens in the sync and on ``change_external_tag`` callbacks (`services.apply_corp_tags`,
`services.apply_customer_tags`). Campaigner → WeCom: when a tag of a mapped tag group is added to
or removed from a contact here (not by WeCom itself), the change is marked with ``mark_tag`` for
every staff account that currently has the customer — on the worker, never in the request.
"""
from __future__ import annotations

import logging

from campaigner.wecom.accounts import WecomAccount
from campaigner.wecom.client import WecomClient
from campaigner.audience.models import Tag
from campaigner.wecom.models import ContactOwner, Staff, WecomCustomer, WecomTag
from campaigner.wecom.services import wecom_tag_changes

log = logging.getLogger(__name__)


def is_linked_tag(key: str) -> bool:
    """Whether the local tag `key` is linked to a WeCom corp tag (in any account)."""
    return WecomTag.select().join(Tag).where(Tag.key == key).exists()


def push_contact_tags(account: WecomAccount, contact_id: int, added: list[str], removed: list[str],
                      client: WecomClient | None = None) -> int:
    """Mark the local tag changes of a contact in WeCom; return how many mark_tag calls were made."""
    add_ids, remove_ids = wecom_tag_changes(contact_id, account.name, added, removed)
    if not add_ids and not remove_ids:
        return 0
    pairs = (ContactOwner.select(Staff.userid, WecomCustomer.external_userid)
             .join(Staff).switch(ContactOwner)
             .join(WecomCustomer, on=((WecomCustomer.contact == ContactOwner.contact)
                                      & (WecomCustomer.account == Staff.account)))
             .where(ContactOwner.contact == contact_id, ContactOwner.removed_at.is_null(),
                    Staff.account == account.name).tuples())
    client = client or WecomClient(account)
    calls = 0
    for userid, external_userid in pairs:
        client.external_contact.mark_tag(userid, external_userid, add_tag=add_ids, remove_tag=remove_ids)
        calls += 1
    return calls
