"""Coupon batches and codes (offers), PDCA notes on KPI goals, contacts indexed by when they joined, orders
by time with their contact and amount (the weekly review reads a week's orders from that index alone),
and the RFM letters in the seeds' order (A 近高高 … H 久低低: recency, then frequency, then monetary).

The tables are declared here as this version made them, not read from the model classes.
The old letters ranked spend first (B was recent, infrequent, high spend); each RFM tag, each
daily RFM snapshot and each audience expression naming one moves to the new letter of the same
class, so a segment "rfm:B" keeps selecting the same contacts under its new name "rfm:C".
"""
import re

OLD_TO_NEW = {"A": "A", "B": "C", "C": "E", "D": "G", "E": "B", "F": "D", "G": "F", "H": "H"}
_RFM_TAG = re.compile(r"\brfm:([A-H])\b")


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Frozen):
        class Meta:
            table_name = "user"

    class Contact(Frozen):
        class Meta:
            table_name = "contact"

    class Campaign(Frozen):
        class Meta:
            table_name = "campaign"

    class Order(Frozen):
        class Meta:
            table_name = "orders"

    class CouponBatch(Frozen):
        name = peewee.CharField()
        kind = peewee.CharField(default="amount")
        value = peewee.DecimalField(max_digits=12, decimal_places=2)
        stock = peewee.IntegerField(default=0)
        per_contact_limit = peewee.IntegerField(default=1)
        starts_at = peewee.DateTimeField(null=True)
        ends_at = peewee.DateTimeField(null=True)
        provider = peewee.CharField(default="")
        created_by = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
        created_at = peewee.DateTimeField()

        class Meta:
            table_name = "coupon_batches"

    class CouponCode(Frozen):
        batch = peewee.ForeignKeyField(CouponBatch, backref="+", on_delete="CASCADE", index=False)
        code = peewee.CharField(null=True, unique=True)
        status = peewee.CharField(default="free")
        delivery_id = peewee.IntegerField(null=True, unique=True)
        contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="SET NULL")
        campaign = peewee.ForeignKeyField(Campaign, null=True, backref="+", on_delete="SET NULL", index=False)
        reserved_at = peewee.DateTimeField(null=True)
        redeemed_at = peewee.DateTimeField(null=True)
        order = peewee.ForeignKeyField(Order, null=True, backref="+", on_delete="SET NULL")
        amount = peewee.DecimalField(max_digits=14, decimal_places=2, null=True)

        class Meta:
            table_name = "coupon_codes"
            indexes = ((("batch", "status", "id"), False), (("campaign", "status"), False),
                       (("redeemed_at",), False))

    class CouponHolding(Frozen):
        batch = peewee.ForeignKeyField(CouponBatch, backref="+", on_delete="CASCADE", index=False)
        contact = peewee.ForeignKeyField(Contact, backref="+", on_delete="CASCADE")
        held = peewee.IntegerField(default=0)

        class Meta:
            table_name = "coupon_holdings"
            primary_key = peewee.CompositeKey("batch", "contact")

    class CampaignOffer(Frozen):
        campaign = peewee.ForeignKeyField(Campaign, primary_key=True, backref="+", on_delete="CASCADE")
        batch = peewee.ForeignKeyField(CouponBatch, backref="+", on_delete="CASCADE")

        class Meta:
            table_name = "campaign_offers"

    db.create_tables([CouponBatch, CouponCode, CouponHolding, CampaignOffer])
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("kpi_goals", "plan_note", peewee.TextField(default="")),
        migrator.add_column("kpi_goals", "outcome_note", peewee.TextField(default="")),
        migrator.add_column("kpi_goals", "next_note", peewee.TextField(default="")),
        migrator.add_index("contact", ("created_at",), False),
        migrator.add_index("orders", ("occurred_at", "contact_id", "amount"), False),
    )
    _reletter_rfm(db)


def _reletter_rfm(db):
    """Move every RFM tag, snapshot and expression to the seeds' letters (through temporary names)."""
    p = db.param
    for old, new in OLD_TO_NEW.items():
        if old != new:
            db.execute_sql(f"UPDATE tag SET key = {p}, name = {p} WHERE key = {p}", (f"rfm:~{new}", f"~{new}", f"rfm:{old}"))
            db.execute_sql(f"UPDATE rfm_snapshots SET segment = {p} WHERE segment = {p}", (f"~{new}", old))
    db.execute_sql(f"UPDATE tag SET key = REPLACE(key, 'rfm:~', 'rfm:'), name = REPLACE(name, '~', '') "
                   f"WHERE key LIKE {p}", ("rfm:~%",))
    db.execute_sql(f"UPDATE rfm_snapshots SET segment = REPLACE(segment, '~', '') WHERE segment LIKE {p}", ("~%",))

    def rewrite(text):
        return _RFM_TAG.sub(lambda m: f"rfm:{OLD_TO_NEW[m.group(1)]}", text)

    for table, column in (("segment", "expression"), ("campaign", "audience")):
        for row_id, text in db.execute_sql(f"SELECT id, {column} FROM {table} WHERE {column} LIKE {p}",
                                           ("%rfm:%",)).fetchall():
            if rewrite(text) != text:
                db.execute_sql(f"UPDATE {table} SET {column} = {p} WHERE id = {p}", (rewrite(text), row_id))
