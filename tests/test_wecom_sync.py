"""The full WeCom sync against the fake WeCom: staff, customers and groups, resumable, idempotent, retried."""
from __future__ import annotations

from campaigner.audience.models import Contact
from campaigner.db import database
from campaigner.wecom import sync
from campaigner.wecom.accounts import wecom_account
from campaigner.wecom.models import ChatGroup, ContactOwner, GroupMember, Staff, SyncJob, WecomCustomer
from tests.fixtures_plugins import configure_channel  # noqa: F401
from tests.fixtures_wecom import fake_wecom, populate, wecom  # noqa: F401


def _run(account="main", sleep=lambda s: None):
    with database.connection_context():
        job = sync.start_sync(account)
        token = sync.claim_sync(job.id)
        status = sync.run_sync(job.id, token, wecom_account(account), sleep=sleep)
        return status, SyncJob.get_by_id(job.id)


def _snapshot():
    with database.connection_context():
        return {
            "staff": sorted(Staff.select(Staff.userid, Staff.name, Staff.active).tuples()),
            "customers": sorted(WecomCustomer.select(WecomCustomer.external_userid, WecomCustomer.name,
                                                     WecomCustomer.unionid, WecomCustomer.contact,
                                                     WecomCustomer.updated_at).tuples()),
            "owners": sorted(ContactOwner.select(ContactOwner.contact, ContactOwner.staff, ContactOwner.added_at,
                                                 ContactOwner.state, ContactOwner.remark, ContactOwner.updated_at)
                             .tuples()),
            "groups": sorted(ChatGroup.select(ChatGroup.chat_id, ChatGroup.name, ChatGroup.owner, ChatGroup.notice,
                                              ChatGroup.member_count, ChatGroup.updated_at).tuples()),
            "members": sorted(GroupMember.select(GroupMember.group, GroupMember.member_id, GroupMember.member_type,
                                                 GroupMember.joined_at, GroupMember.left_at).tuples()),
            "contacts": Contact.select().count(),
        }


def test_full_sync_of_3_staff_1000_customers_20_groups_and_a_second_sync_changes_nothing(wecom):
    populate(wecom, staff=3, customers=1000, groups=20)
    status, job = _run()
    assert status == "done", job.message
    assert job.counts["staff"] == 3 and job.counts["groups"] == 20
    assert job.counts["customers"] == 1100  # 1,000 customers, a tenth with a second staff account
    first = _snapshot()
    assert len(first["staff"]) == 3 and all(active for _, _, active in first["staff"])
    assert len(first["customers"]) == 1000 and first["contacts"] == 1000
    assert len(first["owners"]) == 1100
    assert len(first["groups"]) == 20 and all(g[4] == 11 for g in first["groups"])  # 10 customers + the owner
    assert len(first["members"]) == 220
    with database.connection_context():
        kinds = {t for (t,) in GroupMember.select(GroupMember.member_type).tuples()}
        assert kinds == {"staff", "customer"}
        assert Staff.get(Staff.userid == "staff1").name == "员工1"
        owner = ContactOwner.select().join(Staff).where(Staff.userid == "staff0").order_by(ContactOwner.id).first()
        assert owner.state == "code0" and owner.remark == "r0"
    # Customers are read 100 a page with WeCom's cursor; staff in one batch.
    pages = wecom.calls_to("externalcontact/batch/get_by_user")
    assert len(pages) == 11 and pages[0].body["cursor"] == "" and pages[1].body["cursor"]

    status, second = _run()
    assert status == "done" and second.counts["changed"] == 0
    assert _snapshot() == first


def test_a_sync_retries_the_rate_limit_with_back_off_and_refetches_an_expired_token(wecom):
    populate(wecom, staff=2, customers=150, groups=2)
    waits = []
    wecom.fail_next(3, errcode=45009)  # the first three API calls hit WeCom's rate limit
    status, job = _run(sleep=waits.append)
    assert status == "done", job.message
    assert waits == [0.5, 1.0, 2.0]  # exponential back-off
    fetches = wecom.token_fetches
    assert fetches == 1  # one token for the whole sync
    wecom.expire_tokens()
    wecom.add_customer("wm-new", "新客户", staff="staff0")
    status, job = _run()
    assert status == "done" and job.counts["changed"] >= 1
    assert wecom.token_fetches == fetches + 1  # 42001: one new token, and the call retried with it
    with database.connection_context():
        assert WecomCustomer.get(WecomCustomer.external_userid == "wm-new").name == "新客户"


