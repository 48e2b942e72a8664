"""A token store every process shares: short-lived provider tokens (WeCom, WeChat, SMS) and small values with a TTL.

WeCom hands out an access token for 7,200 s and limits how often one may be fetched, so
every web process and worker must use the same one: it lives in the database, which all of
them see. `get_token` returns the stored token while it has more than `margin` seconds left;
otherwise one process fetches a new one while holding the row's lock (SQLite: the write lock;
PostgreSQL: ``SELECT … FOR UPDATE``), and the others, once they get the lock, find the fresh
token and use it instead of fetching their own. A provider that rejects a token as invalid or
expired (WeCom errcode 40014, 42001) gets `refresh_token(key, fetch, stale=token)`: a new one
is fetched only if no other process has already replaced the rejected one.

Every function needs a database connection (a request's, or a task's ``connection_context``).
A small per-process memo spares the database a read per API call; it never outlives the
stored expiry, and `invalidate_token` clears both.
"""
from __future__ import annotations

import datetime as dt
import threading
from typing import Callable

import peewee

from campaigner.db import BaseModel, is_postgres, utcnow, write_transaction

DEFAULT_MARGIN = 300  # seconds before expiry at which a token counts as due for refresh

Fetch = Callable[[], "tuple[str, float]"]  # -> (token, seconds it lives)


class StoredToken(BaseModel):
    """One cached token or value, shared by every process through the database."""

    key = peewee.CharField(primary_key=True)
    value = peewee.TextField()
    expires_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "stored_token"


_memo: dict[str, tuple[str, dt.datetime]] = {}
_memo_lock = threading.Lock()


def _fresh(expires_at: dt.datetime, margin: float, now: dt.datetime) -> bool:
    return expires_at - dt.timedelta(seconds=margin) > now


def stored_value(key: str) -> str | None:
    """The value under `key` while it has not expired, else None."""
    now = utcnow()
    row = StoredToken.get_or_none(StoredToken.key == key)
    return row.value if row is not None and row.expires_at > now else None


def store_value(key: str, value: str, ttl: float) -> None:
    """Keep `value` under `key` for `ttl` seconds, for every process."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=ttl)
    (StoredToken.insert(key=key, value=value, expires_at=expires, updated_at=now)
     .on_conflict(conflict_target=[StoredToken.key],
                  update={StoredToken.value: value, StoredToken.expires_at: expires, StoredToken.updated_at: now})
     .execute())
    with _memo_lock:
        _memo[key] = (value, expires)


def invalidate_token(key: str) -> None:
    """Forget the token under `key` everywhere: the next `get_token` fetches a new one."""
    StoredToken.delete().where(StoredToken.key == key).execute()
    with _memo_lock:
        _memo.pop(key, None)


def get_token(key: str, fetch: Fetch, *, margin: float = DEFAULT_MARGIN) -> str:
    """The token under `key`, fetched with `fetch()` -> (token, expires_in) when none is fresh.

    At most one process fetches at a time; the others wait and take its token.
    """
    now = utcnow()
    with _memo_lock:
        memo = _memo.get(key)
    if memo and _fresh(memo[1], margin, now):
        return memo[0]
    row = StoredToken.get_or_none(StoredToken.key == key)
    if row is not None and row.value and _fresh(row.expires_at, margin, now):
        with _memo_lock:
            _memo[key] = (row.value, row.expires_at)
        return row.value
    return _fetch_locked(key, fetch, margin=margin, stale=None)


def refresh_token(key: str, fetch: Fetch, *, stale: str | None = None) -> str:
    """A new token after the provider rejected `stale`; if another process already replaced it, that one."""
    with _memo_lock:
        _memo.pop(key, None)
    return _fetch_locked(key, fetch, margin=0, stale=stale, force=True)


def _fetch_locked(key: str, fetch: Fetch, *, margin: float, stale: str | None, force: bool = False) -> str:
    with write_transaction():
        query = StoredToken.select().where(StoredToken.key == key)
        if is_postgres():
            # The row may not exist yet: lock on a placeholder row so two processes never both fetch.
            StoredToken.insert(key=key, value="", expires_at=dt.datetime(1970, 1, 1)).on_conflict_ignore().execute()
            query = query.for_update()
        row = query.first()
        now = utcnow()
        if row is not None and row.value:
            replaced = force and stale is not None and row.value != stale
            if (not force and _fresh(row.expires_at, margin, now)) or (replaced and row.expires_at > now):
                with _memo_lock:
                    _memo[key] = (row.value, row.expires_at)
                return row.value
        token, expires_in = fetch()
        store_value(key, token, float(expires_in))
        return token


MODELS = [StoredToken]
