"""Reservations: places in a limit that every worker and process shares, taken atomically in the database.

A limit "at most N messages in W for key K" (a contact's caps on a channel: 1 a day and 3 a week;
a WeCom robot's 20 messages a minute) is kept as numbered places ``(key, slot)`` in
`SendReservation`, one per message that counts. Before a message is handed to a channel, its
delivery takes a place under every key it falls under, if the places already taken under that key
leave room in each of its limits. The primary key makes taking a place atomic: two batches that
read the same places choose the same free slot, both insert that ``(key, slot)`` row, one of them
wins, and the other reads again and finds the limit full. Nothing counts rows in flight by id or
by status, so it does not matter which batch looks first, nor how many workers there are.

A place keeps its message's time (``taken_at``) until ``expires_at``, the longest window asked
about under its key (30 days for caps), so no W-long stretch ever holds more than N messages (a
rolling window, not calendar days). Places are given back (deleted) when their message is not sent
after all — skipped, deferred, failed, retried later, handed back unsent — and kept when it was sent
or its outcome is unknown.

Holders are delivery ids. Every sender (campaigns, calendar entries, and the sequences, welcome
messages and staff-confirmed publishing to come) writes a delivery before it sends, so this one API
serves all of them: the engine asks for places by key, never by who the sender is. Keys are
namespaced by what they limit: ``cap:<channel>:<contact id>`` (`cap_key`) and
``rate:<channel>:<address>`` (`rate_key`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import NamedTuple

from campaigner.db import database, is_postgres, write_transaction
from campaigner.deliveries.models import SendReservation

ROUNDS = 6  # a request that lost a race this many times in a row is refused (all of them were taken)


class Request(NamedTuple):
    """A delivery (`holder`) asking for a place under `key`, within each (name, at most, window) of `limits`.

    The place is kept for `keep`: at least the longest window any request under this key asks about.
    (A named tuple: a batch makes a thousand of them.)
    """

    key: str
    holder: int
    limits: tuple[tuple[str, int, dt.timedelta], ...]
    keep: dt.timedelta


@dataclass
class Refusal:
    """Why a request got no place: its limit `name` (at most `limit`) is full until `until`, used by `holders`."""

    key: str
    name: str
    limit: int
    holders: list[int] = field(default_factory=list)
    until: dt.datetime | None = None


def cap_key(channel: str, contact_id: int) -> str:
    """The key of a contact's frequency caps on a channel."""
    return f"cap:{channel}:{contact_id}"


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
    """SQLite: the whole round under the write lock (one writer, so nothing races inside it).
    PostgreSQL: nothing here; each statement runs in a transaction of its own (`_statement`), so no
    row lock is held from one statement to the next, and the unique (key, slot) decides races."""
    if is_postgres():
        yield
    else:
        with write_transaction():
            yield


@contextlib.contextmanager
def _statement():
    """On PostgreSQL, one statement's transaction, acknowledged before its WAL flush (as the engine records
    outcomes): a place lost in a server crash can let one message past a cap, never lose or repeat one."""
    if is_postgres():
        with database.atomic():
            database.execute_sql("SET LOCAL synchronous_commit TO OFF")
            yield
    else:
        yield


def _read(keys: list[str]) -> dict[str, dict[int, tuple[int, dt.datetime, dt.datetime]]]:
    """{key: {slot: (holder, taken_at, expires_at)}} of the places under these keys."""
    table, p = SendReservation._meta.table_name, database.param
    found: dict[str, dict[int, tuple[int, dt.datetime, dt.datetime]]] = {}
    for chunk in _chunks(keys, 500):
        sql = (f'SELECT "key", slot, holder, taken_at, expires_at FROM {table} '
               f'WHERE "key" IN ({", ".join([p] * len(chunk))})')
        for key, slot, holder, taken_at, expires_at in database.execute_sql(sql, chunk).fetchall():
            found.setdefault(key, {})[slot] = (holder, _as_datetime(taken_at), _as_datetime(expires_at))
    return found


def _refusal(request: Request, live: list[tuple[int, dt.datetime]], now: dt.datetime) -> Refusal | None:
    """The first of the request's limits that `live` places [(holder, taken_at)] fill, or None."""
    for name, limit, window in request.limits:
        since = now - window
        within = [(taken_at, holder) for holder, taken_at in live if taken_at > since]
        if len(within) >= limit:
            within.sort()
            return Refusal(request.key, name, limit, sorted(h for _t, h in within), within[0][0] + window)
    return None


