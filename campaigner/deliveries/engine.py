"""The delivery engine: fan-out, claimed batches, checks at send time, recording, recovery.

The database is the truth and Huey only the trigger (campaigner.deliveries.tasks):

* `fan_out` writes one delivery per targeted contact with a single
  ``INSERT … SELECT`` from the audience query. The channel is chosen there, in
  SQL: the first channel of the campaign's fallback list on which the contact
  has an address and has not opted out. A contact reachable on none still gets
  a delivery, ``skipped`` with the reason (``no_address`` or ``opted_out``),
  so every targeted contact has exactly one row and the stats add up. The
  unique (source, contact, channel) key makes a second fan-out harmless.
* `pump` claims a batch of due deliveries (a lease and a token; the status
  stays ``queued``/``deferred`` and the row shows as sending — see `claim`), runs the checks of the moment (campaign still running, content still
  approved, opt-outs, frequency caps, quiet hours), renders, shortens links,
  hands the batch to the channel (`campaigner.deliveries.sender`), and records
  every outcome on its row — only while the row still carries the claim's
  token, so a batch that outlived its lease can't overwrite what recovery decided.
* `recover_expired` handles claims whose lease ran out (the worker died):
  where the channel's provider drops repeats of an idempotency key the
  delivery is queued again with the same key; elsewhere it becomes ``unknown``
  for ops to decide. Never a silent second send.
* `sweep` is what the periodic task (and a worker starting up) runs: it starts
  due campaigns whose eta task was lost, recovers expired leases and revives
  running campaigns no batch has touched lately.

Nothing here imports Flask or Huey.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import operator
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial, reduce

import peewee
from peewee import SQL, Case, Cast, Value, fn

from campaigner.audience.models import Contact, OptOut
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.channels import PermanentError, SendResult, TransientError
from campaigner.db import database, is_postgres, utcnow, write_transaction
from campaigner.deliveries import policy, reservations
from campaigner.deliveries.models import WAITING, Delivery, DeliveryClaim, DeliveryEvent, RateWindow, shown_status
from campaigner.deliveries.sender import SendTimeout, send_messages
from campaigner.offers.coupons import with_coupon

log = logging.getLogger(__name__)

SOURCE = "campaign"
CONTACT_COLUMNS = ("email", "phone", "chat_id", "openid")
STALE_PUMP = dt.timedelta(seconds=60)  # a running campaign no batch touched for this long is revived


class EngineError(Exception):
    """The engine can't go on with a campaign (a channel missing, ...); the message says why."""


@dataclass
class BatchOutcome:
    """What one batch came to, by outcome (for tests, logs and benchmarks)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    unknown: int = 0
    deferred: int = 0
    skipped: dict = field(default_factory=dict)
    released: int = 0  # handed back unsent (campaign paused or cancelled meanwhile)


@dataclass
class SweepReport:
    """What a sweep found for the task layer to act on."""

    dispatch: list = field(default_factory=list)  # campaign ids to start now
    pump: list = field(default_factory=list)  # running campaign ids to revive
    recovered: int = 0
    last_lease_expiry: dt.datetime | None = None  # of the claims held now


# ---------------------------------------------------------------- helpers


def relax_durability() -> None:
    """Inside a transaction recording outcomes, let PostgreSQL acknowledge the commit before its WAL flush.

    Safe for outcomes and only for them: if the server crashes and loses
    this commit, the rows are back to `sending` under an expired lease, and
    recovery replays them (same key) or marks them unknown — never a silent
    second send. Claims keep a synchronous commit, because a lost claim would
    put a row that may have been sent back to `queued`.
    """
    if is_postgres():
        database.execute_sql("SET LOCAL synchronous_commit TO OFF")


def channel_for(name: str):
    """The configured channel instance named `name`, or None when no plugin provides it."""
    from campaigner.channels import ConfigError
    from campaigner.plugins import UnknownChannel, configured_channel

    try:
        return configured_channel(name)
    except UnknownChannel:
        return None
    except ConfigError as exc:
        raise EngineError(f"the channel {name!r} is not configured correctly: {exc}") from None


def instance_timezone() -> str:
    """The instance's time zone: the one for contacts that have none."""
    from campaigner.runtime import current_runtime

    return current_runtime().settings.get("TIMEZONE") or "UTC"


def _source(campaign_id: int):
    return (Delivery.source_type == SOURCE) & (Delivery.source_id == campaign_id)


def in_flight(claims: list | None = None):
    """Deliveries a batch has claimed and not yet recorded (of these claims; default: every live one).

    Read through the claims' campaigns and tokens, so the (source, status, id) index finds them
    instead of a scan over every waiting row.
    """
    if claims is None:
        claims = list(DeliveryClaim.select(DeliveryClaim.token, DeliveryClaim.source_id))
    if not claims:
        return SQL("1 = 0")
    return ((Delivery.source_type == SOURCE) & Delivery.source_id.in_(sorted({c.source_id for c in claims}))
            & Delivery.status.in_(WAITING) & Delivery.lease_token.in_([c.token for c in claims]))


def waiting():
    """Deliveries waiting for a batch to claim them."""
    return Delivery.status.in_(WAITING) & Delivery.lease_token.is_null()


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------- fan-out


def reachability(channel_names: list[str]):
    """SQL expressions over Contact choosing each contact's channel (first reachable in order) and status.

    Returns (channel_expr, status_expr, reason_expr, address_fields).
    """
    reach, has_address, names = [], [], []
    for name in channel_names:
        channel = channel_for(name)
        if channel is None:
            raise EngineError(f"no installed plugin provides the channel {name!r}")
        column = channel.contact_field if channel.contact_field in CONTACT_COLUMNS else None
        if column:
            column_field = getattr(Contact, column)
            address = column_field.is_null(False) & (column_field != "")
        else:  # an address the channel derives itself: decided at send time by channel.address()
            address = SQL("1 = 1")
        opted_out = fn.EXISTS(OptOut.select(SQL("1")).where((OptOut.contact == Contact.id) & (OptOut.channel == name)))
        has_address.append(address)
        reach.append(address & ~opted_out)
        names.append(name)
    any_reach = reduce(operator.or_, reach)
    any_address = reduce(operator.or_, has_address)
    channel_expr = Case(None, list(zip(reach, names)), names[0])
    status_expr = Case(None, [(any_reach, "queued")], "skipped")
    reason_expr = Case(None, [(any_reach, ""), (any_address, "opted_out")], "no_address")
    return channel_expr, status_expr, reason_expr


