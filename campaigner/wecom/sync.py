"""The full sync of a WeCom account as a worker job: corp tags, staff, their customers, groups.

Like a CSV import, a sync is a job row the page polls: queued -> running -> done | failed, with a
claim token, a heartbeat and counts as it goes. It is resumable: after each page it stores where
it is (`SyncJob.resume`: the stage, the staff chunk, WeCom's cursor), so a run that died (the
sweeper queues it again once its heartbeat is stale) or failed continues from there instead of
starting over. WeCom's rate limit (45009) and other transient errors are retried in place with
exponential back-off; a job that still fails keeps its resume point for the next run.

Every change goes through `campaigner.wecom.services`, which write only what differs, so a second
sync of an unchanged account changes nothing (``counts["changed"] == 0``). What WeCom no longer has
ends here too — a relationship not listed for its staff account (``removed_by`` "sync": a removal
whose callback never came), a group not listed (dismissed) — when the list was read whole in one run. A sync announces no
contact events: it reconciles; callbacks report what happens as it happens.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

from campaigner.audit import record_audit
from campaigner.db import database, utcnow
from campaigner.wecom import services
from campaigner.wecom.accounts import WecomAccount
from campaigner.wecom.client import WecomApiError, WecomClient
from campaigner.wecom.models import SyncJob

log = logging.getLogger(__name__)

STAGES = ("tags", "staff", "customers", "groups")
STAFF_CHUNK = 100  # batch/get_by_user takes at most 100 userids
PAGE = 100  # customers per batch/get_by_user page (WeCom's maximum)
GROUP_PAGE = 100
RETRIES = 6
BACKOFF = 0.5  # seconds, doubled at each retry
STALE = dt.timedelta(minutes=2)  # a running sync silent this long has lost its worker
MAX_RUNS = 5  # a job that loses its worker this often fails
WORKER_LOST = "the worker running this sync stopped too often"


class SyncLost(Exception):
    """The job was taken from this run (the sweeper re-queued it): stop writing."""


def start_sync(account: str, user=None) -> SyncJob:
    """Queue a full sync of `account` (the running one when there is one)."""
    running = (SyncJob.select().where(SyncJob.account == account, SyncJob.status.in_(("queued", "running")))
               .order_by(SyncJob.id.desc()).first())
    if running is not None:
        return running
    job = SyncJob.create(account=account, status="queued", heartbeat_at=utcnow(), created_by=user,
                         counts={"staff": 0, "customers": 0, "groups": 0, "tags": 0, "changed": 0})
    record_audit(user, "sync_started", job, summary=f"WeCom full sync of {account}")
    return job


def resume_sync(job: SyncJob, user=None) -> bool:
    """Queue a failed sync again, from where it stopped."""
    resumed = (SyncJob.update(status="queued", message="", heartbeat_at=utcnow(), attempts=0)
               .where(SyncJob.id == job.id, SyncJob.status == "failed").execute())
    if resumed:
        record_audit(user, "sync_resumed", job, summary=f"WeCom full sync of {job.account} resumed")
    return bool(resumed)


def claim_sync(job_id: int) -> str | None:
    token = uuid.uuid4().hex
    taken = (SyncJob.update(status="running", claim=token, heartbeat_at=utcnow(), attempts=SyncJob.attempts + 1)
             .where(SyncJob.id == job_id, SyncJob.status == "queued").execute())
    return token if taken else None


class SyncRun:
    """One run of a claimed sync job."""

    def __init__(self, job: SyncJob, token: str, client: WecomClient, *, sleep=time.sleep):
        self.job, self.token, self.client = job, token, client
        self.account = job.account
        self.resume = dict(job.resume or {})
        self.counts = {"staff": 0, "customers": 0, "groups": 0, "tags": 0, "changed": 0, **(job.counts or {})}
        self.sleep = sleep
        self.links: dict[str, int] | None = None

    # -- bookkeeping

    def save(self, **values) -> None:
        """Store progress and the resume point (the heartbeat); raise SyncLost when the job is no longer ours."""
        if not (SyncJob.update(resume=self.resume, counts=self.counts, heartbeat_at=utcnow(), **values)
                .where(SyncJob.id == self.job.id, SyncJob.claim == self.token, SyncJob.status == "running")
                .execute()):
            raise SyncLost(self.job.id)

    def call(self, fn, *args, **kwargs):
        """A WeCom call, retried with exponential back-off while WeCom answers a transient error."""
        for attempt in range(RETRIES):
            try:
                return fn(*args, **kwargs)
            except WecomApiError as exc:
                if not exc.transient or attempt == RETRIES - 1:
                    raise
                log.info("WeCom %s: %s; retrying in %.1f s", self.account, exc, BACKOFF * 2 ** attempt)
                self.save()  # a heartbeat while waiting
                self.sleep(BACKOFF * 2 ** attempt)
        raise AssertionError("unreachable")

    # -- stages

    def run(self, tag_groups: tuple[str, ...]) -> None:
        self.tag_groups = tag_groups
        start = STAGES.index(self.resume.get("stage", STAGES[0]))
        for stage in STAGES[start:]:
            if self.resume.get("stage") != stage:  # a new stage starts at its beginning; the staff list stays
                self.resume = {"stage": stage, "staff": self.resume.get("staff") or []}
            self.save(stage=stage)
            getattr(self, f"sync_{stage}")()
        self.resume = {"stage": "done"}
        self.save(status="done", claim="", finished_at=utcnow(), stage="done")

    def sync_tags(self) -> None:
        tag_groups = self.tag_groups
        if not tag_groups:
            return
        result = self.call(self.client.external_contact.get_corp_tag_list)
        with database.atomic():
            changed = services.apply_corp_tags(self.account, result.get("tag_group") or [], tag_groups)
        self.counts["tags"] = sum(len(g.get("tag") or []) for g in result.get("tag_group") or []
                                  if g.get("group_name") in tag_groups)
        self.counts["changed"] += changed

    def sync_staff(self) -> None:
        userids = self.call(self.client.external_contact.get_follow_user_list).get("follow_user") or []
        changed = 0
        for userid in userids:
            try:
                user = self.call(self.client.user.get, userid)
            except WecomApiError as exc:
                # A member gone since the list was read (60111), or a secret that may not read members
                # (the customer-contact secret often can't): keep the id, without name and department.
                if exc.transient:
                    raise
                user = {}
            with database.atomic():
                changed += services.upsert_staff(self.account, userid, name=user.get("name") or userid,
                                                 department=user.get("department") or [], active=True)[1]
        with database.atomic():
            changed += services.deactivate_missing_staff(self.account, set(userids))
        self.counts["staff"] = len(userids)
        self.counts["changed"] += changed
        self.resume["staff"] = sorted(userids)
        self.save()

    def sync_customers(self) -> None:
        userids = self.resume.get("staff") or sorted(
            s.userid for s in services.Staff.select().where(services.Staff.account == self.account,
                                                             services.Staff.active == True))  # noqa: E712
        self.resume["staff"] = userids
        chunk = self.resume.get("chunk", 0)
        while chunk * STAFF_CHUNK < len(userids):
            batch = userids[chunk * STAFF_CHUNK:(chunk + 1) * STAFF_CHUNK]
            cursor = self.resume.get("cursor", "")
            # What WeCom lists for these staff accounts; a chunk read whole (not resumed midway) also ends
            # the relationships WeCom no longer has (a removal whose callback never came).
            seen: set[tuple[int, int]] | None = set() if not cursor else None
            while True:
                page = self.call(self.client.batch_get_by_user, batch, cursor=cursor, limit=PAGE)
                with database.atomic():
                    for item in page.get("external_contact_list") or []:
                        self.counts["changed"] += self.apply_customer(item, seen)
                        self.counts["customers"] += 1
                cursor = page.get("next_cursor") or ""
                self.resume["cursor"] = cursor
                self.save()
                if not cursor:
                    break
            if seen is not None:
                with database.atomic():
                    self.counts["changed"] += services.close_missing_owners(self.account, batch, seen)
            chunk += 1
            self.resume.update(chunk=chunk, cursor="")
            self.save()

    def apply_customer(self, item: dict, seen: set | None = None) -> int:
        contact, follow = item.get("external_contact") or {}, item.get("follow_info") or {}
        customer, changed = services.customer_for(
            self.account, contact["external_userid"], name=contact.get("name") or "", unionid=contact.get("unionid"),
            type=contact.get("type"), corp_name=contact.get("corp_name"), mobiles=follow.get("remark_mobiles") or (),
            details=True)
        staff, staff_changed = services.upsert_staff(self.account, follow["userid"])
        owner_changed = services.open_owner(customer, staff, added_at=services.from_timestamp(follow.get("createtime")),
                                            add_way=follow.get("add_way"), state=follow.get("state") or "",
                                            remark=follow.get("remark") or "")
        if self.links is None:  # read once a run: the tags stage before this one linked them
            self.links = services.tag_links(self.account)
        tags_changed = services.apply_customer_tags(self.account, customer, follow.get("tag_id") or [], self.links)
        if seen is not None:
            seen.add((customer.contact_id, staff.id))
        return int(changed) + int(staff_changed) + int(owner_changed) + int(tags_changed)

    def sync_groups(self) -> None:
        cursor = self.resume.get("cursor", "")
        # A list read whole (not resumed midway) also ends the groups WeCom no longer lists (dismissed).
        seen: set[str] | None = set() if not cursor else None
        while True:
            page = self.call(self.client.external_contact_group_chat.list, cursor=cursor or None, limit=GROUP_PAGE)
            for chat in page.get("group_chat_list") or []:
                detail = self.call(self.client.external_contact_group_chat.get, chat["chat_id"])["group_chat"]
                with database.atomic():
                    self.counts["changed"] += services.apply_group(self.account, detail)
                self.counts["groups"] += 1
                if seen is not None:
                    seen.add(chat["chat_id"])
            cursor = page.get("next_cursor") or ""
            self.resume["cursor"] = cursor
            self.save()
            if not cursor:
                break
        if seen is not None:
            with database.atomic():
                self.counts["changed"] += services.dismiss_missing_groups(self.account, seen)


def run_sync(job_id: int, token: str, account: WecomAccount, *, client: WecomClient | None = None,
             sleep=time.sleep) -> str:
    """Run a claimed sync and record its outcome; return the job's status afterwards."""
    job = SyncJob.get_by_id(job_id)
    run = SyncRun(job, token, client or WecomClient(account), sleep=sleep)
    try:
        run.run(account.tag_groups)
    except SyncLost:
        log.warning("WeCom sync %s was taken from this run", job_id)
    except WecomApiError as exc:
        _fail(job_id, token, str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded on the job for the page, and logged with its traceback
        log.exception("WeCom sync %s failed", job_id)
        _fail(job_id, token, f"{type(exc).__name__}: {exc}")
    else:
        record_audit(None, "synced", object_type="syncjob", object_id=job_id,
                     summary=f"WeCom {account.name}: {run.counts}")
    return SyncJob.get_by_id(job_id).status


def _fail(job_id: int, token: str, message: str) -> None:
    (SyncJob.update(status="failed", claim="", message=message[:2000], finished_at=utcnow())
     .where(SyncJob.id == job_id, SyncJob.claim == token).execute())


def sweep_syncs(now: dt.datetime | None = None) -> list[int]:
    """Queue again syncs whose worker stopped (they resume where they were); return the ids to enqueue."""
    now = now or utcnow()
    silent = (SyncJob.heartbeat_at.is_null() | (SyncJob.heartbeat_at < now - STALE))
    requeue = []
    for job in SyncJob.select().where(SyncJob.status.in_(("running", "queued")), silent):
        if job.status == "running" and job.attempts >= MAX_RUNS:
            SyncJob.update(status="failed", claim="", message=WORKER_LOST, finished_at=now).where(
                SyncJob.id == job.id, SyncJob.status == "running").execute()
            continue
        if SyncJob.update(status="queued", claim="", heartbeat_at=now).where(
                SyncJob.id == job.id, SyncJob.status == job.status, silent).execute():
            requeue.append(job.id)
    return requeue
