"""Huey tasks of the delivery engine: only triggers; what to do is read from the database.

* `dispatch_campaign` is enqueued with an eta a little before a campaign's
  send time; it waits out the rest on a timer in the worker (Huey's scheduler
  only looks once a second and SqliteHuey polls), starts the campaign, fans it
  out, sends the first batch itself and starts the send chains.
* `send_campaign_batches` sends one batch and enqueues itself again (now, or
  with an eta when the next delivery is due later): a chain. A campaign runs
  `parallel_batches` chains; a lost chain is revived by the sweeper.
* `sweep_deliveries` runs every minute and when a worker starts. A worker
  that starts may be replacing one that was killed mid-batch, so that first
  sweep also schedules one more for the moment the last lease then held
  expires: the killed batch is recovered in seconds, not at the next minute.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading

from huey import crontab

from campaigner.db import database, utcnow
from campaigner.queue import huey

log = logging.getLogger(__name__)

EARLY = dt.timedelta(seconds=1.5)  # eta tasks fire this early and wait the rest on a precise timer


def enqueue_dispatch(campaign_id: int, send_at: dt.datetime | None) -> None:
    """Arrange for a scheduled campaign to start at `send_at` (naive UTC)."""
    eta = (send_at - EARLY) if send_at else None
    if eta is None or eta <= utcnow():
        dispatch_campaign(campaign_id)
    else:
        dispatch_campaign.schedule(args=(campaign_id,), eta=eta)


def enqueue_pumps(campaign_id: int, chains: int | None = None) -> None:
    """Start `chains` send chains for a running campaign (default: the engine's parallel_batches)."""
    if chains is None:
        from campaigner.deliveries.policy import engine_settings

        chains = engine_settings()["parallel_batches"]
    for _ in range(max(1, chains)):
        send_campaign_batches(campaign_id)


def _continue_chain(campaign_id: int, when: dt.datetime | None) -> None:
    if when is None:
        return
    if when <= utcnow():
        send_campaign_batches(campaign_id)
    else:
        send_campaign_batches.schedule(args=(campaign_id,), eta=when)


@huey.task()
def dispatch_campaign(campaign_id: int) -> None:
    """Start a scheduled campaign when its time comes (does nothing if it was moved, paused or cancelled)."""
    from campaigner.campaigns.models import Campaign

    with database.connection_context():
        campaign = Campaign.get_or_none(Campaign.id == campaign_id)
        if campaign is None or campaign.status != "scheduled" or campaign.send_at is None:
            return
        wait = (campaign.send_at - utcnow()).total_seconds()
    if wait > EARLY.total_seconds() + 1:
        return  # rescheduled later: the task enqueued then will come
    if wait > 0:
        timer = threading.Timer(wait, _dispatch_now, args=(campaign_id,))
        timer.daemon = True
        timer.start()
        return
    _dispatch_now(campaign_id)


def _dispatch_now(campaign_id: int) -> None:
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import spawn_run
    from campaigner.deliveries import engine

    try:
        with database.connection_context():
            campaign = Campaign.get_or_none(Campaign.id == campaign_id)
            if campaign is None:
                return
            now = utcnow()
            if campaign.status == "scheduled" and campaign.cron and campaign.parent_id is None:
                if campaign.send_at and campaign.send_at <= now + dt.timedelta(seconds=1):
                    run = spawn_run(campaign, now)
                    enqueue_dispatch(campaign.id, campaign.send_at)
                    if run is not None:
                        _first_batch(run.id)
                return
            if not engine.start(campaign_id, now):
                return
            _first_batch(campaign_id)
    except Exception:  # noqa: BLE001 - in a timer thread nobody else would log it; the sweeper retries
        log.exception("dispatching campaign %s failed", campaign_id)


def _first_batch(campaign_id: int) -> None:
    """Fan out and send the first batch right here (the time-critical part), then start the chains."""
    from campaigner.deliveries import engine
    from campaigner.deliveries.policy import engine_settings

    when = engine.pump(campaign_id)
    if when is None:
        return
    chains = engine_settings()["parallel_batches"]
    if when <= utcnow():
        enqueue_pumps(campaign_id, chains)
    else:
        _continue_chain(campaign_id, when)


CHAIN_SLICE = 2.0  # seconds of batches one task sends before handing over to the queue again


@huey.task()
def send_campaign_batches(campaign_id: int) -> None:
    """Send batches of a running campaign for a couple of seconds, then enqueue the next (a chain).

    Each batch re-reads the campaign before every group it hands over, so a
    pause stops the chain within a group; handing over to the queue every
    couple of seconds lets other campaigns' chains take turns on the worker threads.
    """
    import time

    from campaigner.deliveries import engine

    started = time.monotonic()
    with database.connection_context():
        while True:
            when = engine.pump(campaign_id)
            if when is None or when > utcnow() or time.monotonic() - started > CHAIN_SLICE:
                break
    _continue_chain(campaign_id, when)


@huey.task()
def sweep_soon() -> None:
    """A sweep at a precise moment (a lease expiring), outside the minute grid."""
    _sweep()


SWEEP_EVERY = 15  # seconds: a dead worker's claim is taken over within its lease and this


@huey.periodic_task(crontab(minute="*"))
def sweep_deliveries() -> None:
    """Every minute, and every SWEEP_EVERY seconds in between: start what is due, recover expired leases,
    revive campaigns without a send chain."""
    _sweep()
    # Huey's periodic tasks run on the minute grid; the sweeps between are eta tasks. One lost with a
    # killed worker costs at most a minute, when the next periodic sweep schedules them again.
    start = utcnow()
    for offset in range(SWEEP_EVERY, 60, SWEEP_EVERY):
        sweep_soon.schedule(eta=start + dt.timedelta(seconds=offset))


def _sweep(revive_all: bool = False, follow_up: bool = False) -> None:
    from campaigner.deliveries import engine

    with database.connection_context():
        report = engine.sweep(revive_all=revive_all)
    for campaign_id in report.dispatch:
        dispatch_campaign(campaign_id)
    for campaign_id in report.pump:
        send_campaign_batches(campaign_id)
    if follow_up and report.last_lease_expiry is not None:
        sweep_soon.schedule(eta=report.last_lease_expiry + dt.timedelta(seconds=0.5))
    if report.recovered:
        log.warning("recovered %d deliveries whose worker stopped mid-send", report.recovered)


_started = threading.Lock()
_startup_done = False


@huey.on_startup()
def sweep_on_start() -> None:
    """A worker that starts may be replacing one that was killed: recover and revive at once."""
    global _startup_done
    with _started:
        if _startup_done:
            return  # once per process, not once per worker thread
        _startup_done = True
    try:
        _sweep(revive_all=True, follow_up=True)
    except Exception:  # noqa: BLE001 - the periodic sweep tries again
        log.exception("sweep at worker start failed")