def fan_out(campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Write the campaign's deliveries in one INSERT … SELECT; return how many contacts it targets."""
    from campaigner.campaigns.targeting import audience_query

    now = now or utcnow()
    channel_expr, status_expr, reason_expr = reachability(list(campaign.channels))
    key_expr = Value(f"campaign:{campaign.id}:").concat(Cast(Contact.id, "TEXT"))
    send_after = min(campaign.send_at or now, now)
    query = (Contact
             .select(Value(SOURCE), Value(campaign.id), Contact.id, channel_expr, status_expr, reason_expr,
                     key_expr, Value(0), Value(True), Value(send_after), Value(now), Value(now))
             .where(Contact.id.in_(audience_query(campaign))))
    fields = [Delivery.source_type, Delivery.source_id, Delivery.contact, Delivery.channel, Delivery.status,
              Delivery.reason, Delivery.idempotency_key, Delivery.attempts, Delivery.marketing,
              Delivery.send_after, Delivery.created_at, Delivery.updated_at]
    with write_transaction():
        Delivery.insert_from(query, fields).on_conflict_ignore().as_rowcount().execute()
        skip_shared_addresses(campaign.id, list(campaign.channels))
        targeted = Delivery.select().where(_source(campaign.id)).count()
        (Campaign.update(fanned_out_at=now, targeted=targeted, updated_at=now)
         .where(Campaign.id == campaign.id).execute())
    campaign.fanned_out_at, campaign.targeted = now, targeted
    return targeted


def skip_shared_addresses(campaign_id: int, channel_names: list[str]) -> None:
    """Skip (``duplicate_address``) every queued delivery whose address another contact's delivery of the
    campaign on the same channel already has: one message an address, however many contacts share it.

    The contact with the lowest id keeps the delivery. Addresses compare without case.
    """
    for name in channel_names:
        channel = channel_for(name)
        column = channel.contact_field if channel and channel.contact_field in CONTACT_COLUMNS else None
        if column is None:
            continue  # an address the channel derives itself: nothing to compare here
        p = database.param
        database.execute_sql(
            f"UPDATE delivery SET status = 'skipped', reason = 'duplicate_address' WHERE id IN ("
            f"SELECT id FROM (SELECT d.id, ROW_NUMBER() OVER (PARTITION BY LOWER(c.{column}) ORDER BY d.contact_id) AS n "
            f"FROM delivery d JOIN contact c ON c.id = d.contact_id WHERE d.source_type = {p} AND d.source_id = {p} "
            f"AND d.channel = {p} AND d.status = 'queued') ranked WHERE n > 1)", (SOURCE, campaign_id, name))


# ---------------------------------------------------------------- rate limits


def reserve(key: str, wanted: int, limit: int | None, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Take up to `wanted` sends from `key`'s budget for this minute; return (granted, when the next window opens)."""
    if not limit:
        return wanted, None
    window = now.replace(second=0, microsecond=0)
    next_window = window + dt.timedelta(minutes=1)
    with write_transaction():
        RateWindow.insert(key=key, window=window, used=0).on_conflict_ignore().execute()
        query = RateWindow.select().where(RateWindow.key == key)
        row = (query.for_update() if is_postgres() else query).get()
        used = row.used if row.window == window else 0
        granted = max(0, min(wanted, limit - used))
        RateWindow.update(window=window, used=used + granted).where(RateWindow.key == key).execute()
    return granted, (next_window if granted < wanted else None)


def refund(key: str, unused: int, limit: int | None, now: dt.datetime) -> None:
    """Give back sends reserved but not claimed, so the budget isn't wasted on an empty claim."""
    if not limit or unused <= 0:
        return
    window = now.replace(second=0, microsecond=0)
    (RateWindow.update(used=fn.MAX(RateWindow.used - unused, 0) if not is_postgres()
                       else fn.GREATEST(RateWindow.used - unused, 0))
     .where((RateWindow.key == key) & (RateWindow.window == window)).execute())


# ---------------------------------------------------------------- claiming


def claim(campaign_id: int, channel: str, limit: int, lease_seconds: float, now: dt.datetime):
    """Claim up to `limit` due deliveries of one channel: (token, [(id, contact_id, attempts, key, marketing), ...]).

    A claim writes only the lease, the token and the attempt count, none of them indexed, and leaves
    the status alone: PostgreSQL then updates the row in place (a HOT update, the table keeps room
    on its pages for it) instead of adding an entry to each of the table's six indexes, and SQLite
    touches no index at all. Measured on PostgreSQL this takes a third off a batch's database time
    (the claim, the cap lookup and the final update all get cheaper). The claim itself is one
    `DeliveryClaim` row, which recovery, the stats and the log read (`in_flight`); ops see its
    deliveries as "sending".
    """
    if limit <= 0:
        return None, []
    token = uuid.uuid4().hex
    p = database.param
    table = Delivery._meta.table_name
    due = (f"SELECT id FROM {table} WHERE source_type = {p} AND source_id = {p} "
           f"AND status IN ('queued', 'deferred') AND lease_token IS NULL AND channel = {p} AND send_after <= {p} "
           f"LIMIT {p}")
    if is_postgres():
        # SKIP LOCKED: concurrent claimers take different rows instead of waiting. ARRAY(...) runs the
        # subquery once and updates by primary key; `IN (subquery)` lets the planner hash-join the
        # whole table on every claim.
        target = f"id = ANY(ARRAY({due} FOR UPDATE SKIP LOCKED))"
    else:
        target = f"id IN ({due})"
    sql = (f"UPDATE {table} SET lease_until = {p}, lease_token = {p}, "
           f"attempts = attempts + 1, updated_at = {p} WHERE {target} "
           f"RETURNING id, contact_id, attempts, idempotency_key, marketing, status")
    lease_until = now + dt.timedelta(seconds=lease_seconds)
    with write_transaction():
        cursor = database.execute_sql(sql, (lease_until, token, now, SOURCE, campaign_id, channel, now, int(limit)))
        rows = cursor.fetchall()
        if rows:
            DeliveryClaim.insert(token=token, source_type=SOURCE, source_id=campaign_id, channel=channel,
                                 size=len(rows), deferred=sum(1 for r in rows if r[5] == "deferred"),
                                 lease_until=lease_until, claimed_at=now).execute()
    rows = sorted((r[0], r[1], r[2], r[3], bool(r[4])) for r in rows)
    return token, rows


def finish_claim(token: str) -> None:
    """The claim's batch is recorded, released or recovered: it is no longer in flight."""
    DeliveryClaim.delete().where(DeliveryClaim.token == token).execute()


DECREMENT = object()  # `attempts = attempts - 1`: the claim did not lead to a send


def _placeholders(n: int) -> str:
    return ", ".join([database.param] * n)


def _update_claimed(ids: list[int], token: str, **values) -> int:
    """Record an outcome on claimed rows, only while they still carry this claim's token.

    Raw SQL: these run for every row sent, and building peewee expressions for
    500-item IN lists costs more than the database does.
    """
    values.setdefault("lease_until", None)
    p = database.param
    count = 0
    for chunk in _chunks(ids):
        assignments, params = [], []
        for column, value in values.items():
            if value is DECREMENT:
                assignments.append(f"{column} = {column} - 1")
            elif isinstance(value, dict):  # per-row values: {id: value}
                assignments.append(f"{column} = CASE id " + " ".join([f"WHEN {p} THEN {p}"] * len(value))
                                   + f" ELSE {column} END")
                for key, item in value.items():
                    params += [key, item]
            else:
                assignments.append(f"{column} = {p}")
                params.append(value)
        # The token alone says the row is still this claim's (a condition on status would steer the
        # planner to the status index and its dead entries). A row recovery marked `unknown` keeps the
        # token, so a batch that finishes after all records what really happened.
        sql = (f"UPDATE {Delivery._meta.table_name} SET {', '.join(assignments)} "
               f"WHERE id IN ({_placeholders(len(chunk))}) AND lease_token = {p}")
        count += database.execute_sql(sql, (*params, *chunk, token)).rowcount
    return count


def release(ids: list[int], token: str, now: dt.datetime) -> int:
    """Hand claimed deliveries back unsent (the attempt didn't happen)."""
    return _update_claimed(ids, token, lease_token=None, updated_at=now, attempts=DECREMENT)


# ---------------------------------------------------------------- one batch


class LazyContext(Mapping):
    """A channel's render context whose per-contact unsubscribe link is signed only if the channel reads it.

    Signing a link costs more than the rest of a send; channels that never
    show one should not pay for it on every message.
    """

    def __init__(self, shared: dict, own: dict, **lazy):
        self._data = {**shared, **own}
        self._lazy = lazy

    def __getitem__(self, key):
        if key in self._lazy:
            self._data[key] = self._lazy.pop(key)()
        return self._data[key]

    def __iter__(self):
        return iter({**self._data, **dict.fromkeys(self._lazy)})

    def __len__(self):
        return len(set(self._data) | set(self._lazy))

    def __contains__(self, key):
        return key in self._data or key in self._lazy


def _log_events(rows: list[dict]) -> None:
    if rows:
        for chunk in _chunks(rows, 200):
            DeliveryEvent.insert_many(chunk).execute()


CONTACT_FIELDS = [f for f in Contact._meta.sorted_fields]


def _converter(f):
    """A fast python_value for a Contact column, or None where the driver's value is already right."""
    import json

    if isinstance(f, peewee.DateTimeField):
        return lambda v: v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
    if type(f).__name__ == "JSONField":
        return lambda v: {} if v == "{}" else json.loads(v)
    if isinstance(f, (peewee.CharField, peewee.TextField, peewee.AutoField, peewee.IntegerField)):
        return None
    return f.python_value


def load_contacts(ids: list[int]) -> dict[int, Contact]:
    """Contacts by id, built straight from the rows (peewee's row wrappers cost more than the query here)."""
    columns = ", ".join(f.column_name for f in CONTACT_FIELDS)
    names = [f.name for f in CONTACT_FIELDS]
    converters = [(f.name, c) for f in CONTACT_FIELDS if (c := _converter(f)) is not None]
    out = {}
    new = Contact.__new__
    for chunk in _chunks(ids):
        cursor = database.execute_sql(
            f"SELECT {columns} FROM {Contact._meta.table_name} WHERE id IN ({_placeholders(len(chunk))})", chunk)
        for row in cursor.fetchall():
            data = dict(zip(names, row))
            for name, convert in converters:
                if data[name] is not None:
                    data[name] = convert(data[name])
            contact = new(Contact)
            contact.__data__, contact._dirty, contact.__rel__ = data, set(), {}
            out[data["id"]] = contact
    return out


def opted_out_of(contact_ids: list[int], channel: str) -> set[int]:
    """Which of these contacts opted out of `channel`."""
    found = set()
    for chunk in _chunks(contact_ids):
        found.update(r[0] for r in database.execute_sql(
            f"SELECT contact_id FROM {OptOut._meta.table_name} WHERE contact_id IN ({_placeholders(len(chunk))}) "
            f"AND channel = {database.param}", (*chunk, channel)).fetchall())
    return found


def send_batch(campaign: Campaign, channel, token: str, rows: list, now: dt.datetime, engine: dict) -> BatchOutcome:
    """Check, reserve, render, hand over in small groups and record one claimed batch of `campaign` on `channel`.

    What each group of `handover_size` messages comes to is written in the transaction that marks the
    next group handed (`DeliveryClaim.handed_upto`) and re-reads the campaign. So a kill leaves at most
    one group `unknown` (the rest of the batch goes back to the queue), a pause or cancel stops the
    batch before its next group, and a campaign pauses itself once the run of consecutive errors reaches
    `pause_after_errors` (the last group is cut to fit the threshold), not a batch later.
    """
    from campaigner.links.shortener import content_with_short_links
    from campaigner.plugins import render_context
    from campaigner.runtime import current_runtime
    from campaigner.unsubscribe import unsubscribe_url

    outcome = BatchOutcome(claimed=len(rows))
    ids = [r[0] for r in rows]
    # The campaign may have been paused or cancelled, or its content archived, since the claim.
    status = Campaign.select(Campaign.status).where(Campaign.id == campaign.id).scalar()
    content = ContentItem.get_or_none(ContentItem.id == campaign.content_id)
    if content is None:
        status = "content_deleted"
    if status != "running" or not content.is_sendable:
        with write_transaction():
            outcome.released = release(ids, token, now)
            finish_claim(token)
            if status == "cancelled":
                cancel_pending(campaign.id, now)
        if status in ("running", "content_deleted"):
            pause(campaign.id, "content is no longer approved", now)
        return outcome

    contacts = load_contacts([r[1] for r in rows])
    opted_out = opted_out_of(list(contacts), channel.name)
    window = policy.effective_quiet_hours(engine, campaign.quiet_hours, channel.name)
    fallback_tz = instance_timezone()
    record = _Outcomes(token, outcome)
    candidates: list[tuple] = []  # (delivery id, attempts, key, contact, address, marketing)
    for delivery_id, contact_id, attempts, key, marketing in rows:
        contact = contacts.get(contact_id)
        if contact is None:
            record.skip(delivery_id, "contact_deleted")
            continue
        if contact_id in opted_out:
            record.skip(delivery_id, "opted_out")
            continue
        if window:
            until = policy.quiet_until(now, policy.zone(contact.timezone, fallback_tz), window)
            if until is not None:
                record.defer(delivery_id, until, "quiet_hours", now)
                continue
        address = channel.address(contact)
        if not address:
            record.skip(delivery_id, "no_address")
            continue
        candidates.append((delivery_id, attempts, key, contact, address, marketing))

    # Places under the caps and the provider's rate, taken before anything is rendered or handed over.
    refused = _take_places(candidates, campaign, channel, engine, now)
    for delivery_id, (kind, refusal) in refused.items():
        if kind == "cap":
            cap = refusal.name
            record.skip(delivery_id, "capped", error=(
                f"the {cap} cap of {refusal.limit} is used up by delivery "
                f"{', '.join(map(str, refusal.holders)) or 'another batch'}"),
                details={"cap": cap, "limit": refusal.limit, "used_by": refusal.holders,
                         "frees_at": refusal.until.isoformat() if refusal.until else None})
        else:
            record.defer(delivery_id, refusal.until or now + dt.timedelta(seconds=60), "rate_limited", now,
                         details={"limit_per_minute": refusal.limit, "address_key": refusal.key})
    reservations.release(list(refused))

    settings = current_runtime().settings
    # The keys every message shares, from the one place that defines a render context.
    static_context = render_context(None, channel.name, campaign_id=campaign.id, settings=settings, campaign=campaign)
    to_send: list[tuple] = []  # (delivery id, attempts, message, key)
    for delivery_id, attempts, key, contact, address, _marketing in candidates:
        if delivery_id in refused:
            continue
        try:
            context = LazyContext(static_context, {"delivery_id": delivery_id, "idempotency_key": key,
                                                   "address": address},
                                  unsubscribe_url=partial(unsubscribe_url, contact, channel.name, delivery_id,
                                                          settings=settings))
            contact = with_coupon(campaign, content, contact, delivery_id, now)  # {{ coupon }}: one code reserved
            linked = content_with_short_links(content, delivery_id=delivery_id, campaign_id=campaign.id,
                                              channel=channel.name)
            message = channel.render(linked, contact, context)
        except Exception as exc:  # noqa: BLE001 - a plugin's render error fails its delivery only
            record.fail(delivery_id, attempts, f"render failed: {type(exc).__name__}: {exc}", now, handed=False)
            continue
        to_send.append((delivery_id, attempts, message, key))

    dedupes = bool(getattr(channel.capabilities, "provider_dedupes", False))
    group_size = max(1, int(engine.get("handover_size") or 1))
    error_limit = engine["pause_after_errors"]
    beat, pace = _heartbeat(token, engine["lease_seconds"]), {}
    position, group, results, done = 0, [], [], now
    errors = 0
    while True:
        with write_transaction():
            relax_durability()
            run, total, any_sent = record.results(group, results, engine, dedupes, done)
            record.write(done)
            status, errors = _campaign_state(campaign.id)
            if total or (any_sent and errors):
                errors = _count_errors(campaign.id, sent_any=any_sent, trailing=run, total=total)
            if total:
                log.info("campaign %s: %d send(s) failed; last: %s", campaign.id, total, record.last_error)
            stop = status != "running"
            if not stop and error_limit and errors >= error_limit:
                pause(campaign.id, f"paused itself after {errors} consecutive send errors; last: {record.last_error}",
                      done)
                stop = True
            if stop or position >= len(to_send):
                unhanded = [i for i, _a, _m, _k in to_send[position:]]
                outcome.released = release(unhanded, token, done)
                reservations.release(unhanded)
                finish_claim(token)
                if status == "cancelled":
                    cancel_pending(campaign.id, done)
                Campaign.update(pumped_at=done).where(Campaign.id == campaign.id).execute()
                break
            # A channel that answers in under a millisecond is sent to in the batch's own thread, one
            # message at a time (campaigner.deliveries.sender); its groups are FAST_GROUPS x the size,
            # half a second of sending at most, so the commits don't cost more than the sends.
            size = group_size * FAST_GROUPS if pace.get("fast") else group_size
            if error_limit and errors:  # a failing gateway gets no more than the threshold asks for
                size = max(1, min(size, error_limit - errors))
            group = to_send[position:position + size]
            if not _hand_over(token, group[-1][0], engine["lease_seconds"]):
                break  # recovery took the claim for lost: it owns the rows now, nothing more is handed
        results = send_messages(channel, [(m, k) for _i, _a, m, k in group], threads=engine["send_threads"],
                                on_wait=beat, pace=pace)
        done = utcnow()
        position += len(group)

    _emit_events(record.sent_ids, record.failed_ids, done)
    return outcome


FAST_GROUPS = 16  # a sub-millisecond channel's groups are this many times handover_size
CAPS_KEPT = dt.timedelta(days=max(policy.CAP_WINDOWS.values()))  # a cap's place is kept for its longest window
RATE_WINDOW = dt.timedelta(minutes=1)


def _take_places(candidates: list, campaign: Campaign, channel, engine: dict, now: dt.datetime) -> dict:
    """Reserve each candidate's places (caps for marketing, the provider's per-address rate); {delivery id: (kind, Refusal)}."""
    caps = policy.effective_caps(engine, campaign.caps, getattr(channel.capabilities, "caps_per_contact", None))
    cap_limits = tuple((name, limit, dt.timedelta(days=policy.CAP_WINDOWS[name]))
                       for name, limit in sorted(caps.items(), key=lambda c: policy.CAP_WINDOWS[c[0]]) if limit)
    per_address = getattr(channel.capabilities, "rate_limit_per_address_per_minute", None)
    rate_limits = (("minute", int(per_address), RATE_WINDOW),) if per_address else ()
    requests, kinds = [], []
    Request, cap_key, rate_key = reservations.Request, reservations.cap_key, reservations.rate_key
    for delivery_id, _attempts, _key, contact, address, marketing in candidates:
        if marketing and cap_limits:
            requests.append(Request(cap_key(channel.name, contact.id), delivery_id, cap_limits, CAPS_KEPT))
            kinds.append("cap")
        if rate_limits:
            requests.append(Request(rate_key(channel.name, address), delivery_id, rate_limits, RATE_WINDOW))
            kinds.append("rate")
    if not requests:
        return {}
    refused: dict = {}
    for request, kind, refusal in zip(requests, kinds, reservations.reserve(requests, now)):
        if refusal is not None and (request.holder not in refused or kind == "cap"):
            refused[request.holder] = (kind, refusal)  # a cap skips for good; that wins over a rate deferral
    return refused


def _campaign_state(campaign_id: int) -> tuple[str, int]:
    """(status, consecutive errors) of a campaign, read between two groups (raw SQL: it runs per group)."""
    row = database.execute_sql(f"SELECT status, consecutive_errors FROM {Campaign._meta.table_name} "
                               f"WHERE id = {database.param}", (campaign_id,)).fetchone()
    return (row[0], row[1] or 0) if row else ("deleted", 0)


def _hand_over(token: str, upto: int, lease_seconds: float) -> bool:
    """Mark the claim's rows up to `upto` as handed to the channel and renew its lease; False if the claim is gone."""
    p = database.param
    return bool(database.execute_sql(
        f"UPDATE {DeliveryClaim._meta.table_name} SET handed_upto = {p}, lease_until = {p} WHERE token = {p}",
        (upto, utcnow() + dt.timedelta(seconds=lease_seconds), token)).rowcount)


def _heartbeat(token: str, lease_seconds: float):
    """A callback for the sender's wait loop: renews the claim's lease every quarter lease while sends are slow."""
    last = [time.monotonic()]

    def beat() -> None:
        if time.monotonic() - last[0] < lease_seconds / 4:
            return
        last[0] = time.monotonic()
        with write_transaction():
            (DeliveryClaim.update(lease_until=utcnow() + dt.timedelta(seconds=lease_seconds))
             .where(DeliveryClaim.token == token).execute())

    return beat


class _Outcomes:
    """Outcomes of a batch decided but not yet written; `write` records them on the claimed rows."""

    def __init__(self, token: str, outcome: BatchOutcome):
        self.token, self.outcome = token, outcome
        self.last_error = ""
        self.sent_ids: list[int] = []
        self.failed_ids: list[int] = []
        self._clear()

    def _clear(self) -> None:
        self.sent: list[tuple[int, str | None, dict | None]] = []
        self.skipped: dict[str, list[int]] = {}
        self.skip_errors: dict[int, str] = {}
        self.deferred: dict[tuple[dt.datetime, str], list[int]] = {}
        self.retry: dict[tuple[dt.datetime, str], list[int]] = {}
        self.failed: dict[str, list[int]] = {}
        self.unknown: dict[str, list[int]] = {}
        self.events: list[dict] = []
        self.never_handed: list[int] = []

    def skip(self, delivery_id: int, reason: str, error: str | None = None, details: dict | None = None) -> None:
        self.skipped.setdefault(reason, []).append(delivery_id)
        if error:
            self.skip_errors[delivery_id] = error
            self.events.append({"delivery": delivery_id, "at": utcnow(), "status": "skipped", "attempt": 0,
                                "error": error, "details": details})

    def defer(self, delivery_id: int, until: dt.datetime, reason: str, now: dt.datetime,
              details: dict | None = None) -> None:
        self.deferred.setdefault((until, reason), []).append(delivery_id)
        self.events.append({"delivery": delivery_id, "at": now, "status": "deferred", "attempt": 0, "error": "",
                            "details": {"until": until.isoformat(), "reason": reason, **(details or {})}})

    def fail(self, delivery_id: int, attempts: int, error: str, now: dt.datetime, handed: bool = True) -> None:
        self.failed.setdefault(error, []).append(delivery_id)
        if not handed:  # never reached the provider: its rate place goes back too
            self.never_handed.append(delivery_id)
        self.events.append({"delivery": delivery_id, "at": now, "status": "failed", "attempt": attempts,
                            "error": error})
        self.last_error = error

    def results(self, group: list, results: list, engine: dict, dedupes: bool, done: dt.datetime):
        """Sort what the channel answered for `group`; return (trailing error run, errors, any sent)."""
        run = total = 0
        any_sent = False
        for (delivery_id, attempts, _message, _key), result in zip(group, results):
            if result is not None and not isinstance(result, Exception):
                # A SendResult, or something else a plugin returned: take a provider id and details if it has them.
                details = getattr(result, "details", None)
                self.sent.append((delivery_id, getattr(result, "provider_id", None),
                                  details if isinstance(details, dict) and details else None))
                run, any_sent = 0, True
                continue
            run += 1
            total += 1
            error = f"{type(result).__name__}: {result}" if result is not None else "the channel returned nothing"
            self.last_error = error
            transient = isinstance(result, TransientError) or (isinstance(result, SendTimeout) and dedupes)
            if isinstance(result, SendTimeout) and not dedupes:
                self.unknown.setdefault(error, []).append(delivery_id)
                self.events.append({"delivery": delivery_id, "at": done, "status": "unknown", "attempt": attempts,
                                    "error": error})
            elif transient and attempts < engine["max_attempts"]:
                when = done + policy.retry_delay(engine, attempts)
                retry_after = getattr(result, "retry_after", None)
                if retry_after:  # the provider said when: never sooner
                    when = max(when, done + dt.timedelta(seconds=float(retry_after)))
                self.retry.setdefault((when, error), []).append(delivery_id)
                self.events.append({"delivery": delivery_id, "at": done, "status": "queued", "attempt": attempts,
                                    "error": error, "details": {"retry_at": when.isoformat()}})
            else:
                if isinstance(result, PermanentError) or not transient:
                    final_error = error
                else:
                    final_error = f"{error} (gave up after {attempts} attempts)"
                self.failed.setdefault(final_error, []).append(delivery_id)
                self.events.append({"delivery": delivery_id, "at": done, "status": "failed", "attempt": attempts,
                                    "error": final_error})
        return run, total, any_sent

    def write(self, done: dt.datetime) -> None:
        """Record everything decided so far on its rows (inside the caller's transaction)."""
        token, outcome = self.token, self.outcome
        for chunk in _chunks(self.sent):
            chunk_ids = [i for i, _p, _d in chunk]
            provider = {i: p for i, p, _d in chunk if p is not None} or None
            details = {i: json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)
                       for i, _p, d in chunk if d} or None
            _update_claimed(chunk_ids, token, status="sent", sent_at=done, updated_at=done, provider_id=provider,
                            error=None, reason="", details=details)
        outcome.sent += len(self.sent)
        self.sent_ids += [i for i, _p, _d in self.sent]
        for reason, reason_ids in self.skipped.items():
            errors = {i: self.skip_errors[i] for i in reason_ids if i in self.skip_errors} or None
            _update_claimed(reason_ids, token, status="skipped", reason=reason, updated_at=done, error=errors,
                            attempts=DECREMENT)
            outcome.skipped[reason] = outcome.skipped.get(reason, 0) + len(reason_ids)
        for (until, reason), until_ids in self.deferred.items():
            _update_claimed(until_ids, token, status="deferred", reason=reason, send_after=until,
                            lease_token=None, updated_at=done, attempts=DECREMENT)
            outcome.deferred += len(until_ids)
        gave_back: list[int] = []
        for (when, error), when_ids in self.retry.items():
            _update_claimed(when_ids, token, status="queued", send_after=when, lease_token=None, updated_at=done,
                            error=error)
            outcome.retrying += len(when_ids)
            gave_back += when_ids
        for error, error_ids in self.failed.items():
            _update_claimed(error_ids, token, status="failed", error=error, updated_at=done)
            outcome.failed += len(error_ids)
            gave_back += error_ids
            self.failed_ids += error_ids
        for error, error_ids in self.unknown.items():
            _update_claimed(error_ids, token, status="unknown", error=error, updated_at=done)
            outcome.unknown += len(error_ids)
        # Not sent: the caps' places go back (the provider's rate counted the request all the same).
        reservations.release(gave_back, namespace="cap")
        reservations.release(self.never_handed)
        _log_events(self.events)
        self._clear()


def _count_errors(campaign_id: int, *, sent_any: bool, trailing: int, total: int) -> int:
    """Keep the campaign's run of consecutive send errors (shared by its send chains); return it."""
    if sent_any:
        Campaign.update(consecutive_errors=trailing).where(Campaign.id == campaign_id).execute()
        return trailing
    (Campaign.update(consecutive_errors=Campaign.consecutive_errors + total)
     .where(Campaign.id == campaign_id).execute())
    return Campaign.select(Campaign.consecutive_errors).where(Campaign.id == campaign_id).scalar() or 0


def _emit_events(sent_ids: list[int], failed_ids: list[int], now: dt.datetime) -> None:
    """Tell delivery_event plugins (analytics, webhooks) what was sent and what failed."""
    from campaigner.runtime import current_runtime

    plugins = current_runtime().plugins
    if not plugins.hook.delivery_event.get_hookimpls() or not (sent_ids or failed_ids):
        return
    ids = list(sent_ids) + list(failed_ids)
    sent_ids = set(sent_ids)
    emitter = getattr(plugins, "emit_delivery_event", None)
    for chunk in _chunks(ids):
        for delivery in Delivery.select().where(Delivery.id.in_(chunk)):
            event = "sent" if delivery.id in sent_ids else "failed"
            details = {"provider_id": delivery.provider_id, "error": delivery.error,
                       "provider_details": delivery.details or {}}
            if emitter is not None:
                emitter(event, delivery, details)
                continue
            for impl in plugins.hook.delivery_event.get_hookimpls():
                try:
                    impl.function(event=event, delivery=delivery, details=details)
                except Exception:  # noqa: BLE001 - every implementation runs; each failure is logged by name
                    log.exception("delivery_event hook of plugin %s failed", impl.plugin_name)


# ---------------------------------------------------------------- campaign state


def pause(campaign_id: int, reason: str, now: dt.datetime | None = None) -> bool:
    """Pause a running or scheduled campaign with the reason ops see; False when it wasn't."""
    now = now or utcnow()
    paused = bool(Campaign.update(status="paused", status_reason=reason, updated_at=now)
                  .where(Campaign.id == campaign_id, Campaign.status.in_(("running", "scheduled"))).execute())
    if paused:
        log.info("campaign %s paused: %s", campaign_id, reason)
    return paused


def cancel_pending(campaign_id: int, now: dt.datetime) -> int:
    """Mark every delivery of the campaign not yet claimed as cancelled."""
    return (Delivery.update(status="cancelled", reason="campaign_cancelled", updated_at=now, lease_until=None)
            .where(_source(campaign_id), waiting()).execute())  # a batch in flight records its own


def complete_if_done(campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a running campaign completed, but only once every one of its deliveries is final."""
    now = now or utcnow()
    pending = Delivery.select(SQL("1")).where(_source(campaign_id), Delivery.status.in_(WAITING))
    completed = bool(Campaign.update(status="completed", completed_at=now, updated_at=now, status_reason="")
                     .where(Campaign.id == campaign_id, Campaign.status == "running",
                            Campaign.fanned_out_at.is_null(False), ~fn.EXISTS(pending)).execute())
    if completed:
        log.info("campaign %s finished", campaign_id)
    return completed


def start(campaign_id: int, now: dt.datetime | None = None, tolerance: float = 1.0) -> bool:
    """scheduled -> running when its time has come; False when another worker did it or it isn't due."""
    now = now or utcnow()
    started = bool(Campaign.update(status="running", started_at=now, updated_at=now)
                   .where(Campaign.id == campaign_id, Campaign.status == "scheduled", Campaign.cron.is_null(),
                          Campaign.send_at <= now + dt.timedelta(seconds=tolerance)).execute())
    if started:
        log.info("campaign %s started", campaign_id)
    return started


def next_due(campaign_id: int) -> dt.datetime | None:
    """The earliest send_after of the campaign's deliveries still waiting (retries, quiet hours), claimed ones aside."""
    return (Delivery.select(fn.MIN(Delivery.send_after)).where(_source(campaign_id), waiting()).scalar())


def _as_datetime(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def pump(campaign_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Send one batch of a running campaign; return when this send chain should run again (None: stop).

    Returns `now` while there is more due, the time the next delivery becomes
    due (a retry, the end of quiet hours, a new rate-limit window), or None
    when nothing is left for this chain (the campaign completed, was paused,
    or its last batches are in flight elsewhere).
    """
    now = now or utcnow()
    campaign = Campaign.get_or_none(Campaign.id == campaign_id)
    if campaign is None or campaign.status != "running":
        return None
    engine = policy.engine_settings()
    try:
        if campaign.fanned_out_at is None:
            fan_out(campaign, now)
        channels = [(name, channel_for(name)) for name in campaign.channels]
        missing = [name for name, channel in channels if channel is None]
        if missing:
            raise EngineError(f"no installed plugin provides the channel {missing[0]!r}")
    except EngineError as exc:
        pause(campaign.id, str(exc), now)
        return None
    if not campaign.content.is_sendable:
        pause(campaign.id, "content is no longer approved", now)
        return None

    blocked_until = None
    for name, channel in channels:
        wanted = engine["batch_size"]
        throttle_key, throttle = f"campaign:{campaign.id}", campaign.throttle_per_minute
        channel_key, channel_limit = f"channel:{name}", channel.capabilities.rate_limit_per_minute
        granted, reopen = reserve(throttle_key, wanted, throttle, now)
        granted_channel, reopen_channel = reserve(channel_key, granted, channel_limit, now) if granted else (0, None)
        refund(throttle_key, granted - granted_channel, throttle, now)
        for when in (reopen, reopen_channel):
            if when and granted_channel == 0:
                blocked_until = when if blocked_until is None else min(blocked_until, when)
        if not granted_channel:
            continue
        # A short lease: the batch renews it as it goes (each group handed over, and a heartbeat
        # while it waits on slow sends), so only a dead worker's claim runs out.
        token, rows = claim(campaign.id, name, granted_channel, engine["lease_seconds"], now)
        refund(throttle_key, granted_channel - len(rows), throttle, now)
        refund(channel_key, granted_channel - len(rows), channel_limit, now)
        if rows:
            send_batch(campaign, channel, token, rows, now, engine)  # also records pumped_at
            return now  # more may be due: go on at once

    recover_expired(now, campaign_id=campaign.id)
    due = _as_datetime(next_due(campaign.id))
    if due is None:
        if complete_if_done(campaign.id, now):
            return None
        return None  # batches in flight elsewhere finish it
    if blocked_until and due <= now:
        return blocked_until
    return max(due, now)


# ---------------------------------------------------------------- recovery


def recover_expired(now: dt.datetime | None = None, campaign_id: int | None = None,
                    requeued: set | None = None) -> int:
    """Settle claims whose lease ran out (their worker died): what was never handed over goes back to the queue;
    what was handed is queued again with the same key where the provider dedupes, else marked unknown.

    The ids of campaigns that got deliveries back in the queue are added to
    `requeued`: they need a send chain, and theirs may have ended meanwhile.
    """
    now = now or utcnow()
    query = DeliveryClaim.select().where(DeliveryClaim.lease_until < now)
    if campaign_id is not None:
        query = query.where(DeliveryClaim.source_type == SOURCE, DeliveryClaim.source_id == campaign_id)
    expired = list(query.order_by(DeliveryClaim.claimed_at))
    total = 0
    engine = policy.engine_settings() if expired else None
    for claim_row in expired:
        channel = channel_for(claim_row.channel)
        dedupes = bool(channel is not None and getattr(channel.capabilities, "provider_dedupes", False))
        status = Campaign.select(Campaign.status).where(Campaign.id == claim_row.source_id).scalar()
        active = status in ("running", "paused", "scheduled")
        scope = [in_flight([claim_row])]
        with write_transaction():
            claim_row = _lock_expired_claim(claim_row.token, now)
            if claim_row is None:
                continue  # its batch renewed the lease meanwhile (alive after all), or another sweep settled it
            handed = scope + [Delivery.id <= claim_row.handed_upto]
            # Never handed to the channel: back to the queue as if never claimed, places given back.
            never = [i for (i,) in Delivery.select(Delivery.id).where(*scope, Delivery.id > claim_row.handed_upto)
                     .tuples()]
            for chunk in _chunks(never):
                (Delivery.update(lease_until=None, lease_token=None, attempts=Delivery.attempts - 1, updated_at=now)
                 .where(Delivery.id.in_(chunk), Delivery.lease_token == claim_row.token).execute())
            reservations.release(never)
            total += len(never)
            if never and requeued is not None:
                requeued.add(claim_row.source_id)
            if dedupes and active:
                replay = handed + [Delivery.attempts < engine["max_attempts"]]
                _event_from(replay, "queued", "the worker stopped during the send; replayed with the same idempotency key", now)
                replayed = (Delivery.update(status="queued", lease_until=None, lease_token=None, send_after=now,
                                            updated_at=now).where(*replay).execute())
                total += replayed
                if replayed and requeued is not None:
                    requeued.add(claim_row.source_id)
            error = "the worker stopped during the send; the outcome is unknown (not resent)"
            _event_from(handed, "unknown", error, now)
            total += (Delivery.update(status="unknown", error=error, lease_until=None, updated_at=now)
                      .where(*handed).execute())
            finish_claim(claim_row.token)
    return total


def _lock_expired_claim(token: str, now: dt.datetime):
    """The claim, read again and locked for this transaction, if its lease is still out; else None.

    The lock orders recovery against the batch's own `_hand_over`: whichever comes second sees the
    other's write (a renewed lease, or no claim at all), so no group is handed after its rows were requeued.
    """
    query = DeliveryClaim.select().where(DeliveryClaim.token == token, DeliveryClaim.lease_until < now)
    return (query.for_update() if is_postgres() else query).first()


def _event_from(where: list, status: str, error: str, now: dt.datetime) -> None:
    query = (Delivery.select(Delivery.id, Value(now), Value(status), Delivery.attempts, Value(error))
             .where(*where))
    DeliveryEvent.insert_from(query, [DeliveryEvent.delivery, DeliveryEvent.at, DeliveryEvent.status,
                                      DeliveryEvent.attempt, DeliveryEvent.error]).as_rowcount().execute()


def sweep(now: dt.datetime | None = None, revive_all: bool = False) -> SweepReport:
    """Find what no task reached: due campaigns, expired leases, running campaigns left without a send chain."""
    now = now or utcnow()
    report = SweepReport()
    requeued: set = set()
    report.recovered = recover_expired(now, requeued=requeued)
    reservations.forget_expired(now)
    report.dispatch = [c for (c,) in Campaign.select(Campaign.id).where(
        Campaign.status == "scheduled", Campaign.send_at <= now).tuples()]
    stale = now - STALE_PUMP
    for campaign_id, pumped_at, fanned_out_at in (Campaign.select(Campaign.id, Campaign.pumped_at, Campaign.fanned_out_at)
                                                  .where(Campaign.status == "running").tuples()):
        pumped_at = _as_datetime(pumped_at)
        if fanned_out_at is None:
            report.pump.append(campaign_id)
            continue
        due = _as_datetime(next_due(campaign_id))
        if due is None:
            complete_if_done(campaign_id, now)
        elif due <= now and (revive_all or campaign_id in requeued or pumped_at is None or pumped_at < stale):
            report.pump.append(campaign_id)
    report.last_lease_expiry = _as_datetime(
        DeliveryClaim.select(fn.MAX(DeliveryClaim.lease_until)).scalar())
    return report


# ---------------------------------------------------------------- ops actions


def retry_deliveries(ids: list[int] | None = None, *, campaign_id: int | None = None,
                     statuses: tuple[str, ...] = ("failed",), now: dt.datetime | None = None) -> list[int]:
    """Queue failed deliveries again (same idempotency key); return the campaign ids that need a send chain."""
    now = now or utcnow()
    where = [Delivery.status.in_(statuses), Delivery.source_type == SOURCE]
    if ids is not None:
        where.append(Delivery.id.in_(ids))
    if campaign_id is not None:
        where.append(Delivery.source_id == campaign_id)
    cancelled = Campaign.select(Campaign.id).where(Campaign.status == "cancelled")
    where.append(Delivery.source_id.not_in(cancelled))
    with write_transaction():
        campaigns = [c for (c,) in Delivery.select(Delivery.source_id).where(*where).distinct().tuples()]
        if not campaigns:
            return []
        _event_from(where, "queued", "retried by ops", now)
        (Delivery.update(status="queued", send_after=now, lease_until=None, lease_token=None, updated_at=now,
                         reason="")
         .where(*where).execute())
        (Campaign.update(status="running", completed_at=None, updated_at=now, consecutive_errors=0)
         .where(Campaign.id.in_(campaigns), Campaign.status == "completed").execute())
    return campaigns
