"""The WeCom pages: staff with adds and losses, groups with size warnings and joins/leaves, the sync's progress."""
from __future__ import annotations

from campaigner.db import database, utcnow
from campaigner.wecom import services
from campaigner.wecom.models import ChatGroup, Staff, SyncJob
from tests.fixtures_plugins import configure_channel  # noqa: F401
from tests.fixtures_wecom import fake_wecom, populate, wecom  # noqa: F401


def _seed():
    with database.connection_context():
        zhang, _ = services.upsert_staff("main", "zhangsan", name="张三")
        for n in range(3):
            customer, _ = services.customer_for("main", f"wm{n}", name=f"<script>客户{n}</script>", details=True)
            services.open_owner(customer, zhang, state="spring", announce=True)
        services.close_owner(customer, zhang, removed_by="customer")
        small = {"chat_id": "wrS", "name": "小群", "owner": "zhangsan", "create_time": 1_700_000_000,
                 "member_list": [{"userid": "zhangsan", "type": 1}, {"userid": "wm0", "type": 2}]}
        services.apply_group("main", small)
        group = ChatGroup.get(ChatGroup.chat_id == "wrS")
        services.leave_group(group, "wm0", announce=True)
        services.refresh_member_count(group)
        return Staff.get(Staff.userid == "zhangsan"), group


def test_the_staff_page_shows_customers_adds_and_losses(app, login_as):
    staff, _group = _seed()
    editor = login_as("editor")
    page = editor.get("/wecom/").get_data(as_text=True)
    assert "张三" in page
    detail = editor.get(f"/wecom/staff/{staff.id}").get_data(as_text=True)
    assert "2 customers now · 3 added, 1 lost" in detail
    assert "&lt;script&gt;客户0&lt;/script&gt;" in detail and "<script>客户" not in detail
    assert "the customer (deleted this account)" in detail


def test_group_pages_warn_outside_the_healthy_size_and_show_who_left(app, login_as):
    _staff, group = _seed()
    editor = login_as("editor")
    listing = editor.get("/wecom/groups").get_data(as_text=True)
    assert "小群" in listing and "too small" in listing
    page = editor.get(f"/wecom/groups/{group.id}").get_data(as_text=True)
    assert "Fewer than 80 members" in page and "<svg" in page
    assert "Left" in page and "wm0" in page
    with database.connection_context():
        ChatGroup.update(member_count=350).where(ChatGroup.id == group.id).execute()
    assert "More than 300 members" in editor.get(f"/wecom/groups/{group.id}").get_data(as_text=True)
    with database.connection_context():
        ChatGroup.update(member_count=120).where(ChatGroup.id == group.id).execute()
    page = editor.get(f"/wecom/groups/{group.id}").get_data(as_text=True)
    assert "Fewer than" not in page and "More than" not in page


def test_ops_start_a_sync_and_the_page_polls_its_progress(app, wecom, login_as):
    from campaigner.queue import huey

    populate(wecom, staff=2, customers=30, groups=2, per_group=5)
    ops = login_as("ops")
    assert login_as("editor").post("/wecom/sync", data={"account": "main"}).status_code == 403
    assert ops.post("/wecom/sync", data={"account": "nosuch"}).status_code == 400
    assert ops.post("/wecom/sync", data={"account": "main"}).status_code == 302
    page = ops.get("/wecom/sync").get_data(as_text=True)
    assert "hx-trigger=\"every 2s\"" in page and "queued" in page
    huey.execute(huey.dequeue())  # the worker runs the queued sync
    with database.connection_context():
        job = SyncJob.get()
        assert job.status == "done" and job.counts["customers"] == 33  # 30 customers, 3 of them with a second staff account
    fragment = ops.get("/wecom/sync", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "every 2s" not in fragment and ">33<" in fragment


def test_wecom_pages_in_chinese(app, login_as):
    staff, group = _seed()
    editor = login_as("editor")
    editor.set_cookie("locale", "zh_CN")
    page = editor.get(f"/wecom/groups/{group.id}").get_data(as_text=True)
    assert "成员少于 80 人" in page and "每日入群与退群" in page
    assert "当前 2 位客户" in editor.get(f"/wecom/staff/{staff.id}").get_data(as_text=True)
