"""The database: one peewee proxy, initialised late from ``DATABASE_URL``.

Models bind to `database` at import; `connect_database` points it at SQLite or
PostgreSQL when an app (or a worker) starts. Nothing here imports Flask.

PostgreSQL connections come from a pool: opening one (TCP, authentication, a
new server process) costs milliseconds, as much as serving a whole page. Each
thread checks one out on `connect()` and `close()` hands it back for the next
request or task; `close_all_connections` really closes them.
"""
from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as connect_url
from playhouse.pool import PooledDatabase

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


# A pooled connection is replaced once it is this old, so a restarted server or a
# changed server setting reaches every connection within minutes.
POOL_STALE_SECONDS = 300
# With all `pool_size` connections checked out, a thread waits this long for one
# to come back before its request or task fails.
POOL_WAIT_SECONDS = 10


def connect_database(url: str, pool_size: int = 20) -> peewee.Database:
    """Point the shared proxy at the database named by `url` and return it.

    PostgreSQL gets a pool of at most `pool_size` connections per process.
    SQLite opens a file, which costs little, so it is not pooled.
    """
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        # Every transaction begins IMMEDIATE: one begun DEFERRED reads first and asks for the write lock at
        # its first write, and if another connection wrote in between SQLite refuses the upgrade at once
        # ("database is locked", whatever busy_timeout says). Begun IMMEDIATE, it waits its turn instead.
        db = connect_url(url, pragmas=SQLITE_PRAGMAS, timeout=15, lock_type="IMMEDIATE")
    else:
        db = connect_url(f"{scheme}+pool{url[len(scheme):]}", max_connections=pool_size,
                         stale_timeout=POOL_STALE_SECONDS, timeout=POOL_WAIT_SECONDS)
    previous = database.obj
    database.initialize(db)
    if isinstance(previous, PooledDatabase) and previous is not db:
        # Nothing reaches the old pool through the proxy any more (tests start many apps).
        previous.close_all()
    return db


def close_all_connections() -> None:
    """Really close this process's database connections, pooled ones too.

    `database.close()` only hands a pooled connection back to the pool; before the
    database is dropped or the process stops, they must be closed.
    """
    db = database.obj
    if isinstance(db, PooledDatabase):
        db.close_all()
    elif db is not None and not db.is_closed():
        db.close()


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


_sqlite_writer = threading.Lock()


@contextmanager
def write_transaction():
    """A transaction that writes: on SQLite it takes the write lock at once (no upgrade deadlock between workers).

    On SQLite the threads of one process also queue on a lock of their own
    first: SQLite's busy handler sleeps in growing steps while it waits, so
    two send chains polling for its lock waste more time than they overlap.
    """
    if is_postgres():
        with database.atomic() as transaction:
            yield transaction
        return
    if database.transaction_depth() > 0:  # nested: the outer transaction holds the lock already
        with database.atomic() as transaction:
            yield transaction
        return
    with _sqlite_writer, database.atomic(lock_type="IMMEDIATE") as transaction:
        yield transaction
