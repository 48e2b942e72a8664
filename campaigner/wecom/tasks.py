"""WeCom work on the worker: full syncs, their sweeper, and fetching details of customers known only by id."""
from __future__ import annotations

import logging

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey
from campaigner.wecom import sync
from campaigner.wecom.accounts import wecom_accounts
from campaigner.wecom.client import WecomApiError, WecomClient
from campaigner.wecom.details import fetch_missing_details
from campaigner.wecom.models import SyncJob
from campaigner.wecom.tags import is_linked_tag, push_contact_tags

log = logging.getLogger(__name__)


@huey.task()
def run_sync(job_id: int) -> str | None:
    """Run a queued full sync (does nothing when the job is no longer queued)."""
    with database.connection_context():
        job = SyncJob.get_or_none(SyncJob.id == job_id)
        account = wecom_accounts().get(job.account) if job else None
        if job is None or account is None:
            return None
        token = sync.claim_sync(job_id)
        if token is None:
            return None
        status = sync.run_sync(job_id, token, account)
    log.info("WeCom sync %s: %s", job_id, status)
    return status


@huey.periodic_task(crontab(minute="*"))
def sweep_syncs() -> None:
    """Every minute: queue again syncs whose worker stopped, so they resume where they were."""
    with database.connection_context():
        ids = sync.sweep_syncs()
    for job_id in ids:
        run_sync(job_id)


@huey.periodic_task(crontab(minute="*"))
def fetch_details() -> None:
    """Every minute: read WeCom's details (name, unionid) of customers that callbacks named only by id."""
    with database.connection_context():
        for account in wecom_accounts().values():
            try:
                fetch_missing_details(account, WecomClient(account))
            except WecomApiError as exc:
                log.warning("WeCom %s: customer details not fetched: %s", account.name, exc)


@huey.task(retries=3, retry_delay=30)
def push_tag_change(contact_id: int, added: list[str], removed: list[str]) -> int:
    """Mark a contact's local tag change in WeCom, for every account whose tag groups it touches."""
    with database.connection_context():
        calls = 0
        for account in wecom_accounts().values():
            if account.tag_groups:
                calls += push_contact_tags(account, contact_id, added, removed)
    return calls


def announce_tag_change(event) -> None:
    """A `contact_event` listener: queue the WeCom side of a local tag change (WeCom's own are skipped)."""
    if event.kind not in ("tag_added", "tag_removed") or str(event.source or "").startswith("wecom:"):
        return
    tag = (event.details or {}).get("tag")
    if not tag or ":" not in tag or not is_linked_tag(tag):
        return  # only tags linked to a WeCom corp tag go to WeCom (interest tags from clicks, … stay here)
    push_tag_change(event.contact_id, [tag] if event.kind == "tag_added" else [],
                    [tag] if event.kind == "tag_removed" else [])