def _take_first_places(requests: list[Request], pending: list[int], now: dt.datetime) -> list[int]:
    """The common case in one statement: slot 0 of every key nobody holds a live place under; return the rest.

    A key with no live place has 0 as its lowest free slot, which is what a full read would choose,
    so racing batches still collide on the same row.
    """
    seen: set[str] = set()
    first, rest = [], []
    for i in pending:
        request = requests[i]
        if request.key in seen or any(limit < 1 for _n, limit, _w in request.limits):
            rest.append(i)
        else:
            seen.add(request.key)
            first.append(i)
    if not first:
        return rest
    table, p = SendReservation._meta.table_name, database.param
    won: set[str] = set()
    insert = f'INSERT INTO {table} ("key", slot, holder, taken_at, expires_at) '
    unless = (f'WHERE NOT EXISTS (SELECT 1 FROM {table} AS r WHERE r."key" = v.column1 AND r.expires_at > {p}) '
              f'ON CONFLICT ("key", slot) DO NOTHING RETURNING "key"')
    if is_postgres():  # one statement for the batch: three arrays parse far faster than a VALUES list
        keys = [requests[i].key for i in first]
        holders = [requests[i].holder for i in first]
        until = [now + requests[i].keep for i in first]
        sql = (f"{insert} SELECT v.column1, 0, v.column2, {p}, v.column3 "
               f"FROM unnest({p}::text[], {p}::int[], {p}::timestamp[]) AS v(column1, column2, column3) {unless}")
        with _statement():
            won.update(key for (key,) in database.execute_sql(sql, (now, keys, holders, until, now)).fetchall())
        return rest + [i for i in first if requests[i].key not in won]
    with _writing():
        for chunk in _chunks(first, 300):
            values = ", ".join([f"({p}, {p}, {p})"] * len(chunk))
            params: list = []
            for i in chunk:
                params += [requests[i].key, requests[i].holder, now + requests[i].keep]
            sql = f"{insert} SELECT v.column1, 0, v.column2, {p}, v.column3 FROM (VALUES {values}) AS v {unless}"
            won.update(key for (key,) in database.execute_sql(sql, [now, *params, now]).fetchall())
    return rest + [i for i in first if requests[i].key not in won]


def _insert(rows: list[tuple]) -> set[tuple[str, int]]:
    """Insert (key, slot, holder, taken_at, expires_at) rows where the place is free; return those taken."""
    table, p = SendReservation._meta.table_name, database.param
    won: set[tuple[str, int]] = set()
    for chunk in _chunks(rows, 200):
        values = ", ".join([f"({p}, {p}, {p}, {p}, {p})"] * len(chunk))
        sql = (f'INSERT INTO {table} ("key", slot, holder, taken_at, expires_at) VALUES {values} '
               f'ON CONFLICT ("key", slot) DO NOTHING RETURNING "key", slot')
        with _statement():
            won.update(map(tuple, database.execute_sql(sql, [v for row in chunk for v in row]).fetchall()))
    return won


def reserve(requests: list[Request], now: dt.datetime) -> list[Refusal | None]:
    """Take a place for each request; return None (taken, or held by that holder already) or a Refusal, in order.

    Places are read, chosen (the lowest free slot numbers) and inserted with ON CONFLICT DO NOTHING;
    a request whose row another batch inserted first is tried again from a fresh read.
    """
    outcome: list[Refusal | None] = [None] * len(requests)
    pending = [i for i, r in enumerate(requests) if r.limits]
    if pending:
        pending = _take_first_places(requests, pending, now)
    for _round in range(ROUNDS):
        if not pending:
            break
        by_key: dict[str, list[int]] = {}
        for i in pending:
            by_key.setdefault(requests[i].key, []).append(i)
        with _writing():
            places = _read(sorted(by_key))
            stale: list[str] = []
            rows: list[tuple] = []
            tried: list[tuple[int, str, int]] = []  # (request index, key, slot)
            for key in sorted(by_key):
                existing = places.get(key)
                if not existing:  # the common case: nobody holds a place under this key
                    for slot, i in enumerate(by_key[key]):
                        request = requests[i]
                        refused = _refusal(request, [(0, now)] * slot, now) if slot else None
                        if refused is not None:
                            outcome[i] = refused
                            continue
                        rows.append((key, slot, request.holder, now, now + request.keep))
                        tried.append((i, key, slot))
                    continue
                live = {slot: (holder, taken_at) for slot, (holder, taken_at, until) in existing.items() if until > now}
                if len(live) < len(existing):
                    stale.append(key)
                free = (slot for slot in itertools.count() if slot not in live)
                for i in by_key[key]:
                    request = requests[i]
                    if any(holder == request.holder for holder, _t in live.values()):
                        continue  # this delivery holds a place already (a replay, a retry of an unknown)
                    refused = _refusal(request, list(live.values()), now)
                    if refused is not None:
                        outcome[i] = refused
                        continue
                    slot = next(free)
                    live[slot] = (request.holder, now)
                    rows.append((key, slot, request.holder, now, now + request.keep))
                    tried.append((i, key, slot))
            if stale:
                table, p = SendReservation._meta.table_name, database.param
                for chunk in _chunks(stale, 500):
                    with _statement():
                        database.execute_sql(f'DELETE FROM {table} WHERE "key" IN ({", ".join([p] * len(chunk))}) '
                                             f"AND expires_at <= {p}", (*chunk, now))
            won = _insert(rows) if rows else set()
        pending = [i for i, key, slot in tried if (key, slot) not in won]
    for i in pending:  # lost every race: the places went to others
        outcome[i] = Refusal(requests[i].key, requests[i].limits[0][0], requests[i].limits[0][1])
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