def test_a_failed_sync_resumes_from_its_last_page(wecom):
    populate(wecom, staff=1, customers=350, groups=1)
    wecom.fail_next(0)
    calls = {"n": 0}

    def sleep(seconds):
        calls["n"] += 1

    # Permanent error on the third customer page: the job fails with its resume point kept.
    original = wecom._batch_get_by_user

    def third_page_fails(params, body):
        if len(wecom.calls_to("externalcontact/batch/get_by_user")) == 3:
            return wecom._error(60111)
        return original(params, body)

    wecom._batch_get_by_user = third_page_fails
    from campaigner.testing_wecom import ROUTES

    ROUTES["externalcontact/batch/get_by_user"] = lambda self, p, b: self._batch_get_by_user(p, b)
    try:
        status, job = _run(sleep=sleep)
        assert status == "failed" and "60111" in job.message
        assert job.resume["stage"] == "customers" and job.resume["cursor"]
        assert job.counts["customers"] == 200
        wecom._batch_get_by_user = original
        with database.connection_context():
            assert sync.resume_sync(job)
            token = sync.claim_sync(job.id)
            assert sync.run_sync(job.id, token, wecom_account("main")) == "done"
            job = SyncJob.get_by_id(job.id)
            assert WecomCustomer.select().count() == 350
        pages = [c.body["cursor"] for c in wecom.calls_to("externalcontact/batch/get_by_user")]
        # Resumed at the page that failed, not from the first.
        assert pages[3] == pages[2] and pages.count("") == 1
    finally:
        ROUTES["externalcontact/batch/get_by_user"] = type(wecom)._batch_get_by_user


def test_a_sync_whose_worker_stopped_is_queued_again_by_the_sweeper(wecom):
    import datetime as dt

    with database.connection_context():
        job = sync.start_sync("main")
        assert sync.claim_sync(job.id)
        SyncJob.update(heartbeat_at=dt.datetime(2020, 1, 1), resume={"stage": "groups", "staff": []}).where(
            SyncJob.id == job.id).execute()
        assert sync.sweep_syncs() == [job.id]
        assert SyncJob.get_by_id(job.id).status == "queued"
        assert sync.start_sync("main").id == job.id  # one sync at a time per account


def test_corp_tags_sync_both_ways_through_a_mapped_tag_group(app, wecom, configure_channel):
    from campaigner.audience.models import ContactTag, Tag
    from campaigner.audience.services import add_tags, contact_tag_keys, remove_tags
    from campaigner.queue import huey

    configure_channel("wecom", **wecom.channel_config("main"), tag_groups="客户等级")
    wecom.add_tag_group("grpL", "客户等级", [("etVIP", "VIP"), ("etNEW", "新客")])
    wecom.add_tag_group("grpX", "内部", [("etX", "测试")])
    wecom.add_staff("zhangsan", "张三")
    wecom.add_customer("wmT1", "王芳", staff="zhangsan", tag_ids=["etNEW", "etX"])
    status, job = _run()
    assert status == "done", job.message
    with database.connection_context():
        customer = WecomCustomer.get(WecomCustomer.external_userid == "wmT1")
        # WeCom -> here: the mapped group's tags only.
        assert contact_tag_keys(customer.contact_id) == ["客户等级:新客"]
        assert not Tag.select().where(Tag.key == "内部:测试").exists()
        huey.flush()  # WeCom's own changes are not pushed back
        # Here -> WeCom: a tag of the mapped group added and one removed in Campaigner.
        add_tags(customer.contact_id, ["客户等级:VIP", "interest:coffee"], source="ui")
        remove_tags(customer.contact_id, ["客户等级:新客"], source="ui")
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
    assert wecom.customers["wmT1"].follow["zhangsan"]["tag_id"] == ["etX", "etVIP"]
    marks = wecom.calls_to("externalcontact/mark_tag")
    assert [(m.body["add_tag"], m.body["remove_tag"]) for m in marks] == [(["etVIP"], []), ([], ["etNEW"])]
    # A second sync agrees and changes nothing.
    status, job = _run()
    assert status == "done" and job.counts["changed"] == 0
    with database.connection_context():
        assert ContactTag.select().where(ContactTag.contact == customer.contact_id).count() == 2


def test_a_sync_ends_what_wecom_no_longer_has(wecom):
    populate(wecom, staff=2, customers=20, groups=3, per_group=4)
    assert _run()[0] == "done"
    # Removed in WeCom while no callback reached us: a relationship and a group.
    wecom.remove_follow("wm00003", "staff1")
    del wecom.groups["wr0002"]
    status, job = _run()
    assert status == "done" and job.counts["changed"] == 2
    with database.connection_context():
        gone = ContactOwner.select().join(WecomCustomer, on=(WecomCustomer.contact == ContactOwner.contact)).where(
            WecomCustomer.external_userid == "wm00003").get()
        assert gone.removed_by == "sync" and gone.removed_at is not None
        assert ContactOwner.select().where(ContactOwner.removed_at.is_null()).count() == 21
        assert ChatGroup.get(ChatGroup.chat_id == "wr0002").dismissed_at is not None
        assert ChatGroup.select().where(ChatGroup.dismissed_at.is_null()).count() == 2
    assert _run()[1].counts["changed"] == 0
