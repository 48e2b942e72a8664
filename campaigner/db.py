"""The database: one peewee proxy, initialised late from ``DATABASE_URL``.

Models bind to `database` at import; `connect_database` points it at SQLite or
PostgreSQL when an app (or a worker) starts. Nothing here imports Flask.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as connect_url

database = peewee.DatabaseProxy()

# WAL lets the web process read while the worker writes; busy_timeout makes a
# writer wait for the lock instead of failing at once.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
    "cache_size": -64 * 1024,
}


def connect_database(url: str) -> peewee.Database:
    """Point the shared proxy at the database named by `url` and return it."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        db = connect_url(url, pragmas=SQLITE_PRAGMAS, timeout=15)
    else:
        db = connect_url(url)
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def utcnow() -> dt.datetime:
    """Now as a naive UTC datetime: every timestamp in the database is UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class JSONField(peewee.TextField):
    """JSON stored as text, the same on SQLite and PostgreSQL."""

    def db_value(self, value):
        import json

        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        import json

        return None if value is None else json.loads(value)
