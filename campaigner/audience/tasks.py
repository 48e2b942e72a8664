"""Audience work on the worker: CSV imports, RFM classes every night, tag sizes every hour, the import sweeper."""
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
    log.debug("RFM recomputed: %s contacts, %s changed", report["contacts"], report["changed"])
    return report["contacts"]


@huey.periodic_task(crontab(minute="7"))
def hourly_tag_sizes():
    """Recount tag sizes, which order the audience compiler's joins (rarest tag first)."""
    from campaigner.audience.services import refresh_tag_sizes

    with database.connection_context():
        refresh_tag_sizes()


@huey.task()
def run_import(job_id: int) -> str | None:
    """Run a queued CSV import (contacts or orders); does nothing if the job is no longer queued."""
    from campaigner.audience.importer import claim_job, run_job
    from campaigner.runtime import current_runtime

    with database.connection_context():
        claim = claim_job(job_id)
        if claim is None:
            return None
        settings = current_runtime().settings
        status = run_job(job_id, claim, timezone=settings.get("TIMEZONE") or "UTC",
                         match_on=settings.get("IMPORT_MATCH_ORDER") or "")
    log.info("import job %s: %s", job_id, status)
    return status


@huey.periodic_task(crontab(minute="*"))
def sweep_imports() -> None:
    """Every minute: fail imports whose worker stopped mid-run, and enqueue again those whose message was lost."""
    from campaigner.audience.importer import sweep_jobs

    with database.connection_context():
        requeue = sweep_jobs()
    for job_id in requeue:
        run_import(job_id)
