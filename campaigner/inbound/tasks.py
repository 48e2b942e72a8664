"""Inbound work on the worker: processing the ledger, and the sweeper that recovers what a killed worker held."""
from __future__ import annotations

import logging
import threading
import time

from huey import crontab

from campaigner.db import database
from campaigner.inbound import services
from campaigner.queue import huey

log = logging.getLogger(__name__)

ENQUEUE_EVERY = 0.2  # seconds: a process queues a processing task at most this often


@huey.task()
def process_inbound() -> int:
    """Process every due inbound event (many queued tasks find nothing left to do and end at once)."""
    with database.connection_context():
        report = services.process_pending()
    if report.claimed:
        log.info("inbound: %d processed, %d to retry, %d failed", report.done, report.retried, report.failed)
    return report.done


@huey.periodic_task(crontab(minute="*"))
def sweep_inbound() -> None:
    """Every minute: release events a stopped worker held, and process whatever is due (retries after back-off)."""
    with database.connection_context():
        released, due = services.sweep_inbound()
    if released or due:
        process_inbound()


_enqueue_lock = threading.Lock()
_last_enqueue = [0.0, 0.0]  # [when a task was last queued, until when a delayed one is pending]


def schedule_processing() -> None:
    """Queue a processing task soon; many callbacks a second share one (a delayed one catches the tail)."""
    now = time.monotonic()
    with _enqueue_lock:
        if now - _last_enqueue[0] >= ENQUEUE_EVERY:
            _last_enqueue[0] = now
            delay = 0.0
        elif _last_enqueue[1] < now:
            _last_enqueue[1] = now + ENQUEUE_EVERY
            delay = ENQUEUE_EVERY
        else:
            return
    try:
        if delay:
            process_inbound.schedule(delay=delay)
        else:
            process_inbound()
    except Exception:  # noqa: BLE001 - the event is stored; the sweeper queues processing if this was lost
        log.warning("could not queue inbound processing; the sweeper will", exc_info=True)
