"""The engine under faults: a batch killed mid-send, a slow batch, a pause or cancel while sending, a dead gateway."""
from __future__ import annotations

import collections
import datetime as dt
import threading

import pytest

from campaigner import TransientError
from campaigner.db import database, utcnow
from campaigner.testing import FakeGateway
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    campaign_row, channels, deliveries_of, engine_settings, make_contacts, new_campaign, run_campaign,
)
from tests.fixtures_plugins import configure_channel  # noqa: F401  (fixture)


def statuses(campaign_id):
    return collections.Counter(d.status for d in deliveries_of(campaign_id))


def gateway_latency(seconds: float):
    """A channel behaviour: the provider takes `seconds` to answer (an SMS gateway takes 20-200 ms)."""
    def wait(message, key):
        threading.Event().wait(seconds)
    return wait


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs in the batch (the crash test kills real processes)."""


def test_a_batch_killed_mid_send_leaves_only_the_group_in_flight_unknown_and_the_rest_is_sent_later(
        app, channels, engine_settings, monkeypatch):
    from campaigner.deliveries import engine
    from campaigner.deliveries.policy import engine_settings as current_settings

    engine_settings(batch_size=100, handover_size=10)
    make_contacts(100)
    channel = channels["rec_nodedupe"]
    channel.behaviour = gateway_latency(0.002)
    campaign = new_campaign(channels=("rec_nodedupe",))
    real_send = engine.send_messages
    groups = []

    def killed_during_third_group(chan, items, **kwargs):
        groups.append(len(items))
        if len(groups) == 3:
            real_send(chan, items[:4], **kwargs)  # four reach the provider, then the process dies
            raise WorkerKilled
        return real_send(chan, items, **kwargs)

    monkeypatch.setattr(engine, "send_messages", killed_during_third_group)
    with pytest.raises(WorkerKilled):
        run_campaign(campaign.id)
    monkeypatch.setattr(engine, "send_messages", real_send)
    assert groups == [10, 10, 10] and len(channel.received) == 24
    assert statuses(campaign.id) == {"sent": 20, "queued": 80}  # 80 still claimed: they show as sending

    with database.connection_context():
        lease = current_settings()["lease_seconds"]
        assert engine.recover_expired(utcnow()) == 0  # not before the lease runs out
        assert engine.recover_expired(utcnow() + dt.timedelta(seconds=lease + 1)) == 80
    rows = {d.status: [] for d in deliveries_of(campaign.id)}
    for d in deliveries_of(campaign.id):
        rows[d.status].append(d)
    # The group in flight is unknown (never resent without dedupe); the 70 never handed over wait again.
    assert len(rows["unknown"]) == 10 and len(rows["queued"]) == 70
    assert all(d.lease_token is None and d.attempts == 0 for d in rows["queued"])

    run_campaign(campaign.id)
    assert statuses(campaign.id) == {"sent": 90, "unknown": 10}
    per_address = collections.Counter(to for to, _key, _body in channel.received)
    assert len(channel.received) == 94 and max(per_address.values()) == 1  # nobody twice
    assert campaign_row(campaign.id).status == "completed"


def test_a_slow_live_batch_renews_its_lease_and_is_never_taken_over(app, channels, engine_settings):
    from campaigner.deliveries import engine

    engine_settings(batch_size=6, handover_size=3, send_threads=1, lease_seconds=1)
    make_contacts(6)
    channel = channels["rec_nodedupe"]
    channel.behaviour = gateway_latency(0.4)  # a group of 3 takes 1.2 s, longer than the 1 s lease
    campaign = new_campaign(channels=("rec_nodedupe",))
    stop, recovered = threading.Event(), []

    def sweeper():  # another worker's sweeps, looking for expired leases all the while
        with database.connection_context():
            while not stop.is_set():
                recovered.append(engine.recover_expired())
                stop.wait(0.05)

    thread = threading.Thread(target=sweeper)
    thread.start()
    try:
        run_campaign(campaign.id)
    finally:
        stop.set()
        thread.join(30)
    assert len(recovered) > 20 and sum(recovered) == 0
    assert statuses(campaign.id) == {"sent": 6} and len(channel.received) == 6


def _pump_chains(campaign_id: int, chains: int) -> list[threading.Thread]:
    from campaigner.deliveries import engine

    def chain():
        with database.connection_context():
            while True:
                when = engine.pump(campaign_id)
                if when is None or when > utcnow():
                    return

    threads = [threading.Thread(target=chain) for _ in range(chains)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_after_pause_or_cancel_answers_at_most_one_group_per_send_chain_still_goes_out(
        app, channels, engine_settings, action):
    from campaigner.campaigns.services import cancel_campaign, pause_campaign
    from campaigner.deliveries import engine

    chains, group = 2, 16
    engine_settings(batch_size=500, handover_size=group, send_threads=8)
    make_contacts(1200)
    channel = channels["rec"]
    channel.behaviour = gateway_latency(0.002)
    campaign = new_campaign()
    with database.connection_context():
        engine.start(campaign.id)
    threads = _pump_chains(campaign.id, chains)
    while len(channel.received) < 200:
        assert any(t.is_alive() for t in threads), "the chains stopped before the pause"
        threading.Event().wait(0.005)
    with database.connection_context():
        (pause_campaign if action == "pause" else cancel_campaign)(campaign_row(campaign.id))
    answered = len(channel.received)
    for thread in threads:
        thread.join(60)
    after = len(channel.received) - answered
    print(f"\n{action}: {after} messages went out after the {action} answered (bound {chains} x {group})")
    assert after <= chains * group
    counts = statuses(campaign.id)
    assert counts["sent"] == len(channel.received) < 1200
    waiting = "queued" if action == "pause" else "cancelled"
    assert counts == {"sent": counts["sent"], waiting: 1200 - counts["sent"]}
    assert campaign_row(campaign.id).status == ("paused" if action == "pause" else "cancelled")


@pytest.mark.parametrize("failure", ["answers 500", "refuses connections"])
def test_a_dead_gateway_pauses_the_campaign_at_the_error_threshold_not_a_batch_later(
        app, engine_settings, configure_channel, failure):
    engine_settings(pause_after_errors=50, quiet_hours={"enabled": False})  # the default batch of 1,000
    make_contacts(300)
    with FakeGateway() as gateway:
        gateway.reply(500, {"error": "internal"})
        url = gateway.url + "send" if failure == "answers 500" else "http://127.0.0.1:9/send"
        configure_channel("sms", mode="gateway", url=url, token="gw-token", timeout=2)
        campaign = new_campaign(channels=("sms",))
        run_campaign(campaign.id)
        requests = len(gateway.requests)
    row = campaign_row(campaign.id)
    assert row.status == "paused" and "50 consecutive send errors" in row.status_reason
    attempts = sum(d.attempts for d in deliveries_of(campaign.id))
    assert attempts == 50
    if failure == "answers 500":  # (a few of 32 concurrent connections may find the test server's backlog full)
        assert 0 < requests <= 50
    assert statuses(campaign.id) == {"queued": 300}  # every one waits to be retried once resumed


def test_stats_show_deliveries_waiting_to_retry_with_the_next_attempt_time(app, channels):
    from campaigner.campaigns.services import campaign_stats

    make_contacts(3)

    def busy(message, key):
        raise TransientError("gateway busy")

    channels["rec"].behaviour = busy
    campaign = new_campaign()
    start = utcnow()
    run_campaign(campaign.id, now=start)
    with database.connection_context():
        stats = campaign_stats(campaign_row(campaign.id))
    retry_at = min(d.send_after for d in deliveries_of(campaign.id))
    assert (stats["retrying"], stats["queued"], stats["next_retry_at"]) == (3, 0, retry_at)
    assert start + dt.timedelta(seconds=59) <= retry_at <= start + dt.timedelta(seconds=62)


def test_the_sweeper_looks_every_15_seconds_so_a_dead_workers_claim_is_taken_over_within_30(app):
    from campaigner.deliveries import tasks
    from campaigner.deliveries.policy import ENGINE_DEFAULTS
    from campaigner.queue import huey

    huey.flush()
    tasks.sweep_deliveries.call_local()
    etas = sorted(t.eta for t in huey.pending() if t.name.endswith("sweep_soon"))
    gaps = [round((b - a).total_seconds()) for a, b in zip(etas, etas[1:])]
    assert len(etas) == 3 and gaps == [15, 15]
    assert ENGINE_DEFAULTS["lease_seconds"] + tasks.SWEEP_EVERY <= 30
