"""Frequency caps and provider rates become reservations; claims record what was handed; deliveries keep the provider's details.

* ``send_reservation``: places in shared limits (campaigner.deliveries.reservations). The marketing
  messages sent in the last 30 days take their places under their contact's caps now, numbered in
  the order they were sent, so the caps count them as the old check did (which counted sent rows).
* ``delivery_claim.handed_upto``: the highest delivery id of a claim handed to the channel.
* ``delivery.details``: ``SendResult.details`` of a sent delivery, as JSON text.
"""


def upgrade(db):
    import datetime as dt

    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    from campaigner.db import is_postgres, utcnow

    timestamp = "TIMESTAMP" if is_postgres() else "DATETIME"
    db.execute_sql(
        'CREATE TABLE "send_reservation" ("key" VARCHAR(255) NOT NULL, "slot" INTEGER NOT NULL, '
        f'"holder" INTEGER NOT NULL, "taken_at" {timestamp} NOT NULL, "expires_at" {timestamp} NOT NULL, '
        'PRIMARY KEY ("key", "slot"))')
    db.execute_sql('CREATE INDEX "send_reservation_holder" ON "send_reservation" ("holder")')
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("delivery_claim", "handed_upto", peewee.IntegerField(default=0)),
        migrator.add_column("delivery", "details", peewee.TextField(null=True)),
    )

    now = utcnow()
    p = "%s" if is_postgres() else "?"
    # A cap's place is kept for the longest cap window (30 days); see campaigner.deliveries.reservations.
    expires = ("sent_at + INTERVAL '30 days'" if is_postgres()
               else "strftime('%Y-%m-%d %H:%M:%f', sent_at, '+30 days')")
    db.execute_sql(
        'INSERT INTO "send_reservation" ("key", "slot", "holder", "taken_at", "expires_at") '
        "SELECT 'cap:' || channel || ':' || CAST(contact_id AS TEXT), "
        "ROW_NUMBER() OVER (PARTITION BY contact_id, channel ORDER BY sent_at, id) - 1, "
        f"id, sent_at, {expires} FROM delivery "
        f"WHERE status = 'sent' AND marketing AND sent_at >= {p}",
        (now - dt.timedelta(days=30),))
