"""WeCom customer contact: staff accounts, customers' WeCom identities, who added whom, groups and members.

`account` everywhere is the name of one configured WeCom corp (several may be connected).
"""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.audience.models import Contact, Tag
from campaigner.db import BaseModel, JSONField, utcnow


class Staff(BaseModel):
    """A WeCom member (成员) with customer contact enabled."""

    account = peewee.CharField()
    userid = peewee.CharField()
    name = peewee.CharField(default="")
    department = JSONField(default=list)  # department ids
    active = peewee.BooleanField(default=True)  # in the follow-user list at the last sync
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "userid"), True),)

    def __str__(self) -> str:
        return self.name or self.userid


class WecomCustomer(BaseModel):
    """A contact's WeCom identity in one corp: its external_userid (and unionid, which spans corps)."""

    account = peewee.CharField()
    external_userid = peewee.CharField()
    contact = peewee.ForeignKeyField(Contact, backref="+", on_delete="CASCADE")
    unionid = peewee.CharField(null=True, index=True)
    name = peewee.CharField(default="")
    type = peewee.IntegerField(default=1)  # 1 a WeChat user, 2 a WeCom user
    corp_name = peewee.CharField(default="")
    # None until WeCom's details (name, unionid) were read; a callback alone carries only the ids.
    details_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "wecom_customer"
        indexes = ((("account", "external_userid"), True),)


class ContactOwner(BaseModel):
    """A staff account's relationship with a customer: one row per time it was added, ended when removed."""

    contact = peewee.ForeignKeyField(Contact, backref="+", on_delete="CASCADE", index=False)
    staff = peewee.ForeignKeyField(Staff, backref="owners", on_delete="CASCADE", index=False)
    added_at = peewee.DateTimeField(default=utcnow)
    add_way = peewee.IntegerField(default=0)  # WeCom's add_way: 1 QR code, 2 phone search, …
    state = peewee.CharField(default="")  # the live code's state the customer came through
    remark = peewee.CharField(default="")
    removed_at = peewee.DateTimeField(null=True)
    # staff (the staff account deleted the customer), customer (the customer deleted the staff account: churn)
    # or transfer (handed to another staff account)
    removed_by = peewee.CharField(default="")
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "contact_owner"
        indexes = ((("contact", "staff", "removed_at"), False), (("staff", "removed_at"), False))


class ChatGroup(BaseModel):
    """A customer group (客户群)."""

    account = peewee.CharField()
    chat_id = peewee.CharField()
    name = peewee.CharField(default="")
    owner = peewee.ForeignKeyField(Staff, null=True, backref="groups", on_delete="SET NULL")
    notice = peewee.TextField(default="")
    member_count = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(null=True)  # when WeCom says it was created
    dismissed_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "chat_group"
        indexes = ((("account", "chat_id"), True),)

    def __str__(self) -> str:
        return self.name or self.chat_id


class GroupMember(BaseModel):
    """A member's stay in a group: joined, and left when `left_at` is set (a rejoin is a new row)."""

    group = peewee.ForeignKeyField(ChatGroup, backref="members", on_delete="CASCADE", index=False)
    member_id = peewee.CharField()  # a staff userid or an external_userid
    member_type = peewee.CharField(default="unknown")  # staff, customer, unknown (an external we don't know)
    contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="SET NULL")
    name = peewee.CharField(default="")
    joined_at = peewee.DateTimeField(default=utcnow)
    join_scene = peewee.IntegerField(default=0)  # 1 invited directly, 2 by link, 3 by QR code
    left_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "group_member"
        indexes = ((("group", "member_id", "left_at"), False), (("group", "joined_at"), False))


class WecomTag(BaseModel):
    """A WeCom corp tag linked to a local tag (its tag group is mapped to a local tag group)."""

    account = peewee.CharField()
    wecom_id = peewee.CharField()
    wecom_group_id = peewee.CharField(default="")
    tag = peewee.ForeignKeyField(Tag, backref="+", on_delete="CASCADE")

    class Meta:
        table_name = "wecom_tag"
        indexes = ((("account", "wecom_id"), True),)


class SyncJob(BaseModel):
    """A full sync of one WeCom account (staff, customers, groups) run on a worker, resumable."""

    account = peewee.CharField()
    status = peewee.CharField(default="queued")  # queued, running, done, failed
    stage = peewee.CharField(default="")  # staff, customers, groups, tags
    # Where a resumed run starts: {"stage": ..., "staff_index": n, "cursor": ...}
    resume = JSONField(default=dict)
    counts = JSONField(default=dict)  # seen and changed per kind: {"staff": n, "customers": n, "groups": n, "changed": n}
    attempts = peewee.IntegerField(default=0)
    claim = peewee.CharField(default="")
    heartbeat_at = peewee.DateTimeField(null=True)
    message = peewee.TextField(default="")
    created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "wecom_sync_job"
        indexes = ((("account", "id"), False),)


MODELS = [Staff, WecomCustomer, ContactOwner, ChatGroup, GroupMember, WecomTag, SyncJob]
