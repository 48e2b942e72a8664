"""Scheduled audience work: RFM classes every night, tag sizes every hour."""
from __future__ import annotations

import logging

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="20", hour="2"))
def nightly_rfm():
    """Recompute RFM classes and super users from the orders (UTC 02:20, after the day's imports)."""
    return _recompute()


@huey.task()
def run_rfm():
    """Recompute RFM classes and super users soon, on a worker (the page and the CLI run it in place)."""
    return _recompute()


def _recompute() -> int:
    from campaigner.audience.rfm import recompute_rfm

    with database.connection_context():
        report = recompute_rfm()
    log.info("RFM recomputed: %s contacts, %s changed", report["contacts"], report["changed"])
    return report["contacts"]


@huey.periodic_task(crontab(minute="7"))
def hourly_tag_sizes():
    """Recount tag sizes, which order the audience compiler's joins (rarest tag first)."""
    from campaigner.audience.services import refresh_tag_sizes

    with database.connection_context():
        refresh_tag_sizes()
