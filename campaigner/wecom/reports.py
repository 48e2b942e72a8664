"""What the WeCom pages show: staff with their customers and groups, adds and losses, group membership over time."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import JOIN, SQL, Case, fn

from campaigner.db import utcnow
from campaigner.wecom.models import ChatGroup, ContactOwner, GroupMember, Staff, SyncJob, WecomCustomer


@dataclass
class StaffRow:
    staff: Staff
    customers: int = 0
    groups: int = 0
    added: int = 0  # in the period
    lost: int = 0  # customers who deleted the staff account in the period (churn)
    removed: int = 0  # customers the staff account removed in the period


def staff_rows(account: str | None = None, days: int = 30) -> list[StaffRow]:
    """Every staff account with its current customers, groups owned, and adds and losses over `days`."""
    since = utcnow() - dt.timedelta(days=days)
    query = Staff.select().order_by(Staff.account, Staff.name)
    if account:
        query = query.where(Staff.account == account)
    rows = {s.id: StaffRow(s) for s in query}
    if not rows:
        return []
    ids = list(rows)
    current = Case(None, [(ContactOwner.removed_at.is_null(), 1)], 0)
    added = Case(None, [(ContactOwner.added_at >= since, 1)], 0)
    lost = Case(None, [((ContactOwner.removed_at >= since) & (ContactOwner.removed_by == "customer"), 1)], 0)
    removed = Case(None, [((ContactOwner.removed_at >= since) & (ContactOwner.removed_by == "staff"), 1)], 0)
    for staff_id, c, a, l_, r in (ContactOwner.select(ContactOwner.staff, fn.SUM(current), fn.SUM(added), fn.SUM(lost),
                                                      fn.SUM(removed))
                                  .where(ContactOwner.staff.in_(ids)).group_by(ContactOwner.staff).tuples()):
        row = rows[staff_id]
        row.customers, row.added, row.lost, row.removed = int(c or 0), int(a or 0), int(l_ or 0), int(r or 0)
    for staff_id, count in (ChatGroup.select(ChatGroup.owner, fn.COUNT(SQL("*")))
                            .where(ChatGroup.owner.in_(ids), ChatGroup.dismissed_at.is_null())
                            .group_by(ChatGroup.owner).tuples()):
        rows[staff_id].groups = count
    return list(rows.values())


def staff_customers(staff: Staff, limit: int = 200) -> list:
    """The staff account's relationships, newest first (current and ended), with each customer's name."""
    return list(ContactOwner.select(ContactOwner, WecomCustomer.name.alias("customer_name"),
                                    WecomCustomer.external_userid.alias("external_userid"))
                .join(WecomCustomer, JOIN.LEFT_OUTER,
                      on=((WecomCustomer.contact == ContactOwner.contact) & (WecomCustomer.account == staff.account)))
                .where(ContactOwner.staff == staff.id).order_by(ContactOwner.added_at.desc()).limit(limit).objects())


def groups(account: str | None = None, include_dismissed: bool = False) -> list[ChatGroup]:
    query = ChatGroup.select(ChatGroup, Staff).join(Staff, JOIN.LEFT_OUTER).order_by(ChatGroup.name)
    if account:
        query = query.where(ChatGroup.account == account)
    if not include_dismissed:
        query = query.where(ChatGroup.dismissed_at.is_null())
    return list(query)


def group_members(group: ChatGroup, current: bool = True) -> list[GroupMember]:
    query = GroupMember.select().where(GroupMember.group == group.id)
    query = query.where(GroupMember.left_at.is_null()) if current else query.where(GroupMember.left_at.is_null(False))
    return list(query.order_by(GroupMember.joined_at.desc()))


def group_flow(group: ChatGroup, days: int = 30) -> list[dict]:
    """Per UTC day over the last `days`: members who joined and who left."""
    today = utcnow().date()
    start = today - dt.timedelta(days=days - 1)
    days_list = [start + dt.timedelta(days=i) for i in range(days)]
    flow = {d: {"day": d, "joined": 0, "left": 0} for d in days_list}
    since = dt.datetime.combine(start, dt.time())
    for (at,) in GroupMember.select(GroupMember.joined_at).where(GroupMember.group == group.id,
                                                                 GroupMember.joined_at >= since).tuples():
        flow[at.date()]["joined"] += 1
    for (at,) in GroupMember.select(GroupMember.left_at).where(GroupMember.group == group.id,
                                                               GroupMember.left_at >= since).tuples():
        flow[at.date()]["left"] += 1
    return [flow[d] for d in days_list]


def recent_syncs(limit: int = 20) -> list[SyncJob]:
    return list(SyncJob.select().order_by(SyncJob.id.desc()).limit(limit))
