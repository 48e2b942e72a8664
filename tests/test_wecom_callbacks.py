"""WeCom callbacks: verified before stored, stored before acknowledged, each kind applied to the model once."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from campaigner.db import database
from campaigner.events.models import Event
from campaigner.inbound.models import InboundEvent
from campaigner.wecom.models import ChatGroup, ContactOwner, GroupMember, Staff, WecomCustomer
from tests.fixtures_plugins import configure_channel  # noqa: F401
from tests.fixtures_wecom import fake_wecom, post_callback, process_inbound, wecom  # noqa: F401


def _events(kind=None):
    with database.connection_context():
        query = Event.select().order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return list(query)


def _ledger():
    with database.connection_context():
        return list(InboundEvent.select().order_by(InboundEvent.id))


def test_wecom_url_verification_answers_the_decrypted_echostr(client, wecom, post_callback):
    sender = post_callback.sender
    nonce, stamp = "n1", str(int(time.time()))
    import xmltodict

    envelope = xmltodict.parse(sender.crypto.encrypt_message("echo-9876", nonce, stamp))["xml"]
    args = {"msg_signature": envelope["MsgSignature"], "timestamp": stamp, "nonce": nonce, "echostr": envelope["Encrypt"]}
    response = client.get(f"/hooks/wecom/main?{urlencode(args)}")
    assert response.status_code == 200 and response.get_data(as_text=True) == "echo-9876"
    args["msg_signature"] = "0" * 40
    assert client.get(f"/hooks/wecom/main?{urlencode(args)}").status_code == 403
    assert _ledger() == []


def test_a_customer_adding_a_staff_account_is_stored_then_acknowledged_then_processed(client, wecom, post_callback):
    fields = post_callback.sender.add_external_contact("zhangsan", "wmA1", state="spring-code", welcome_code="WC1")
    response = post_callback(fields)
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    [row] = _ledger()
    assert (row.provider, row.account, row.kind, row.status) == ("wecom", "main", "change_external_contact:add_external_contact", "pending")
    assert row.payload["State"] == "spring-code" and row.payload["WelcomeCode"] == "WC1"
    report = process_inbound()
    assert report.done == 1
    with database.connection_context():
        # Unknown staff and customer: created, never dropped.
        staff = Staff.get(Staff.userid == "zhangsan")
        customer = WecomCustomer.get(WecomCustomer.external_userid == "wmA1")
        owner = ContactOwner.get(ContactOwner.contact == customer.contact_id)
        assert owner.staff_id == staff.id and owner.state == "spring-code" and owner.removed_at is None
        assert InboundEvent.get_by_id(row.id).status == "done"
    [joined] = _events("joined")
    assert joined.contact_id == customer.contact_id and joined.staff == "zhangsan"
    assert joined.details["state"] == "spring-code" and joined.details["welcome_code"] == "WC1"


def test_the_same_callback_delivered_three_times_is_processed_once(client, wecom, post_callback):
    fields = post_callback.sender.add_external_contact("lisi", "wmB2", state="s")
    for _ in range(3):  # WeCom retries, each time encrypted with a new nonce
        assert post_callback(fields).status_code == 200
    assert len(_ledger()) == 1
    process_inbound()
    for _ in range(2):  # a retry after processing is still the same event
        assert post_callback(fields).status_code == 200
    assert process_inbound().claimed == 0
    assert len(_events("joined")) == 1
    with database.connection_context():
        assert ContactOwner.select().count() == 1


def test_deleting_and_being_deleted_end_the_relationship_with_who_removed_whom(client, wecom, post_callback):
    sender = post_callback.sender
    post_callback(sender.add_external_contact("wangwu", "wmC3"))
    post_callback(sender.add_external_contact("zhaoliu", "wmC3"))
    post_callback(sender.event("change_external_contact", "del_follow_user", UserID="wangwu", ExternalUserID="wmC3"))
    post_callback(sender.event("change_external_contact", "del_external_contact", UserID="zhaoliu",
                               ExternalUserID="wmC3", Source="DELETE_BY_TRANSFER"))
    process_inbound()
    with database.connection_context():
        rows = {o.staff.userid: o for o in ContactOwner.select().join(Staff)}
        assert rows["wangwu"].removed_by == "customer" and rows["wangwu"].removed_at is not None  # churn
        assert rows["zhaoliu"].removed_by == "transfer"
    left = _events("left")
    assert [e.details["removed_by"] for e in left] == ["customer", "transfer"]
    # Re-adding opens a new relationship; the history stays.
    post_callback(sender.add_external_contact("wangwu", "wmC3", CreateTime=int(time.time()) + 1))
    process_inbound()
    with database.connection_context():
        assert ContactOwner.select().join(Staff).where(Staff.userid == "wangwu").count() == 2


def test_an_edit_marks_the_customers_details_for_fetching(client, wecom, post_callback):
    from campaigner.wecom.accounts import wecom_account
    from campaigner.wecom.client import WecomClient
    from campaigner.wecom.details import fetch_missing_details

    wecom.add_staff("zhangsan", "张三")
    wecom.add_customer("wmD4", "陈晨", staff="zhangsan", unionid="ou-d4")
    post_callback(post_callback.sender.add_external_contact("zhangsan", "wmD4"))
    process_inbound()
    with database.connection_context():
        account = wecom_account("main")
        assert fetch_missing_details(account, WecomClient(account)) == 1
        customer = WecomCustomer.get(WecomCustomer.external_userid == "wmD4")
        assert customer.name == "陈晨" and customer.unionid == "ou-d4" and customer.details_at is not None
    post_callback(post_callback.sender.event("change_external_contact", "edit_external_contact",
                                             UserID="zhangsan", ExternalUserID="wmD4"))
    process_inbound()
    with database.connection_context():
        assert WecomCustomer.get(WecomCustomer.external_userid == "wmD4").details_at is None


def test_a_unionid_learnt_later_merges_the_identity_into_the_contact_we_had(client, app, wecom, post_callback,
                                                                            configure_channel):
    from campaigner.wecom import services
    from campaigner.wecom.accounts import wecom_account
    from campaigner.wecom.client import WecomClient
    from campaigner.wecom.details import fetch_missing_details

    with database.connection_context():
        # The same person in another corp, already known.
        known, _ = services.customer_for("other", "wmOTHER", name="赵敏", unionid="ou-same", details=True)
    wecom.add_staff("zhangsan")
    wecom.add_customer("wmE5", "赵敏", staff="zhangsan", unionid="ou-same")
    post_callback(post_callback.sender.add_external_contact("zhangsan", "wmE5"))
    process_inbound()
    with database.connection_context():
        account = wecom_account("main")
        fetch_missing_details(account, WecomClient(account))
        merged = WecomCustomer.get(WecomCustomer.external_userid == "wmE5")
        assert merged.contact_id == known.contact_id
        assert ContactOwner.get().contact_id == known.contact_id
    assert [e.contact_id for e in _events("joined")] == [known.contact_id]


def test_group_create_update_and_dismiss_change_members_and_record_joins_and_leaves(client, wecom, post_callback):
    sender = post_callback.sender
    wecom.add_staff("owner1", "群主")
    post_callback(sender.add_external_contact("owner1", "wmF1"))
    post_callback(sender.add_external_contact("owner1", "wmF2"))
    process_inbound()
    wecom.add_group("wrG1", "咖啡群", "owner1", members=[{"userid": "owner1", "type": 1},
                                                      {"userid": "wmF1", "type": 2, "join_scene": 3}])
    post_callback(sender.event("change_external_chat", "create", ChatId="wrG1"))
    process_inbound()
    with database.connection_context():
        group = ChatGroup.get(ChatGroup.chat_id == "wrG1")
        assert group.name == "咖啡群" and group.member_count == 2 and group.owner.userid == "owner1"
    # Members joined and left, as MemChangeList names them.
    post_callback(sender.plaintext({**sender.event("change_external_chat", "update", ChatId="wrG1",
                                                   UpdateDetail="add_member", JoinScene=2)})
                  .replace("</xml>", "<MemChangeList><Item><![CDATA[wmF2]]></Item><Item><![CDATA[wmX9]]></Item>"
                                     "</MemChangeList></xml>"))
    post_callback(sender.plaintext({**sender.event("change_external_chat", "update", ChatId="wrG1",
                                                   UpdateDetail="del_member", QuitScene=0, CreateTime=int(time.time()) + 1)})
                  .replace("</xml>", "<MemChangeList><Item><![CDATA[wmF1]]></Item></MemChangeList></xml>"))
    process_inbound()
    with database.connection_context():
        members = {m.member_id: m for m in GroupMember.select().where(GroupMember.group == group.id)}
        assert members["wmF2"].member_type == "customer" and members["wmF2"].join_scene == 2
        assert members["wmX9"].member_type == "unknown"  # an external we don't know: kept, not dropped
        assert members["wmF1"].left_at is not None
        assert ChatGroup.get_by_id(group.id).member_count == 3
    assert len(_events("joined_group")) == 2  # wmF1 at create, wmF2 now (wmX9 is no contact)
    assert len(_events("left_group")) == 1
    # Name, notice and owner changes re-read the group.
    wecom.groups["wrG1"].update(name="咖啡同好群", notice="每周五抽奖")
    post_callback(sender.event("change_external_chat", "update", ChatId="wrG1", UpdateDetail="change_name",
                               CreateTime=int(time.time()) + 2))
    process_inbound()
    with database.connection_context():
        group = ChatGroup.get_by_id(group.id)
        assert group.name == "咖啡同好群" and group.notice == "每周五抽奖"
    post_callback(sender.event("change_external_chat", "dismiss", ChatId="wrG1"))
    process_inbound()
    with database.connection_context():
        group = ChatGroup.get_by_id(group.id)
        assert group.dismissed_at is not None and group.member_count == 0
        assert not GroupMember.select().where(GroupMember.group == group.id, GroupMember.left_at.is_null()).exists()


def test_a_corp_tag_change_rereads_the_mapped_tag_groups(client, app, wecom, configure_channel, post_callback):
    from campaigner.audience.models import Tag

    configure_channel("wecom", **wecom.channel_config("main"), tag_groups="客户等级")
    wecom.add_tag_group("grp1", "客户等级", [("et1", "VIP"), ("et2", "普通")])
    wecom.add_tag_group("grp2", "内部", [("et9", "测试")])
    post_callback(post_callback.sender.event("change_external_tag", "create", Id="et1", TagType="tag"))
    process_inbound()
    with database.connection_context():
        keys = {t.key for t in Tag.select()}
    assert {"客户等级:VIP", "客户等级:普通"} <= keys and "内部:测试" not in keys


@pytest.mark.parametrize("case", ["wrong signature", "expired timestamp", "wrong corp id", "undecryptable",
                                  "not xml", "unknown account"])
def test_bad_callbacks_are_refused_with_4xx_and_store_nothing(client, wecom, post_callback, case, caplog):
    sender = post_callback.sender
    fields = sender.add_external_contact("zhangsan", "wmBAD")
    if case == "wrong signature":
        response = post_callback(fields, sign=False)
    elif case == "expired timestamp":
        response = post_callback(fields, timestamp=int(time.time()) - 3600)
    elif case == "wrong corp id":
        response = post_callback(fields, corp_id="ww-someone-else")
    elif case == "undecryptable":
        args, _ = sender.encrypted(fields)
        from campaigner.wecom.callbacks import _crypto  # noqa: F401 (the signature must match the forged body)
        from wechatpy.crypto import _get_signature

        forged = "QUJDREVGR0g="
        args["msg_signature"] = _get_signature(wecom.callback_token, args["timestamp"], args["nonce"], forged)
        response = client.post(f"/hooks/wecom/main?{urlencode(args)}",
                               data=f"<xml><Encrypt><![CDATA[{forged}]]></Encrypt></xml>", content_type="text/xml")
    elif case == "not xml":
        args, _ = sender.encrypted(fields)
        response = client.post(f"/hooks/wecom/main?{urlencode(args)}", data=b"\x00\x01 not xml <", content_type="text/xml")
    else:
        args, body = sender.encrypted(fields)
        response = client.post(f"/hooks/wecom/nosuch?{urlencode(args)}", data=body, content_type="text/xml")
    assert 400 <= response.status_code < 500, response.status_code
    assert _ledger() == []
    if case != "unknown account":
        assert "inbound wecom/main refused" in caplog.text


def test_an_oversized_callback_is_refused_with_413(client, wecom):
    response = client.post("/hooks/wecom/main?msg_signature=x&timestamp=1&nonce=n", data=b"<xml>" + b"A" * 300_000,
                           content_type="text/xml")
    assert response.status_code == 413
    assert _ledger() == []


def test_an_unknown_provider_is_404(client, app):
    assert client.post("/hooks/nosuch/main", data=b"x").status_code == 404


def test_a_burst_of_adds_then_a_removal_then_a_readd_apply_in_order(client, wecom, post_callback):
    sender = post_callback.sender
    now = int(time.time())
    for n in range(5):  # a burst the receiver applies in bulk
        post_callback(sender.add_external_contact("zhangsan", f"wmH{n}", state="poster", CreateTime=now))
    post_callback(sender.event("change_external_contact", "del_follow_user", UserID="zhangsan",
                               ExternalUserID="wmH0", CreateTime=now + 1))
    post_callback(sender.add_external_contact("zhangsan", "wmH0", state="again", CreateTime=now + 2))
    assert process_inbound().done == 7
    with database.connection_context():
        customer = WecomCustomer.get(WecomCustomer.external_userid == "wmH0")
        history = list(ContactOwner.select().where(ContactOwner.contact == customer.contact_id).order_by(ContactOwner.id))
        assert [(o.state, o.removed_by) for o in history] == [("poster", "customer"), ("again", "")]
        assert ContactOwner.select().count() == 6 and WecomCustomer.select().count() == 5
    assert [e.kind for e in _events()] == ["joined"] * 5 + ["left", "joined"]


def test_a_bulk_failure_falls_back_to_one_by_one_and_loses_nothing(client, wecom, post_callback, monkeypatch):
    from campaigner.wecom import services

    def broken(*args, **kwargs):
        raise RuntimeError("bulk path broken")

    monkeypatch.setattr(services, "open_owners_from_callbacks", broken)
    for n in range(3):
        post_callback(post_callback.sender.add_external_contact("lisi", f"wmK{n}"))
    assert process_inbound().done == 3
    assert len(_events("joined")) == 3
