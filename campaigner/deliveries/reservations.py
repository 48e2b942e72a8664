"""Reservations: places in a limit that every worker and process shares, taken atomically in the database.

A limit "at most N messages in W for key K" (a contact's daily cap on a channel, a WeCom robot's 20
messages a minute) is N numbered places ``(key, slot)`` in `SendReservation`. Before a message is
handed to a channel, its delivery takes a free place of every limit it falls under: a place nobody
holds, or one whose holder's window has passed (``expires_at <= now``). The primary key makes taking
a place atomic: two batches reaching for the last place of a contact both insert the same
``(key, slot)`` row, one of them wins, and the other reads again and finds the limit full. Nothing
counts rows in flight by id or by status, so it does not matter which batch looks first.

A place keeps its message's time for the whole window, so no W-long stretch ever holds more than N
messages (a rolling window, not calendar days). Places are given back (deleted) when their message
is not sent after all — skipped, deferred, failed, retried later, handed back unsent — and kept
when it was sent or its outcome is unknown.

Holders are delivery ids. Every sender (campaigns, calendar entries, and the sequences, welcome
messages and staff-confirmed publishing to come) writes a delivery before it sends, so this one
API serves all of them: the engine asks for places by key, it never asks who the sender is. Keys
are namespaced by what they limit: ``cap:<window>:<channel>:<contact id>`` (`cap_key`) and
``rate:<channel>:<address>`` (`rate_key`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from dataclasses import dataclass, field

from campaigner.db import database, is_postgres, write_transaction
from campaigner.deliveries.models import SendReservation

ROUNDS = 6  # a request that lost a race this many times in a row is refused (all of them were taken)


@dataclass(frozen=True)
class Request:
    """A delivery (`holder`) asking for a place under "at most `limit` in `window` for `key`"."""

    key: str
    limit: int
    window: dt.timedelta
    holder: int


@dataclass
class Refusal:
    """Why a request got no place: the limit is full until `until`, its places held by `holders`."""

    key: str
    limit: int
    holders: list[int] = field(default_factory=list)
    until: dt.datetime | None = None


def cap_key(window: str, channel: str, contact_id: int) -> str:
    """The key of a contact's frequency cap on a channel over one window ("day", "week", "month")."""
    return f"cap:{window}:{channel}:{contact_id}"


def rate_key(channel: str, address: str) -> str:
    """The key of a provider's per-address (or per-account) rate on a channel."""
    return f"rate:{channel}:{address}"


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _as_datetime(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


@contextlib.contextmanager
def _writing():
    """SQLite: the whole reservation under the write lock (one writer, so nothing races inside it).
    PostgreSQL: each statement commits on its own, so no row lock is held across statements; the
    unique (key, slot) decides races."""
    if is_postgres():
        yield
    else:
        with write_transaction():
            yield


def _read(keys: list[str]) -> dict[str, dict[int, tuple[int, dt.datetime]]]:
    table, p = SendReservation._meta.table_name, database.param
    found: dict[str, dict[int, tuple[int, dt.datetime]]] = {}
    for chunk in _chunks(keys, 500):
        sql = (f'SELECT "key", slot, holder, expires_at FROM {table} '
               f'WHERE "key" IN ({", ".join([p] * len(chunk))})')
        for key, slot, holder, expires_at in database.execute_sql(sql, chunk).fetchall():
            found.setdefault(key, {})[slot] = (holder, _as_datetime(expires_at))
    return found


def _insert(rows: list[tuple]) -> set[tuple[str, int]]:
    """Insert (key, slot, holder, taken_at, expires_at) rows where the place is free; return those taken."""
    table, p = SendReservation._meta.table_name, database.param
    won: set[tuple[str, int]] = set()
    for chunk in _chunks(rows, 200):
        values = ", ".join([f"({p}, {p}, {p}, {p}, {p})"] * len(chunk))
        sql = (f'INSERT INTO {table} ("key", slot, holder, taken_at, expires_at) VALUES {values} '
               f'ON CONFLICT ("key", slot) DO NOTHING RETURNING "key", slot')
        won.update(map(tuple, database.execute_sql(sql, [v for row in chunk for v in row]).fetchall()))
    return won


def reserve(requests: list[Request], now: dt.datetime) -> list[Refusal | None]:
    """Take a place for each request; return None (taken, or already held by that holder) or a Refusal, in order.

    Places are read, chosen (the lowest free slot numbers) and inserted with ON CONFLICT DO NOTHING;
    a request whose row another batch inserted first is tried again from a fresh read.
    """
    outcome: list[Refusal | None] = [None] * len(requests)
    pending = [i for i, r in enumerate(requests) if r.limit]
    for _round in range(ROUNDS):
        if not pending:
            break
        with _writing():
            places = _read(sorted({requests[i].key for i in pending}))
            stale: set[str] = set()
            rows: list[tuple] = []
            tried: list[tuple[int, str, int]] = []  # (request index, key, slot)
            by_key: dict[str, list[int]] = {}
            for i in pending:
                by_key.setdefault(requests[i].key, []).append(i)
            for key in sorted(by_key):
                existing = places.get(key, {})
                held = {slot: holder for slot, (holder, until) in existing.items() if until > now}
                free = (slot for slot in itertools.count() if slot not in held)
                for i in by_key[key]:
                    request = requests[i]
                    if request.holder in held.values():
                        continue  # this delivery holds a place already (a replay, a retry of an unknown)
                    if len(held) >= request.limit:
                        live = [(until, holder) for holder, until in existing.values() if until > now]
                        outcome[i] = Refusal(key, request.limit, sorted(h for _u, h in live),
                                             min((u for u, _h in live), default=None))
                        continue
                    slot = next(free)
                    if slot in existing:
                        stale.add(key)
                    held[slot] = request.holder
                    rows.append((key, slot, request.holder, now, now + request.window))
                    tried.append((i, key, slot))
            if stale:
                table, p = SendReservation._meta.table_name, database.param
                for chunk in _chunks(sorted(stale), 500):
                    database.execute_sql(f'DELETE FROM {table} WHERE "key" IN ({", ".join([p] * len(chunk))}) '
                                         f"AND expires_at <= {p}", (*chunk, now))
            won = _insert(rows) if rows else set()
        pending = [i for i, key, slot in tried if (key, slot) not in won]
    for i in pending:  # lost every race: the places went to others
        outcome[i] = Refusal(requests[i].key, requests[i].limit)
    return outcome


def release(holders: list[int], namespace: str | None = None) -> int:
    """Give back the places these deliveries hold (only under keys starting with `namespace`, if given)."""
    if not holders:
        return 0
    table, p = SendReservation._meta.table_name, database.param
    count = 0
    for chunk in _chunks(sorted(set(holders)), 500):
        sql = f"DELETE FROM {table} WHERE holder IN ({', '.join([p] * len(chunk))})"
        params: list = list(chunk)
        if namespace:
            sql += f' AND "key" LIKE {p}'
            params.append(f"{namespace}:%")
        count += database.execute_sql(sql, params).rowcount
    return count


def forget_expired(now: dt.datetime, limit: int = 10_000) -> int:
    """Delete places whose window has passed (the sweeper's housekeeping; a taken place never needs them)."""
    table, p = SendReservation._meta.table_name, database.param
    sql = (f'DELETE FROM {table} WHERE ("key", slot) IN '
           f'(SELECT "key", slot FROM {table} WHERE expires_at <= {p} LIMIT {int(limit)})')
    return database.execute_sql(sql, (now,)).rowcount
