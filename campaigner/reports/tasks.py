"""Report work on the worker: fan tiers and lifecycle stages every night, after RFM (02:20 UTC)."""
from __future__ import annotations

import logging

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey
from campaigner.reports.fan_tiers import recompute_tiers
from campaigner.reports.lifecycle import recompute_stages

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="35", hour="2"))
def nightly_tiers_and_lifecycle():
    """Recompute fan tiers and lifecycle stages (their tags and today's sizes)."""
    with database.connection_context():
        tiers, stages = recompute_tiers(), recompute_stages()
    log.info("fan tiers %s; lifecycle stages %s", tiers, stages)
    return {"tiers": tiers, "stages": stages}
