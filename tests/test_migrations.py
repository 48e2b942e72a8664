"""The migrations build the schema the models declare, on a new database and on one from the first release."""
from __future__ import annotations

import datetime as dt
import itertools

import peewee
import pytest

from campaigner.db import connect_database, database, is_postgres
from campaigner.migrations import available, upgrade
from campaigner.models import ALL_MODELS

# Tables the migrations make that no model declares, left out of the comparison:
# - schema_migrations: the migration runner's record of what it applied (not in ALL_MODELS).
# - contact_tag_set: PostgreSQL only (0002), derived from contact_tag by triggers and read through a bare
#   peewee.Table by the tag-expression compiler, so no model declares it. Its functions and triggers are no
#   part of what is compared here (tables, columns, indexes, foreign keys), so the table is all to leave out.
NOT_DECLARED_BY_MODELS = {"schema_migrations", "contact_tag_set"}

FIRST_RELEASE = "0001_initial"


@pytest.fixture
def empty_database(tmp_path, backend):
    """``empty_database()`` points the shared database at an empty one on this run's backend."""
    numbers = itertools.count()

    def make():
        if backend["name"] == "postgres":
            connect_database(backend["database_url"])
            with database.connection_context():
                database.execute_sql("DROP SCHEMA public CASCADE")
                database.execute_sql("CREATE SCHEMA public")
        else:
            connect_database(f"sqlite:///{tmp_path / f'empty-{next(numbers)}.db'}")

    return make


@pytest.fixture
def declared_schema(empty_database) -> dict:
    """The schema of the live models, as peewee creates it on this backend."""
    empty_database()
    with database.connection_context():
        database.create_tables(ALL_MODELS)
        return schema()


def schema() -> dict:
    """Each column, index and foreign key of the database, keyed by (table, kind, name), as its backend reports it."""
    found = {}
    for table in set(database.get_tables()) - NOT_DECLARED_BY_MODELS:
        for column in database.get_columns(table):
            found[table, "column", column.name] = " ".join(filter(None, (
                column.data_type, None if column.null else "NOT NULL", column.primary_key and "PRIMARY KEY",
                column.default and f"DEFAULT {column.default}")))
        for index in database.get_indexes(table):
            # A partial index (short_links_campaign_url) must keep its condition; its text differs by
            # backend and by who wrote it, so only whether it has one is compared.
            found[table, "index", index.name] = " ".join(filter(None, (
                index.unique and "UNIQUE", f"({', '.join(index.columns)})",
                " WHERE " in (index.sql or "").upper() and "WHERE …")))
        on_delete = delete_rules(table)
        for key in database.get_foreign_keys(table):
            found[table, "foreign key", key.column] = (
                f"REFERENCES {key.dest_table} ({key.dest_column}) ON DELETE {on_delete[key.column]}")
    return found


def delete_rules(table: str) -> dict[str, str]:
    """The ON DELETE rule of each foreign key column of `table` (peewee's get_foreign_keys leaves it out)."""
    if is_postgres():
        cursor = database.execute_sql(
            "SELECT k.column_name, r.delete_rule FROM information_schema.referential_constraints AS r "
            "JOIN information_schema.key_column_usage AS k USING (constraint_schema, constraint_name) "
            "WHERE k.table_schema = current_schema() AND k.table_name = %s", (table,))
        return dict(cursor.fetchall())
    return {row[3]: row[6] for row in database.execute_sql(f'PRAGMA foreign_key_list("{table}")')}


def differences(migrated: dict, declared: dict) -> list[str]:
    """One line per column, index or foreign key that the migrations build otherwise than the models declare."""
    return [f"{table} {kind} {name}: migrations build {migrated.get((table, kind, name), 'nothing')!r}, "
            f"models declare {declared.get((table, kind, name), 'nothing')!r}"
            for table, kind, name in sorted(migrated.keys() | declared.keys())
            if migrated.get((table, kind, name)) != declared.get((table, kind, name))]


def test_a_new_database_gets_the_schema_the_models_declare(empty_database, declared_schema):
    empty_database()
    with database.connection_context():
        upgrade()
        migrated = schema()
    # The comparison covers every model's table (an empty snapshot would compare equal).
    assert {table for table, _, _ in declared_schema} == {model._meta.table_name for model in ALL_MODELS}
    wrong = differences(migrated, declared_schema)
    assert not wrong, "\n".join(wrong)


def insert(table: str, **values) -> None:
    """Write a row naming its columns: a model would write columns that a first-release table lacks."""
    peewee.Table(table).bind(database).insert(**values).execute()


def test_a_first_release_database_upgrades_keeping_its_rows(empty_database, declared_schema):
    from campaigner.audience.models import ImportJob
    from campaigner.deliveries.models import Delivery, DeliveryClaim

    empty_database()
    with database.connection_context():
        assert upgrade(until=FIRST_RELEASE) == [FIRST_RELEASE]
        at = "2024-05-01 08:00:00"
        for external_id in ("c1", "c2", "c3"):
            insert("contact", external_id=external_id, name="王芳", attributes="{}", created_at=at, updated_at=at)
        contact = peewee.Table("contact", ("id", "external_id")).bind(database)
        contact_ids = dict(contact.select(contact.external_id, contact.id).tuples())
        insert("import_job", kind="contacts", filename="old.csv", path="imports/old.csv", encoding="utf-8",
               mapping="{}", skip_bad_rows=False, status="done", total_rows=7, created=7, updated=0, skipped=0,
               errors="[]", created_at=at, finished_at=at)
        # One sent delivery and a batch of two that a worker held ("sending") when the upgrade came.
        for key, status, token, lease_until, updated_at in (
                ("c1", "sent", None, None, at),
                ("c2", "sending", "claim-1", "2024-05-01 08:05:00", "2024-05-01 08:00:01"),
                ("c3", "sending", "claim-1", "2024-05-01 08:05:02", "2024-05-01 08:00:02")):
            insert("delivery", source_type="campaign", source_id=3, contact_id=contact_ids[key], channel="sms",
                   status=status, reason="", attempts=1, idempotency_key=f"campaign:3:{key}", marketing=True,
                   send_after=at, lease_until=lease_until, lease_token=token, created_at=at, updated_at=updated_at)

        assert upgrade() == available()[1:]

        job = ImportJob.get(ImportJob.filename == "old.csv")
        assert (job.status, job.created, job.finished_at, job.processed_rows, job.heartbeat_at, job.claim,
                job.message) == ("done", 7, dt.datetime(2024, 5, 1, 8), 0, None, "", "")
        deliveries = {d.contact_id: (d.status, d.lease_token) for d in Delivery.select()}
        assert deliveries == {contact_ids["c1"]: ("sent", None), contact_ids["c2"]: ("queued", "claim-1"),
                              contact_ids["c3"]: ("queued", "claim-1")}
        claims = [(c.token, c.source_id, c.channel, c.size, c.deferred, c.lease_until, c.claimed_at)
                  for c in DeliveryClaim.select()]
        latest_lease, latest_update = dt.datetime(2024, 5, 1, 8, 5, 2), dt.datetime(2024, 5, 1, 8, 0, 2)
        assert claims == [("claim-1", 3, "sms", 2, 0, latest_lease, latest_update)]
        migrated = schema()
    wrong = differences(migrated, declared_schema)
    assert not wrong, "\n".join(wrong)
