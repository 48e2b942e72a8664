"""Analytics as ops read it: the funnel of a campaign, conversions, channels and their cost, days, RFM, goals."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from campaigner import PermanentError
from campaigner.db import database, utcnow
from tests.fixtures_engine import (channels, deliveries_of, make_contacts, make_content,  # noqa: F401
                                   new_campaign, run_campaign)
from tests.fixtures_links import (BROWSER, GOOGLEBOT, OTHER_BROWSER, clicks_written_before_teardown,  # noqa: F401
                                  days_ago, flush_clicks, follow, links_of_delivery, make_click, make_order)


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def campaign_with_clicks(app, client, channels):
    """5 contacts: one delivery fails, 3 contacts click (one of them twice), a bot clicks, one contact orders."""
    from campaigner.links.attribution import attribute_all

    contacts = make_contacts(5)
    failing = "c4-"

    def reject_one(message, key):
        if message.to.startswith(failing):
            raise PermanentError("mailbox does not exist")

    channels["rec"].behaviour = reject_one
    campaign = new_campaign(content=make_content(body="Hi {{ name }}, https://shop.example.com/sale"), name="May sale")
    run_campaign(campaign.id)
    deliveries = {d.contact_id: d for d in deliveries_of(campaign.id)}
    link = {cid: links_of_delivery(d.id)[0] for cid, d in deliveries.items() if d.status == "sent"}
    follow(client, link[contacts[0]].code)
    follow(client, link[contacts[0]].code, OTHER_BROWSER)  # the same contact again, on another device
    follow(client, link[contacts[1]].code)
    follow(client, link[contacts[2]].code)
    follow(client, link[contacts[3]].code, GOOGLEBOT)  # a scanner, not the contact
    flush_clicks(app)
    make_order(contacts[0], "88.00", utcnow() + dt.timedelta(seconds=1))
    make_order(contacts[3], "50.00", utcnow() + dt.timedelta(seconds=1))  # only a bot "clicked": not a conversion
    with database.connection_context():
        attribute_all()
    return campaign, contacts


def test_campaign_funnel_counts_each_stage_once(app, client, channels):
    from campaigner.analytics.services import campaign_family_ids, funnel

    campaign, _contacts = campaign_with_clicks(app, client, channels)
    with database.connection_context():
        f = funnel(campaign_family_ids(campaign.id))
    assert (f.targeted, f.sent, f.delivered, f.clicked, f.converted) == (5, 5, 4, 3, 1)
    assert f.clicks == 4 and f.orders == 1 and f.revenue == Decimal("88.00")
    assert f.rates() == {"sent": 100.0, "delivered": 80.0, "clicked": 75.0, "converted": 33.3, "overall": 20.0}


def test_campaign_page_shows_the_funnel_and_exports_it(app, client, channels, logged_in_ops):
    campaign, _contacts = campaign_with_clicks(app, client, channels)
    page = logged_in_ops.get(f"/analytics/campaigns/{campaign.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<script" not in html.split("</head>")[1]
    for stage, value in (("targeted", 5), ("sent", 5), ("delivered", 4), ("clicked", 3), ("converted", 1)):
        assert f'data-stage="{stage}"><td>' in html
        assert f'data-value="{value}"' in html
    rows = read_csv(logged_in_ops.get(f"/analytics/campaigns/{campaign.id}?export=funnel"))
    assert rows[0] == ["stage", "count", "rate_of_previous_pct", "rate_of_targeted_pct"]
    assert [int(r[1]) for r in rows[1:]] == [5, 5, 4, 3, 1]
    links = read_csv(logged_in_ops.get(f"/analytics/campaigns/{campaign.id}?export=links"))
    assert links[1] == ["https://shop.example.com/sale", "3", "4"]
    by_channel = read_csv(logged_in_ops.get(f"/analytics/campaigns/{campaign.id}?export=channels"))
    assert by_channel[1][:6] == ["rec", "5", "5", "4", "3", "1"]


def test_order_goes_to_the_last_click_within_the_window(app, channels):
    from campaigner.links.attribution import attribute_all
    from campaigner.links.models import Conversion

    (contact,) = make_contacts(1)
    first = new_campaign(content=make_content(body="https://shop.example.com/a"), name="First")
    run_campaign(first.id)
    second = new_campaign(content=make_content(body="https://shop.example.com/b"), name="Second")
    with database.connection_context():
        from campaigner.settings_store import set_value

        set_value("delivery_engine", {"caps": {"day": 0, "week": 0}})
    run_campaign(second.id)
    (link_a,) = links_of_delivery(deliveries_of(first.id)[0].id)
    (link_b,) = links_of_delivery(deliveries_of(second.id)[0].id)
    make_click(link_a, days_ago(10))
    make_click(link_b, days_ago(8))
    make_click(link_a, days_ago(7.5), agent=GOOGLEBOT, bot=True)  # later, but a bot's
    within = make_order(contact, "20.00", days_ago(2))  # 6 days after the click on B
    outside = make_order(contact, "30.00", days_ago(0.5))  # 7.5 days after it: too late
    before_any = make_order(contact, "10.00", days_ago(11))
    with database.connection_context():
        assert attribute_all() == 1
        conversions = {c.order_id: c for c in Conversion.select()}
        assert set(conversions) == {within.id}
        assert conversions[within.id].campaign_id == second.id and conversions[within.id].link_id == link_b.id
        assert attribute_all(window_days=10) == 2  # a longer window reaches the later order too
        assert set(c.order_id for c in Conversion.select()) == {within.id, outside.id}
    assert before_any.id not in conversions


def test_channels_compared_with_cost_per_click_and_per_conversion(app, client, channels, logged_in_ops):
    campaign_with_clicks(app, client, channels)
    response = logged_in_ops.post("/analytics/costs", data={"channel": "rec", "cost": "0.06"})
    assert response.status_code == 302
    rows = read_csv(logged_in_ops.get("/analytics/?export=channels"))
    header, rec = rows[0], dict(zip(rows[0], rows[1]))
    assert header[0] == "channel" and rec["channel"] == "rec"
    assert (rec["sent"], rec["delivered"], rec["unique_clicks"], rec["orders"]) == ("5", "4", "3", "1")
    assert rec["cost"] == "0.24" and rec["cost_per_click"] == "0.08" and rec["cost_per_conversion"] == "0.24"
    bad = logged_in_ops.post("/analytics/costs", data={"channel": "rec", "cost": "-1"}, follow_redirects=True)
    assert "Cost per message: Number must be between 0 and 1000." in bad.get_data(as_text=True)
    with database.connection_context():
        from campaigner.analytics.models import ChannelCost

        assert ChannelCost.get_by_id("rec").cost_per_message == Decimal("0.0600")


def test_editor_can_read_analytics_but_not_set_costs(app, logged_in_editor):
    assert logged_in_editor.get("/analytics/").status_code == 200
    assert logged_in_editor.post("/analytics/costs", data={"channel": "sms", "cost": "0.05"}).status_code == 403


def test_daily_activity_groups_by_local_day(app, client, channels):
    from campaigner.analytics.services import daily_activity

    make_contacts(1)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    # 17:30 UTC on 1 March is 01:30 on 2 March in Asia/Shanghai
    make_click(link, dt.datetime(2026, 3, 1, 17, 30))
    make_click(link, dt.datetime(2026, 3, 1, 15, 0))
    with database.connection_context():
        days = {d["day"]: d for d in daily_activity(dt.date(2026, 3, 1), dt.date(2026, 3, 3), "Asia/Shanghai")}
    assert [days[dt.date(2026, 3, n)]["clicks"] for n in (1, 2, 3)] == [1, 1, 0]


def test_overview_tables_export_as_csv(app, client, channels, logged_in_ops):
    campaign, _ = campaign_with_clicks(app, client, channels)
    page = logged_in_ops.get("/analytics/")
    assert page.status_code == 200 and "May sale" in page.get_data(as_text=True)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    daily = read_csv(logged_in_ops.get("/analytics/?export=daily"))
    assert daily[0] == ["day", "delivered", "clicks", "unique_clicks", "opt_outs", "conversions"]
    assert [r for r in daily if r[0] == today][0][1:] == ["4", "4", "3", "0", "1"]
    campaigns = read_csv(logged_in_ops.get("/analytics/?export=campaigns"))
    assert campaigns[1][:8] == [str(campaign.id), "May sale", "completed", "5", "5", "4", "3", "1"]
    calendars = read_csv(logged_in_ops.get("/analytics/?export=calendars"))
    assert calendars[0][:2] == ["calendar_id", "calendar"]
    assert read_csv(logged_in_ops.get("/analytics/rfm?export=rfm"))[0][0] == "day"
    assert read_csv(logged_in_ops.get("/analytics/goals?export=goals"))[0][0] == "goal"


def test_bad_dates_say_what_is_wrong(logged_in_ops):
    page = logged_in_ops.get("/analytics/?start=yesterday")
    assert page.status_code == 200 and "YYYY-MM-DD" in page.get_data(as_text=True)
    page = logged_in_ops.get("/analytics/?start=2026-05-01&end=2026-04-01")
    assert "swapped" in page.get_data(as_text=True)


def test_rfm_class_sizes_are_snapshotted_daily_and_trend(app, logged_in_ops):
    from campaigner.analytics.services import rfm_trend, snapshot_rfm
    from campaigner.audience.services import add_tags

    ids = make_contacts(6)
    with database.connection_context():
        for cid in ids[:3]:
            add_tags(cid, ["rfm:A", "super-user"])
        add_tags(ids[3], ["rfm:H"])
        snapshot_rfm(dt.date(2026, 5, 1))
        add_tags(ids[4], ["rfm:A"])
        snapshot_rfm(dt.date(2026, 5, 2))
        add_tags(ids[5], ["rfm:A"])
        snapshot_rfm(dt.date(2026, 5, 2))  # a later snapshot of the same day replaces the earlier one
        days, series = rfm_trend(dt.date(2026, 4, 30), dt.date(2026, 5, 3))
    assert days == [dt.date(2026, 5, 1), dt.date(2026, 5, 2)]
    assert series["A"] == [3, 5] and series["H"] == [1, 1] and series["super-user"] == [3, 3] and series["B"] == [0, 0]
    page = logged_in_ops.get("/analytics/rfm?start=2026-05-01&end=2026-05-02").get_data(as_text=True)
    assert "rfm:A" in page and "<svg" in page


def test_kpi_goal_shows_progress_toward_its_target(app, client, channels, logged_in_ops):
    from campaigner.analytics.models import KpiGoal

    campaign_with_clicks(app, client, channels)  # 5 contacts; 3 clicked, one ordered
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    start, end = today.replace(day=1), today + dt.timedelta(days=1)
    response = logged_in_ops.post("/analytics/goals", data={
        "name": "Monthly active rate", "metric": "active_rate", "target": "60",
        "period_start": start.isoformat(), "period_end": end.isoformat()})
    assert response.status_code == 302
    logged_in_ops.post("/analytics/goals", data={
        "name": "Interaction", "metric": "interaction_rate", "target": "20",
        "period_start": start.isoformat(), "period_end": end.isoformat()})
    api = logged_in_ops.get("/analytics/goals").get_data(as_text=True)
    assert "Monthly active rate" in api
    rows = {r[0]: r for r in read_csv(logged_in_ops.get("/analytics/goals?export=goals"))[1:]}
    # 3 clicked and a 4th ordered (its only click was a bot's): 4 of the 5 contacts were active
    assert rows["Monthly active rate"][5] == "80.0" and rows["Monthly active rate"][8] == "yes"
    assert rows["Interaction"][5] == "75.0" and rows["Interaction"][8] == "yes"  # 3 of the 4 reached clicked
    bad = logged_in_ops.post("/analytics/goals", data={
        "name": "Backwards", "metric": "conversions", "target": "10",
        "period_start": end.isoformat(), "period_end": start.isoformat()})
    assert bad.status_code == 400 and "The period ends before it starts." in bad.get_data(as_text=True)
    with database.connection_context():
        assert KpiGoal.select().count() == 2


def test_conversions_growth_compares_with_the_period_before(app, channels):
    from campaigner.analytics.services import kpi_value
    from campaigner.links.attribution import attribute_all

    (contact,) = make_contacts(1)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    for day in (1, 2, 15, 16, 17, 18):  # May: 2 conversions in the first half, 4 in the second
        at = dt.datetime(2026, 5, day, 4, 0)
        make_click(link, at - dt.timedelta(hours=1))
        make_order(contact, "10.00", at)
    with database.connection_context():
        attribute_all()
        assert kpi_value("conversions", dt.date(2026, 5, 15), dt.date(2026, 5, 28), "Asia/Shanghai") == 4
        assert kpi_value("conversions_growth", dt.date(2026, 5, 15), dt.date(2026, 5, 28), "Asia/Shanghai") == 100.0
        assert kpi_value("conversions_growth", dt.date(2026, 4, 1), dt.date(2026, 4, 30), "Asia/Shanghai") is None


def test_recurring_campaign_funnel_includes_its_runs(app, channels):
    from campaigner.analytics.services import campaign_funnels
    from campaigner.campaigns.models import Campaign

    make_contacts(2)
    parent = new_campaign(schedule=False, name="Weekly")
    run = new_campaign(name="Weekly run 1")
    with database.connection_context():
        Campaign.update(parent=parent.id).where(Campaign.id == run.id).execute()
        Campaign.update(cron="0 9 * * 1").where(Campaign.id == parent.id).execute()
    run_campaign(run.id)
    with database.connection_context():
        funnels = campaign_funnels([parent.id])
    assert funnels[parent.id].targeted == 2 and funnels[parent.id].delivered == 2


def test_calendar_funnel_adds_up_the_campaigns_of_its_entries(app, client, channels, logged_in_editor):
    from campaigner.calendars.models import Calendar, CalendarEntry

    make_contacts(3)
    monday = new_campaign(content=make_content(body="Tips https://shop.example.com/tips"), name="Mon tips")
    run_campaign(monday.id)
    with database.connection_context():
        from campaigner.settings_store import set_value

        set_value("delivery_engine", {"caps": {"day": 0, "week": 0}})
    wednesday = new_campaign(content=make_content(body="Sale https://shop.example.com/sale"), name="Wed sale")
    run_campaign(wednesday.id)
    other = new_campaign(content=make_content(body="Not in the calendar"), name="Other")
    run_campaign(other.id)
    with database.connection_context():
        calendar = Calendar.create(name="Community weekly", kind="community")
        for campaign, day in ((monday, 1), (wednesday, 3)):
            CalendarEntry.create(calendar=calendar, campaign=campaign.id, theme=campaign.name,
                                 send_at=dt.datetime(2026, 6, day, 2, 0), status="scheduled")
    (link,) = links_of_delivery(deliveries_of(wednesday.id)[0].id)
    follow(client, link.code)
    page = logged_in_editor.get(f"/analytics/calendars/{calendar.id}")
    assert page.status_code == 200 and "Wed sale" in page.get_data(as_text=True)
    funnel = read_csv(logged_in_editor.get(f"/analytics/calendars/{calendar.id}?export=funnel"))
    assert [int(r[1]) for r in funnel[1:]] == [6, 6, 6, 1, 0]
    entries = read_csv(logged_in_editor.get(f"/analytics/calendars/{calendar.id}?export=entries"))
    assert [(r[2], r[4:9]) for r in entries[1:]] == [("Mon tips", ["3", "3", "3", "0", "0"]),
                                                      ("Wed sale", ["3", "3", "3", "1", "0"])]
    overview = read_csv(logged_in_editor.get("/analytics/?export=calendars"))
    assert overview[1] == [str(calendar.id), "Community weekly", "6", "6", "6", "1", "0"]


def test_rfm_snapshot_task_records_today(app):
    from campaigner.analytics.models import RfmSnapshot
    from campaigner.analytics.tasks import snapshot_rfm_classes
    from campaigner.audience.services import add_tags

    (contact,) = make_contacts(1)
    with database.connection_context():
        add_tags(contact, ["rfm:C"])
    snapshot_rfm_classes.call_local()
    with database.connection_context():
        sizes = {s.segment: s.size for s in RfmSnapshot.select()}
    assert sizes["C"] == 1 and sizes["A"] == 0 and len(sizes) == 9


def test_ops_asks_for_orders_to_be_attributed_again(app, client, channels, logged_in_ops):
    from campaigner.links.models import Conversion
    from campaigner.queue import huey

    (contact,) = make_contacts(1)
    campaign = new_campaign(content=make_content(body="https://shop.example.com/x"))
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    make_click(link, days_ago(3))
    make_order(contact, "15.00", days_ago(1))
    assert logged_in_ops.post("/analytics/attribution").status_code == 302
    ran = 0
    while (task := huey.dequeue()) is not None:  # what a worker would do with the queue
        if task.name.endswith("reattribute_all_conversions"):
            huey.execute(task)
            ran += 1
    assert ran == 1
    with database.connection_context():
        assert [(c.campaign_id, c.amount) for c in Conversion.select()] == [(campaign.id, Decimal("15.00"))]
    # a shorter window, saved on the links page, attributes again: the click is now too old
    logged_in_ops.post("/links/options", data={"default_expiry_days": "30", "utm_enabled": "y", "utm_source": "x",
                                               "interest_tags": "y", "attribution_days": "1"})
    while (task := huey.dequeue()) is not None:
        if task.name.endswith("reattribute_all_conversions"):
            huey.execute(task)
    with database.connection_context():
        assert Conversion.select().count() == 0


def test_calendar_funnel_keeps_an_earlier_campaign_of_a_republished_entry(app, channels):
    from campaigner.analytics.services import calendar_campaign_ids
    from campaigner.calendars.models import Calendar, CalendarEntry
    from campaigner.campaigns.models import Campaign

    make_contacts(1)
    first = new_campaign(name="Fri draw (first)")
    second = new_campaign(name="Fri draw (again)", schedule=False)
    with database.connection_context():
        calendar = Calendar.create(name="Moments")
        entry = CalendarEntry.create(calendar=calendar, campaign=second.id, send_at=dt.datetime(2026, 6, 5, 2, 0))
        Campaign.update(origin=f"calendar_entry:{entry.id}").where(Campaign.id.in_([first.id, second.id])).execute()
        assert calendar_campaign_ids(calendar.id) == sorted([first.id, second.id])
