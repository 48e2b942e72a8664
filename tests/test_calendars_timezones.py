"""Time zones: calendars plan in their own wall-clock time, contacts receive at the intended instants.

Europe/Berlin moves its clocks forward on Sunday 2027-03-28 (01:00 UTC);
Asia/Shanghai has no daylight-saving time. The engine is driven at chosen
instants (`run_campaign(..., now=...)`) instead of waiting for them.
"""
from __future__ import annotations

import datetime as dt

from campaigner.db import database
from tests.fixtures_calendars import (  # noqa: F401  (fixtures)
    CHANNEL, entries_of, group_chat, make_calendar, make_content, make_members, reload, run_campaign,
)

BEFORE = dt.date(2027, 3, 22)  # Monday of the week before Berlin's change
AFTER = dt.date(2027, 3, 29)  # Monday of the week after it
UTC = dt.datetime.combine


def test_wall_clock_times_become_utc_by_the_zone_rules_of_their_date(app):
    from campaigner.calendars.services import local_to_utc

    assert local_to_utc(BEFORE, dt.time(10), "Europe/Berlin") == UTC(BEFORE, dt.time(9))
    assert local_to_utc(AFTER, dt.time(10), "Europe/Berlin") == UTC(AFTER, dt.time(8))
    # 02:30 does not exist on the morning of the change: read with the old offset, i.e. 03:30 CEST
    assert local_to_utc(dt.date(2027, 3, 28), dt.time(2, 30), "Europe/Berlin") == UTC(dt.date(2027, 3, 28), dt.time(1, 30))
    # 02:30 happens twice when the clocks go back: the first one (still CEST)
    assert local_to_utc(dt.date(2027, 10, 31), dt.time(2, 30), "Europe/Berlin") == UTC(dt.date(2027, 10, 31), dt.time(0, 30))
    # Shanghai keeps +08:00 all year
    assert local_to_utc(BEFORE, dt.time(20), "Asia/Shanghai") == UTC(BEFORE, dt.time(12))
    assert local_to_utc(AFTER, dt.time(20), "Asia/Shanghai") == UTC(AFTER, dt.time(12))


def test_a_berlin_calendar_keeps_its_local_time_across_the_change(app):
    from campaigner.calendars.services import apply_weekly_template

    calendar = make_calendar(timezone="Europe/Berlin", slots=[(0, "10:00", "Montag")])
    with database.connection_context():
        apply_weekly_template(calendar, BEFORE, weeks=2)
    assert [e.send_at for e in entries_of(calendar.id)] == [UTC(BEFORE, dt.time(9)), UTC(AFTER, dt.time(8))]


def test_shanghai_calendar_and_berlin_contact_across_daylight_saving(app, group_chat, logged_in_editor):
    from campaigner.calendars.publishing import approve_entry
    from campaigner.calendars.services import apply_weekly_template, assign_content
    from campaigner.campaigns.models import Campaign
    from campaigner.deliveries import engine
    from campaigner.settings_store import set_value

    with database.connection_context():
        # Quiet hours (21:00-09:00 in the contact's zone) on this channel; no frequency caps, so
        # every entry below is judged on its time alone.
        set_value("delivery_engine", {"quiet_hours": {"channels": [CHANNEL]}, "caps": {"day": 0, "week": 0}})
    (berlin,) = make_members("group:coffee-1", n=1, timezone="Europe/Berlin", prefix="Berlin")
    (shanghai,) = make_members("group:coffee-1", n=1, timezone="Asia/Shanghai", prefix="Shanghai")
    calendar = make_calendar(timezone="Asia/Shanghai",
                             slots=[(0, "20:00", "Evening post"), (2, "10:00", "Morning offer")])
    content = make_content("Weekly offer")
    with database.connection_context():
        apply_weekly_template(calendar, BEFORE, weeks=2)
        for entry in entries_of(calendar.id):
            # approve_entry refuses past times; these are in 2027, so they are still to come
            assign_content(entry, content)
            approve_entry(entry)
    entries = entries_of(calendar.id)

    # 20:00 and 10:00 in Shanghai are 12:00 and 02:00 UTC on both sides of Berlin's change
    expected = [UTC(BEFORE, dt.time(12)), UTC(BEFORE + dt.timedelta(days=2), dt.time(2)),
                UTC(AFTER, dt.time(12)), UTC(AFTER + dt.timedelta(days=2), dt.time(2))]
    assert [e.send_at for e in entries] == expected
    assert [reload(Campaign, e.campaign_id).send_at for e in entries] == expected

    from campaigner.audience.models import Contact

    berlin_chat, shanghai_chat = reload(Contact, berlin).chat_id, reload(Contact, shanghai).chat_id
    received_at: dict[str, list[dt.datetime]] = {berlin_chat: [], shanghai_chat: []}

    def run_at(campaign_id, moment):
        before = len(group_chat.received)
        run_campaign(campaign_id, now=moment)
        for to, _key, _body in group_chat.received[before:]:
            received_at[to].append(moment)

    for entry in entries:
        with database.connection_context():
            assert not engine.start(entry.campaign_id, entry.send_at - dt.timedelta(minutes=5))  # not yet
        run_at(entry.campaign_id, entry.send_at)

    # Evening posts reach Berlin at 13:00 CET, then at 14:00 CEST: the same instant as Shanghai.
    # Morning offers reach Shanghai at 10:00 there; in Berlin that is 03:00/04:00, inside quiet hours,
    # so Berlin's delivery waits for 09:00 Berlin time: 08:00 UTC before the change, 07:00 UTC after.
    assert received_at[shanghai_chat] == expected
    assert received_at[berlin_chat] == [expected[0], expected[2]]

    from campaigner.deliveries.models import Delivery

    with database.connection_context():
        waiting = list(Delivery.select().where(Delivery.status == "deferred").order_by(Delivery.send_after))
    assert [(d.contact_id, d.send_after) for d in waiting] == [
        (berlin, UTC(BEFORE + dt.timedelta(days=2), dt.time(8))),
        (berlin, UTC(AFTER + dt.timedelta(days=2), dt.time(7)))]
    for delivery in waiting:
        run_at(delivery.source_id, delivery.send_after - dt.timedelta(minutes=1))  # still quiet: nothing
        run_at(delivery.source_id, delivery.send_after)
    assert sorted(received_at[berlin_chat]) == [expected[0], UTC(BEFORE + dt.timedelta(days=2), dt.time(8)),
                                        expected[2], UTC(AFTER + dt.timedelta(days=2), dt.time(7))]
    page = logged_in_editor.get(f"/calendars/{calendar.id}/?week={AFTER.isoformat()}").get_data(as_text=True)
    assert page.count('st-sent">sent</span></a>') == 2  # both of that week's entries now show sent
