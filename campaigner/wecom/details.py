"""Customers known only by the ids a callback carried get WeCom's details (name, unionid) later, in bulk.

Processing a callback never waits for WeCom: the inbound ledger must keep up with bursts. The
details are read here, from the worker, a page at a time; a unionid learnt this way may merge the
identity into a contact we already had (`services.customer_for`).
"""
from __future__ import annotations

import logging

from campaigner.db import database
from campaigner.wecom import services
from campaigner.wecom.accounts import WecomAccount
from campaigner.wecom.client import WecomApiError, WecomClient
from campaigner.wecom.models import WecomCustomer

log = logging.getLogger(__name__)


def fetch_missing_details(account: WecomAccount, client: WecomClient, limit: int = 200) -> int:
    """Read WeCom's details of up to `limit` customers that lack them; return how many were filled in."""
    todo = list(WecomCustomer.select().where(WecomCustomer.account == account.name, WecomCustomer.details_at.is_null())
                .order_by(WecomCustomer.id).limit(limit))
    filled = 0
    for customer in todo:
        try:
            answer = client.external_contact.get(customer.external_userid)
        except WecomApiError as exc:
            if exc.transient:
                raise
            log.warning("WeCom %s: no details for %s: %s", account.name, customer.external_userid, exc)
            continue
        contact = answer.get("external_contact") or {}
        mobiles = [m for f in answer.get("follow_user") or [] for m in f.get("remark_mobiles") or []]
        with database.atomic():
            services.customer_for(account.name, customer.external_userid, name=contact.get("name") or "",
                                  unionid=contact.get("unionid"), type=contact.get("type"),
                                  corp_name=contact.get("corp_name"), mobiles=mobiles, details=True)
        filled += 1
    return filled
