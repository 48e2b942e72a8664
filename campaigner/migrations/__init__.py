"""Versioned migrations: modules ``NNNN_name.py`` here, each with ``upgrade(db)``.

Applied names are kept in the ``schema_migrations`` table, so a second
``campaigner db upgrade`` does nothing. Each migration runs in a transaction.
Once a migration has shipped it is never edited: a schema change is a new file
(peewee's ``playhouse.migrate`` for columns), which works on SQLite and PostgreSQL.
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


def upgrade() -> list[str]:
    """Apply every migration not yet applied; return the names applied now."""
    done = applied()
    ran = []
    for name in available():
        if name in done:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        with database.atomic():
            module.upgrade(database)
            SchemaMigration.create(name=name)
        ran.append(name)
    return ran
