"""Periodic work of analytics: the daily snapshot of RFM class sizes."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey


@huey.periodic_task(crontab(minute="7"))
def snapshot_rfm_classes():
    """Record today's RFM class and super-user sizes.

    Hourly rather than once a day: periodic tasks don't catch up after a
    stopped worker, and a later snapshot of the same day simply replaces the
    earlier one, so each day keeps its last count.
    """
    from campaigner.analytics.services import snapshot_rfm
    from campaigner.runtime import current_runtime

    today = dt.datetime.now(ZoneInfo(current_runtime().settings["TIMEZONE"])).date()
    with database.connection_context():
        snapshot_rfm(today)
