"""Versioned migrations: modules ``NNNN_name.py`` here, each with ``upgrade(db)``.

Applied names are kept in the ``schema_migrations`` table, so a second
``campaigner db upgrade`` does nothing. Each migration runs in a transaction.
Once a migration has shipped it is never edited: a schema change is a new file
(peewee's ``playhouse.migrate`` for columns), which works on SQLite and PostgreSQL.
A migration never reads the model classes: they describe the newest schema, so a
migration that used them would build something else as the models change. It
states its tables and columns itself (SQL, or peewee fields written out in it);
``tests/test_migrations.py`` checks that all of them together build the schema
the models declare.
"""
from __future__ import annotations

import importlib
import pkgutil

import peewee

from campaigner.db import BaseModel, database, utcnow


class SchemaMigration(BaseModel):
    name = peewee.CharField(primary_key=True)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_migrations"


def available() -> list[str]:
    """Names of every migration in this package, in the order they apply."""
    return sorted(
        m.name for m in pkgutil.iter_modules(__path__) if m.name[:4].isdigit()
    )


def applied() -> set[str]:
    database.create_tables([SchemaMigration], safe=True)
    return {m.name for m in SchemaMigration.select()}


def upgrade(until: str | None = None) -> list[str]:
    """Apply every migration not yet applied (up to and including `until`); return the names applied now.

    `until` builds the schema of an older release, for testing an upgrade from it.
    """
    if until is not None and until not in available():
        raise ValueError(f"no migration named {until!r}")
    done = applied()
    ran = []
    for name in available():
        if until is not None and name > until:
            break
        if name in done:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        with database.atomic():
            module.upgrade(database)
            SchemaMigration.create(name=name)
        ran.append(name)
    return ran
