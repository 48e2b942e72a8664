"""WeCom customer contact, the inbound ledger, the core event record, the shared token store,
and delivery receipts (``delivery.delivered_at``, receipts found by ``(channel, provider_id)``).

The tables are written out here as this version made them (never the model classes, which go on
changing), as peewee models bound to the database being migrated.
"""
import datetime as dt
import json

import peewee
from playhouse.migrate import SchemaMigrator, migrate


class _JSON(peewee.TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def upgrade(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Contact(Base):
        class Meta:
            table_name = "contact"

    class Tag(Base):
        class Meta:
            table_name = "tag"

    class User(Base):
        class Meta:
            table_name = "user"

    class StoredToken(Base):
        key = peewee.CharField(primary_key=True)
        value = peewee.TextField()
        expires_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField(default=_now)

        class Meta:
            table_name = "stored_token"

    class InboundEvent(Base):
        provider = peewee.CharField()
        account = peewee.CharField(default="")
        kind = peewee.CharField()
        dedupe_key = peewee.CharField()
        payload = _JSON(default=dict)
        received_at = peewee.DateTimeField(default=_now)
        status = peewee.CharField(default="pending")
        attempts = peewee.IntegerField(default=0)
        error = peewee.TextField(default="")
        due_at = peewee.DateTimeField(default=_now)
        claim = peewee.CharField(null=True)
        lease_until = peewee.DateTimeField(null=True)
        processed_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = "inbound_event"
            indexes = ((("provider", "dedupe_key"), True), (("status", "due_at"), False),
                       (("provider", "kind", "id"), False))

    class Event(Base):
        kind = peewee.CharField()
        contact = peewee.ForeignKeyField(Contact, null=True, on_delete="CASCADE", index=False)
        at = peewee.DateTimeField(default=_now)
        source = peewee.CharField(default="")
        staff = peewee.CharField(null=True)
        group = peewee.CharField(null=True)
        details = _JSON(null=True)

        class Meta:
            table_name = "contact_activity"
            indexes = ((("contact", "at"), False), (("kind", "at"), False), (("group", "at"), False))

    class Staff(Base):
        account = peewee.CharField()
        userid = peewee.CharField()
        name = peewee.CharField(default="")
        department = _JSON(default=list)
        active = peewee.BooleanField(default=True)
        created_at = peewee.DateTimeField(default=_now)
        updated_at = peewee.DateTimeField(default=_now)

        class Meta:
            table_name = "staff"
            indexes = ((("account", "userid"), True),)

    class WecomCustomer(Base):
        account = peewee.CharField()
        external_userid = peewee.CharField()
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
        unionid = peewee.CharField(null=True, index=True)
        name = peewee.CharField(default="")
        type = peewee.IntegerField(default=1)
        corp_name = peewee.CharField(default="")
        details_at = peewee.DateTimeField(null=True)
        created_at = peewee.DateTimeField(default=_now)
        updated_at = peewee.DateTimeField(default=_now)

        class Meta:
            table_name = "wecom_customer"
            indexes = ((("account", "external_userid"), True),)

    class ContactOwner(Base):
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE", index=False)
        staff = peewee.ForeignKeyField(Staff, on_delete="CASCADE", index=False)
        added_at = peewee.DateTimeField(default=_now)
        add_way = peewee.IntegerField(default=0)
        state = peewee.CharField(default="")
        remark = peewee.CharField(default="")
        removed_at = peewee.DateTimeField(null=True)
        removed_by = peewee.CharField(default="")
        updated_at = peewee.DateTimeField(default=_now)

        class Meta:
            table_name = "contact_owner"
            indexes = ((("contact", "staff", "removed_at"), False), (("staff", "removed_at"), False))

    class ChatGroup(Base):
        account = peewee.CharField()
        chat_id = peewee.CharField()
        name = peewee.CharField(default="")
        owner = peewee.ForeignKeyField(Staff, null=True, on_delete="SET NULL")
        notice = peewee.TextField(default="")
        member_count = peewee.IntegerField(default=0)
        created_at = peewee.DateTimeField(null=True)
        dismissed_at = peewee.DateTimeField(null=True)
        updated_at = peewee.DateTimeField(default=_now)

        class Meta:
            table_name = "chat_group"
            indexes = ((("account", "chat_id"), True),)

    class GroupMember(Base):
        group = peewee.ForeignKeyField(ChatGroup, on_delete="CASCADE", index=False)
        member_id = peewee.CharField()
        member_type = peewee.CharField(default="unknown")
        contact = peewee.ForeignKeyField(Contact, null=True, on_delete="SET NULL")
        name = peewee.CharField(default="")
        joined_at = peewee.DateTimeField(default=_now)
        join_scene = peewee.IntegerField(default=0)
        left_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = "group_member"
            indexes = ((("group", "member_id", "left_at"), False), (("group", "joined_at"), False))

    class WecomTag(Base):
        account = peewee.CharField()
        wecom_id = peewee.CharField()
        wecom_group_id = peewee.CharField(default="")
        tag = peewee.ForeignKeyField(Tag, on_delete="CASCADE")

        class Meta:
            table_name = "wecom_tag"
            indexes = ((("account", "wecom_id"), True),)

    class SyncJob(Base):
        account = peewee.CharField()
        status = peewee.CharField(default="queued")
        stage = peewee.CharField(default="")
        resume = _JSON(default=dict)
        counts = _JSON(default=dict)
        attempts = peewee.IntegerField(default=0)
        claim = peewee.CharField(default="")
        heartbeat_at = peewee.DateTimeField(null=True)
        message = peewee.TextField(default="")
        created_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = peewee.DateTimeField(default=_now)
        finished_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = "wecom_sync_job"
            indexes = ((("account", "id"), False),)

    db.create_tables([StoredToken, InboundEvent, Event, Staff, WecomCustomer, ContactOwner, ChatGroup,
                      GroupMember, WecomTag, SyncJob])
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("delivery", "delivered_at", peewee.DateTimeField(null=True)),
        migrator.add_index("delivery", ("channel", "provider_id"), False),
    )
