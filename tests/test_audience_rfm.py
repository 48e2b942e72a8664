"""RFM classes and super users on a fixture computed by hand (see RFM_ORDERS in fixtures_audience.py).

By hand, over the eight contacts with orders:

    contact  R (days)  F  M      recent<33.5  frequent>1.5  high>100  class (the seeds' letters)
    anna       1       3  600    yes          yes           yes       A 近高高
    ben        2       1  150    yes          no            yes       C 近低高
    chen      60       3  300    no           yes           yes       E 久高高
    dai       90       1  400    no           no            yes       G 久低高
    emma       3       3   50    yes          yes           no        B 近高低
    fang       7       1   30    yes          no            no        D 近低低
    gao      100       2   25    no           yes           no        F 久高低
    hui      200       1    5    no           no            no        H 久低低

Medians: R (7+60)/2 = 33.5 days, F (1+2)/2 = 1.5 orders, M (50+150)/2 = 100.
GMV 1560; 80% is 1248: anna 600 + dai 400 = 1000 < 1248, + chen 300 = 1300 -> super users anna, dai, chen.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigner.audience import rfm
from campaigner.audience.models import Order
from campaigner.audience.services import contact_tag_keys
from campaigner.db import database
from tests.fixtures_audience import NOW, day, rfm_orders  # noqa: F401

EXPECTED = {"anna": "A", "ben": "C", "chen": "E", "dai": "G", "emma": "B", "fang": "D", "gao": "F", "hui": "H"}


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


def tags_of(ids):
    return {name: contact_tag_keys(contact_id) for name, contact_id in ids.items()}


def test_classes_and_super_users_match_the_hand_computed_fixture(db, rfm_orders):
    report = rfm.recompute_rfm(NOW)
    tags = tags_of(rfm_orders)
    for name, letter in EXPECTED.items():
        wanted = [f"rfm:{letter}"] + (["super-user"] if name in {"anna", "chen", "dai"} else [])
        assert tags[name] == wanted, name
    assert tags["nobody"] == []
    assert report["thresholds"] == {"recency_days": 33.5, "frequency": 1.5, "monetary": "100.00"}
    assert report["total_gmv"] == "1560.00" and report["contacts"] == 8
    assert {k: v["contacts"] for k, v in report["classes"].items()} == dict.fromkeys("ABCDEFGH", 1)
    assert report["classes"]["A"]["gmv"] == "600.00"
    assert report["classes"]["A"]["share"] == pytest.approx(600 / 1560)
    assert report["classes"]["G"]["share"] == pytest.approx(400 / 1560)  # dai
    assert report["super_users"] == {"contacts": 3, "gmv": "1300.00", "share": pytest.approx(1300 / 1560),
                                     "contact_share": pytest.approx(3 / 8)}


def test_configured_thresholds_replace_the_medians(db, rfm_orders):
    # recent: fewer than 30 days; frequent: more than 2 orders; high: more than 200.
    rfm.set_thresholds(recency_days=30, frequency=2, monetary="200")
    rfm.recompute_rfm(NOW)
    tags = tags_of(rfm_orders)
    got = {name: [t for t in tags[name] if t.startswith("rfm:")][0][-1] for name in EXPECTED}
    assert got == {"anna": "A", "ben": "D", "chen": "E", "dai": "G", "emma": "B", "fang": "D",
                   "gao": "H", "hui": "H"}


def test_a_new_order_moves_a_contact_and_the_timeline_says_so(db, rfm_orders):
    from campaigner.audience.timeline import contact_timeline

    rfm.recompute_rfm(NOW)
    hui = rfm_orders["hui"]
    # hui comes back: a recent large order makes hui recent and high-spending (still one... now two orders).
    Order.create(contact=hui, amount=Decimal("1000.00"), occurred_at=day(0), source="test")
    report = rfm.recompute_rfm(NOW)
    assert contact_tag_keys(hui)[0] in {"rfm:A", "rfm:C"}  # recent and high spend
    assert "rfm:H" not in contact_tag_keys(hui)
    assert report["changed"] >= 1
    entry = next(e for e in contact_timeline(hui) if e.kind == "rfm")
    assert "-rfm:H" in entry.summary and "+super-user" in entry.summary


def test_recomputing_twice_changes_nothing(db, rfm_orders):
    rfm.recompute_rfm(NOW)
    assert rfm.recompute_rfm(NOW)["changed"] == 0


def test_super_users_are_the_smallest_set_reaching_eighty_percent():
    spend = [(1, Decimal("50")), (2, Decimal("30")), (3, Decimal("10")), (4, Decimal("10"))]
    assert rfm.super_users(spend) == {1, 2}  # 80 of 100 exactly
    assert rfm.super_users([(1, Decimal("79")), (2, Decimal("21"))]) == {1, 2}
    assert rfm.super_users([(5, Decimal("10")), (3, Decimal("10"))]) == {3, 5}
    assert rfm.super_users([]) == set()


def test_a_nightly_task_recomputes(app, rfm_orders):
    from campaigner.audience import tasks
    from campaigner.queue import huey

    nightly = next(t for t in huey._registry.periodic_tasks if t.name == "nightly_rfm")
    assert nightly.validate_datetime(dt.datetime(2024, 6, 2, 2, 20))
    assert not nightly.validate_datetime(dt.datetime(2024, 6, 2, 14, 20))
    tasks.nightly_rfm.call_local()
    with database.connection_context():
        assert contact_tag_keys(rfm_orders["anna"])[0] in set(f"rfm:{c}" for c in "ABCDEFGH")


def test_editor_sees_class_sizes_and_gmv_share_and_recomputes(app, logged_in_editor, rfm_orders):
    empty = logged_in_editor.get("/audience/rfm").get_data(as_text=True)
    assert "Not computed yet" in empty
    assert logged_in_editor.post("/audience/rfm", data={"what": "recompute"}).status_code == 302
    page = logged_in_editor.get("/audience/rfm").get_data(as_text=True)
    assert "38.5%" in page  # class A: 600 of 1560
    assert "近高高" in page and "super" in page.lower()
    # The page computes at the real clock: a threshold of 100,000 days makes every fixture order recent.
    saved = logged_in_editor.post("/audience/rfm", data={"what": "thresholds", "recency_days": "100000",
                                                      "frequency": "2", "monetary": "200"})
    assert saved.status_code == 302
    with database.connection_context():
        assert contact_tag_keys(rfm_orders["ben"]) == ["rfm:D"]  # recent, 1 order (not > 2), 150 (not > 200): 近低低
        assert contact_tag_keys(rfm_orders["anna"]) == ["rfm:A", "super-user"]


def test_bad_thresholds_are_refused(logged_in_editor):
    page = logged_in_editor.post("/audience/rfm", data={"what": "thresholds", "recency_days": "-3"})
    assert page.status_code == 400 and "zero or more" in page.get_data(as_text=True)


def test_ops_see_rfm_but_cannot_recompute(logged_in_ops):
    assert logged_in_ops.get("/audience/rfm").status_code == 200
    assert logged_in_ops.post("/audience/rfm", data={"what": "recompute"}).status_code == 403


def test_cli_recomputes(app, runner, rfm_orders):
    result = runner.invoke(["audience", "rfm"])
    assert result.exit_code == 0, result.output
    assert "8 contacts with orders" in result.output and "rfm:A" in result.output


def test_rfm_page_reads_in_chinese(app, logged_in_editor, rfm_orders):
    logged_in_editor.post("/audience/rfm", data={"what": "recompute"})
    page = logged_in_editor.get("/audience/rfm", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "贡献 80% GMV 的最少联系人（占购买者 37.5%）" in page
    assert "近期、高频、高消费" in page
