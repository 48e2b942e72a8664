"""Calendars: weekly templates, entries that move and swap, publishing through the engine, conflicts, pages."""
from __future__ import annotations

import datetime as dt
import re

import peewee
import pytest

from campaigner.db import database, utcnow
from tests.fixtures_calendars import (  # noqa: F401  (fixtures)
    CHANNEL, entries_of, group_chat, make_calendar, make_content, make_members, next_monday, reload, run_campaign,
)

THREE_SLOTS = [(0, "09:00", "Monday tips"), (2, "12:00", "Wednesday flash sale"), (4, "20:00", "Friday lucky draw")]


def _apply(calendar, start, weeks=1):
    from campaigner.calendars.services import apply_weekly_template

    with database.connection_context():
        return apply_weekly_template(calendar, start, weeks)


# ---------------------------------------------------------------- weekly template


def test_applying_the_same_template_twice_to_the_same_week_creates_nothing_the_second_time(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    first = logged_in_editor.post(f"/calendars/{calendar.id}/apply", data={"start": monday.isoformat(), "weeks": 1},
                                  follow_redirects=True).get_data(as_text=True)
    assert "3 entries created, 0 already there." in first
    second = logged_in_editor.post(f"/calendars/{calendar.id}/apply", data={"start": monday.isoformat(), "weeks": 1},
                                   follow_redirects=True).get_data(as_text=True)
    assert "0 entries created, 3 already there." in second
    entries = entries_of(calendar.id)
    assert len(entries) == 3
    assert [e.theme for e in entries] == ["Monday tips", "Wednesday flash sale", "Friday lucky draw"]
    assert all(e.status == "draft" for e in entries)


def test_the_database_itself_refuses_a_second_entry_for_the_same_slot_and_day(app):
    from campaigner.calendars.models import CalendarEntry

    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    original = entries_of(calendar.id)[0]
    with database.connection_context():
        with pytest.raises(peewee.IntegrityError):
            with database.atomic():
                CalendarEntry.create(calendar=calendar.id, slot=original.slot_id, slot_date=original.slot_date,
                                     send_at=original.send_at)


def test_applying_a_range_of_weeks_fills_only_the_missing_ones(app):
    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    assert _apply(calendar, monday + dt.timedelta(days=7)).created == 3
    applied = _apply(calendar, monday + dt.timedelta(days=2), weeks=3)  # any day of the week names that week
    assert (applied.created, applied.existing) == (6, 3)
    assert len(entries_of(calendar.id)) == 9


def test_a_moved_entry_is_not_recreated_when_the_template_is_applied_again(app):
    from campaigner.calendars.publishing import move_entry

    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    _apply(calendar, monday)
    wednesday = entries_of(calendar.id)[1]
    with database.connection_context():
        move_entry(wednesday, monday + dt.timedelta(days=3), dt.time(15, 0))
    assert _apply(calendar, monday).created == 0
    assert len(entries_of(calendar.id)) == 3


def test_slots_are_wall_clock_times_in_the_calendar_zone(app):
    calendar = make_calendar(slots=[(0, "09:00", "tips")], timezone="Asia/Shanghai")
    monday = next_monday()
    _apply(calendar, monday)
    (entry,) = entries_of(calendar.id)
    assert entry.send_at == dt.datetime.combine(monday, dt.time(1, 0))  # 09:00 +08:00 = 01:00 UTC


def test_rotation_goes_through_the_approved_content_with_the_tag(app):
    tips = [make_content(f"Tip {i}", tags=["tips"]) for i in range(3)]
    make_content("Draft tip", status="draft", tags=["tips"])
    make_content("Other", tags=["sale"])
    calendar = make_calendar(slots=[(0, "09:00", "Monday tips", {"rotation_tag": "tips"})])
    _apply(calendar, next_monday(), weeks=6)
    assigned = [e.content_id for e in entries_of(calendar.id)]
    assert set(assigned) == set(tips)  # the draft and the untagged item never come up
    assert all(a != b for a, b in zip(assigned, assigned[1:]))  # a new one each week
    assert assigned[:3] == assigned[3:]  # and round again


def test_a_slot_with_fixed_content_gives_every_entry_that_content(app):
    content_id = make_content("Lucky draw rules")
    calendar = make_calendar(slots=[(4, "20:00", "Friday lucky draw", {"content_id": content_id})])
    _apply(calendar, next_monday(), weeks=2)
    assert [e.content_id for e in entries_of(calendar.id)] == [content_id, content_id]


def test_editor_builds_a_template_in_the_page(app, logged_in_editor, group_chat):
    response = logged_in_editor.post("/calendars/new", data={
        "name": "Coffee community", "kind": "community", "channel": CHANNEL, "groups": "group:coffee-1",
        "timezone": "Asia/Shanghai", "min_gap_minutes": "120", "segment": "0"})
    assert response.status_code == 302
    calendar_id = int(re.search(r"/calendars/(\d+)/template", response.headers["Location"]).group(1))
    for weekday, at, theme in THREE_SLOTS:
        assert logged_in_editor.post(f"/calendars/{calendar_id}/slots", data={
            "weekday": weekday, "time": at, "theme": theme, "content": "0"}).status_code == 302
    page = logged_in_editor.get(f"/calendars/{calendar_id}/template").get_data(as_text=True)
    assert "Wednesday flash sale" in page and "20:00" in page


def test_calendar_form_says_what_is_wrong(app, logged_in_editor, group_chat):
    response = logged_in_editor.post("/calendars/new", data={
        "name": "", "kind": "community", "channel": CHANNEL, "groups": "", "timezone": "Mars/Olympus",
        "min_gap_minutes": "120", "segment": "0", "audience": "tag:vip AND ("})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Unknown time zone" in page
    assert page.count('class="error"') >= 2


def test_bad_audience_expression_is_shown_on_the_form(app, logged_in_editor, group_chat):
    response = logged_in_editor.post("/calendars/new", data={
        "name": "Moments", "kind": "moments", "channel": CHANNEL, "timezone": "Asia/Shanghai",
        "min_gap_minutes": "120", "segment": "0", "audience": "tag:vip AND ("})
    assert response.status_code == 400
    assert "The audience expression is not valid" in response.get_data(as_text=True)


# ---------------------------------------------------------------- entries in place


def test_editor_moves_entry_to_thursday(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    _apply(calendar, monday)
    wednesday = entries_of(calendar.id)[1]
    thursday = monday + dt.timedelta(days=3)
    response = logged_in_editor.post(f"/calendars/entries/{wednesday.id}/move",
                                     data={"date": thursday.isoformat(), "time": "12:00"},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "calendar-changed"  # the week grid reloads itself
    assert "<html" not in response.get_data(as_text=True)  # only the panel
    moved = reload(type(wednesday), wednesday.id)
    assert moved.send_at == dt.datetime.combine(thursday, dt.time(4, 0))
    assert moved.slot_date == wednesday.slot_date  # it keeps where it came from


def test_move_without_javascript_redirects_back_to_the_entry(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    response = logged_in_editor.post(f"/calendars/entries/{entry.id}/move", data={"date": "nonsense", "time": "9"})
    assert response.status_code == 302
    page = logged_in_editor.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not a valid date value" in page or "not a date" in page.lower()
    assert reload(type(entry), entry.id).send_at == entry.send_at


def test_editor_swaps_two_entries(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    monday_entry, wednesday_entry, _friday = entries_of(calendar.id)
    logged_in_editor.post(f"/calendars/entries/{monday_entry.id}/swap", data={"other": wednesday_entry.id},
                          headers={"HX-Request": "true"})
    assert reload(type(monday_entry), monday_entry.id).send_at == wednesday_entry.send_at
    assert reload(type(monday_entry), wednesday_entry.id).send_at == monday_entry.send_at


def test_editor_assigns_content_and_edits_theme(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    content_id = make_content("Pour-over basics")
    response = logged_in_editor.post(f"/calendars/entries/{entry.id}/content", data={"content": content_id},
                                     headers={"HX-Request": "true"})
    assert "Pour-over basics" in response.get_data(as_text=True)
    logged_in_editor.post(f"/calendars/entries/{entry.id}/details", data={"theme": "Brewing tips", "notes": "n"},
                          headers={"HX-Request": "true"})
    entry = reload(type(entry), entry.id)
    assert (entry.content_id, entry.theme, entry.notes) == (content_id, "Brewing tips", "n")


def test_editor_adds_a_one_off_entry(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    day = next_monday() + dt.timedelta(days=5)
    response = logged_in_editor.post(f"/calendars/{calendar.id}/entries/new", data={
        "date": day.isoformat(), "time": "10:30", "theme": "Saturday bonus", "content": "0", "notes": ""})
    assert response.status_code == 302
    (entry,) = entries_of(calendar.id)
    assert entry.slot_id is None and entry.send_at == dt.datetime.combine(day, dt.time(2, 30))


def test_only_editors_plan_but_everyone_signed_in_can_look(app, login_as):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    ops = login_as("ops")
    assert ops.get(f"/calendars/{calendar.id}/").status_code == 200
    assert ops.get(f"/calendars/entries/{entry.id}").status_code == 200
    assert ops.post(f"/calendars/entries/{entry.id}/move", data={"date": "2030-01-01", "time": "09:00"}).status_code == 403
    assert ops.post(f"/calendars/{calendar.id}/apply", data={"start": "2030-01-01", "weeks": 1}).status_code == 403
    assert ops.get("/calendars/new").status_code == 403


def test_deleting_a_draft_entry(app, logged_in_editor):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    assert logged_in_editor.post(f"/calendars/entries/{entry.id}/delete").status_code == 302
    assert len(entries_of(calendar.id)) == 2


# ---------------------------------------------------------------- publishing


def _approved_entry(calendar, content_title="Flash sale"):
    from campaigner.calendars.publishing import approve_entry
    from campaigner.calendars.services import assign_content

    entry = entries_of(calendar.id)[1]
    with database.connection_context():
        assign_content(entry, make_content(content_title))
        approve_entry(entry)
    return reload(type(entry), entry.id)


def test_approving_an_entry_schedules_a_campaign_for_its_time_and_audience(app, group_chat):
    from campaigner.campaigns.models import Campaign

    calendar = make_calendar(slots=THREE_SLOTS, groups=("group:coffee-1", "group:coffee-2"))
    _apply(calendar, next_monday())
    entry = _approved_entry(calendar)
    assert entry.status == "scheduled"
    campaign = reload(Campaign, entry.campaign_id)
    assert campaign.status == "scheduled"
    assert campaign.send_at == entry.send_at
    assert campaign.channels == [CHANNEL]
    assert campaign.origin == f"calendar_entry:{entry.id}"
    assert campaign.audience == 'tag:"group:coffee-1" OR tag:"group:coffee-2"'


def test_approval_needs_approved_content(app, logged_in_editor, group_chat):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    page = logged_in_editor.post(f"/calendars/entries/{entry.id}/approve", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Give the entry content before approving it." in page
    with database.connection_context():
        from campaigner.calendars.services import assign_content

        assign_content(entry, make_content("Draft", status="draft"))
    page = logged_in_editor.post(f"/calendars/entries/{entry.id}/approve", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "is not approved yet" in page
    assert reload(type(entry), entry.id).status == "draft"


def test_moving_a_scheduled_entry_reschedules_its_campaign(app, logged_in_editor, group_chat):
    from campaigner.campaigns.models import Campaign

    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    _apply(calendar, monday)
    entry = _approved_entry(calendar)
    thursday = monday + dt.timedelta(days=3)
    logged_in_editor.post(f"/calendars/entries/{entry.id}/move", data={"date": thursday.isoformat(), "time": "18:30"},
                          headers={"HX-Request": "true"})
    expected = dt.datetime.combine(thursday, dt.time(10, 30))
    assert reload(type(entry), entry.id).send_at == expected
    assert reload(Campaign, entry.campaign_id).send_at == expected


def test_unscheduling_cancels_the_campaign_and_leaves_a_draft(app, logged_in_editor, group_chat):
    from campaigner.campaigns.models import Campaign

    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = _approved_entry(calendar)
    campaign_id = entry.campaign_id
    logged_in_editor.post(f"/calendars/entries/{entry.id}/unschedule", headers={"HX-Request": "true"})
    entry = reload(type(entry), entry.id)
    assert (entry.status, entry.campaign_id) == ("draft", None)
    assert reload(Campaign, campaign_id).status == "cancelled"


def test_a_sent_entry_shows_sent_links_its_deliveries_and_can_no_longer_move(app, logged_in_editor, group_chat):
    from campaigner.calendars.publishing import entry_status

    make_members("group:coffee-1", n=3)
    make_members("group:tea-lovers", n=2)  # not in the calendar's groups
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = _approved_entry(calendar)
    run_campaign(entry.campaign_id, now=entry.send_at)
    assert len(group_chat.received) == 3
    with database.connection_context():
        assert entry_status(reload(type(entry), entry.id)) == "sent"
    page = logged_in_editor.get(f"/calendars/entries/{entry.id}").get_data(as_text=True)
    assert re.search(r'id="entry-status">\s*sent', page)
    assert f"/deliveries/?campaign={entry.campaign_id}" in page
    response = logged_in_editor.post(f"/calendars/entries/{entry.id}/move",
                                     data={"date": "2031-01-02", "time": "09:00"}, headers={"HX-Request": "true"})
    assert "can no longer move" in response.get_data(as_text=True)
    assert reload(type(entry), entry.id).send_at == entry.send_at


def test_status_follows_the_campaign_outcome():
    from campaigner.calendars.publishing import derive_status

    assert derive_status("draft", None, None) == "draft"
    assert derive_status("scheduled", "scheduled", None) == "scheduled"
    assert derive_status("scheduled", "running", {"queued": 3, "sent": 1}) == "sending"
    assert derive_status("scheduled", "paused", {"queued": 3}) == "paused"
    assert derive_status("scheduled", "completed", {"sent": 5, "skipped": 1}) == "sent"
    assert derive_status("scheduled", "completed", {"sent": 5, "failed": 2}) == "partly_failed"
    assert derive_status("scheduled", "completed", {"failed": 2, "unknown": 1}) == "failed"


def test_a_failing_channel_shows_failed(app, group_chat):
    from campaigner import PermanentError
    from campaigner.calendars.publishing import entry_status

    make_members("group:coffee-1", n=2)
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = _approved_entry(calendar)

    def refuse(message, key):
        raise PermanentError("group robot removed")

    group_chat.behaviour = refuse
    run_campaign(entry.campaign_id, now=entry.send_at)
    with database.connection_context():
        assert entry_status(reload(type(entry), entry.id)) == "failed"


# ---------------------------------------------------------------- conflicts


def test_two_touches_to_the_same_audience_too_close_together_are_flagged(app, logged_in_editor):
    from campaigner.calendars.conflicts import find_conflicts
    from campaigner.calendars.services import create_entry

    groups = ("group:coffee-1",)
    moments = make_calendar(name="Moments", kind="moments", groups=groups, min_gap_minutes=120)
    community = make_calendar(name="Community", groups=groups, min_gap_minutes=120)
    elsewhere = make_calendar(name="Tea", groups=("group:tea",), min_gap_minutes=120)
    day = next_monday() + dt.timedelta(days=1)
    with database.connection_context():
        a = create_entry(moments, day=day, at=dt.time(10, 0), theme="Morning post")
        b = create_entry(community, day=day, at=dt.time(11, 30), theme="Group offer")  # 90 min later: too close
        c = create_entry(community, day=day, at=dt.time(15, 0), theme="Afternoon")  # 3.5 h later: fine
        d = create_entry(elsewhere, day=day, at=dt.time(10, 30), theme="Other audience")  # other people: fine
        start = dt.datetime.combine(day, dt.time(0)) - dt.timedelta(hours=8)
        found = find_conflicts(start, start + dt.timedelta(days=1), now=utcnow())
    assert {k: [c.kind for c in v] for k, v in found.items()} == {a.id: ["too_close"], b.id: ["too_close"]}
    assert found[b.id][0].values == {"minutes": 90, "gap": 120}
    assert c.id not in found and d.id not in found
    page = logged_in_editor.get(f"/calendars/week?week={day.isoformat()}").get_data(as_text=True)
    assert "2 entries with conflicts" in page
    assert "90 min from another touch to the same audience (minimum 120 min)." in page


def test_the_gap_is_configurable(app):
    from campaigner.calendars.conflicts import find_conflicts
    from campaigner.calendars.services import create_entry

    calendar = make_calendar(min_gap_minutes=60)
    day = next_monday()
    with database.connection_context():
        create_entry(calendar, day=day, at=dt.time(10, 0))
        create_entry(calendar, day=day, at=dt.time(11, 30))
        start = dt.datetime.combine(day, dt.time(0)) - dt.timedelta(hours=8)
        assert find_conflicts(start, start + dt.timedelta(days=1)) == {}


def test_a_slot_without_approved_content_a_day_before_it_is_due_is_flagged(app):
    from campaigner.calendars.conflicts import find_conflicts
    from campaigner.calendars.services import assign_content, create_entry

    calendar = make_calendar(min_gap_minutes=0)
    now = utcnow()
    soon = now + dt.timedelta(hours=20)
    later = now + dt.timedelta(hours=30)
    local = lambda at: at + dt.timedelta(hours=8)  # noqa: E731  Asia/Shanghai has no DST
    with database.connection_context():
        empty = create_entry(calendar, day=local(soon).date(), at=local(soon).time())
        draft = create_entry(calendar, day=local(soon).date(), at=local(soon).time(), content=make_content(status="draft"))
        ready = create_entry(calendar, day=local(soon).date(), at=local(soon).time(), content=make_content())
        not_yet = create_entry(calendar, day=local(later).date(), at=local(later).time())
        found = find_conflicts(now - dt.timedelta(days=1), now + dt.timedelta(days=3), now=now)
        assert {k: [c.kind for c in v] for k, v in found.items()} == {empty.id: ["no_content"], draft.id: ["no_content"]}
        assert ready.id not in found and not_yet.id not in found
        assign_content(empty, make_content())
        assert empty.id not in find_conflicts(now - dt.timedelta(days=1), now + dt.timedelta(days=3), now=now)


# ---------------------------------------------------------------- views


def test_week_view_shows_each_entry_with_status_and_content(app, logged_in_editor, group_chat):
    calendar = make_calendar(slots=THREE_SLOTS)
    monday = next_monday()
    _apply(calendar, monday)
    _approved_entry(calendar, "Flash sale 50% off")
    page = logged_in_editor.get(f"/calendars/{calendar.id}/?week={monday.isoformat()}").get_data(as_text=True)
    assert page.count('class="cal-entry') == 3
    assert "Flash sale 50% off" in page
    assert re.search(r'st-scheduled[^>]*>.*?Wednesday flash sale', page, re.S)
    assert page.count('st-draft">draft</span></a>') == 2
    assert 'draggable="true"' in page and "calendars.js" in page
    # htmx asks for the grid only
    fragment = logged_in_editor.get(f"/calendars/{calendar.id}/?week={monday.isoformat()}",
                                    headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="week"') and "<html" not in fragment


def test_week_across_calendars_and_month_overview(app, logged_in_editor):
    coffee = make_calendar(name="Coffee", slots=THREE_SLOTS)
    tea = make_calendar(name="Tea", groups=("group:tea",), slots=[(1, "10:00", "Tea Tuesday")])
    monday = next_monday()
    _apply(coffee, monday)
    _apply(tea, monday)
    page = logged_in_editor.get(f"/calendars/week?week={monday.isoformat()}").get_data(as_text=True)
    assert page.count('class="cal-entry') == 4 and "Tea Tuesday" in page and "Coffee" in page
    month = logged_in_editor.get(f"/calendars/month?month={monday.isoformat()}").get_data(as_text=True)
    assert "Tea Tuesday" in month and "Friday lucky draw" in month
    assert logged_in_editor.get(f"/calendars/{coffee.id}/month").status_code == 200


def test_calendar_index_lists_calendars(app, logged_in_editor):
    make_calendar(name="Coffee fans", slots=THREE_SLOTS)
    page = logged_in_editor.get("/calendars/").get_data(as_text=True)
    assert "Coffee fans" in page and "New calendar" in page


def test_unknown_entry_or_calendar_is_404(app, logged_in_editor):
    assert logged_in_editor.get("/calendars/entries/999").status_code == 404
    assert logged_in_editor.get("/calendars/999/").status_code == 404
    assert logged_in_editor.get("/calendars/week?week=not-a-date").status_code == 200


def test_settings_page_says_whom_the_calendar_reaches(app, logged_in_editor, group_chat):
    make_members("group:coffee-1", n=3)
    make_members("group:tea", n=2)
    calendar = make_calendar(audience="", groups=("group:coffee-1",))
    page = logged_in_editor.get(f"/calendars/{calendar.id}/edit").get_data(as_text=True)
    assert 'tag:&#34;group:coffee-1&#34;' in page or 'tag:"group:coffee-1"' in page
    assert f"3 contacts are reachable on {CHANNEL} now." in page


def test_bad_input_on_the_pages_is_answered_never_a_500(app, logged_in_editor, group_chat):
    calendar = make_calendar(slots=THREE_SLOTS)
    _apply(calendar, next_monday())
    entry = entries_of(calendar.id)[0]
    huge = "9" * 25
    for path, data in [
        (f"/calendars/{calendar.id}/edit", {"min_gap_minutes": "0"}),
        (f"/calendars/entries/{entry.id}/content", {"content": huge}),
        (f"/calendars/entries/{entry.id}/swap", {"other": huge}),
        (f"/calendars/entries/{entry.id}/move", {"date": "2030-02-30", "time": "25:61", "tz": "Mars/Base"}),
        (f"/calendars/{calendar.id}/slots", {"weekday": "9", "time": "", "content": huge}),
        (f"/calendars/{calendar.id}/apply", {"start": "0001-01-01", "weeks": "999"}),
    ]:
        response = logged_in_editor.post(path, data=data, headers={"HX-Request": "true"})
        assert response.status_code < 500, path
    for path in ("/calendars/week?week=0001-01-01", "/calendars/month?month=9999-12-01",
                 f"/calendars/{calendar.id}/?week=9999-12-31", f"/calendars/{calendar.id}/entries/new?date=x&hour=99"):
        assert logged_in_editor.get(path).status_code == 200, path
    assert reload(type(entry), entry.id).send_at == entry.send_at


def test_calendar_index_shows_slots_and_the_next_entry_in_local_time(app, logged_in_editor):
    calendar = make_calendar(name="Coffee fans", slots=THREE_SLOTS)
    make_calendar(name="Empty one")
    monday = next_monday()
    _apply(calendar, monday)
    page = logged_in_editor.get("/calendars/").get_data(as_text=True)
    assert f"{monday.isoformat()} 09:00" in page
    assert re.search(r'template">3</a>', page) and re.search(r'template">0</a>', page)
