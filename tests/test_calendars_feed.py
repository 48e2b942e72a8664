"""The per-calendar iCalendar feed: behind a secret token, rotatable, parsed by the icalendar library."""
from __future__ import annotations

import datetime as dt

import icalendar

from campaigner.db import database
from tests.fixtures_calendars import entries_of, make_calendar, make_content, next_monday, reload


def _calendar_with_week():
    from campaigner.calendars.services import apply_weekly_template, assign_content

    calendar = make_calendar(name="Coffee fans 咖啡群", slots=[(0, "09:00", "Monday tips"), (4, "20:00", "Lucky draw")])
    with database.connection_context():
        apply_weekly_template(calendar, next_monday())
        assign_content(entries_of(calendar.id)[0], make_content("Pour-over basics"))
    return reload(type(calendar), calendar.id)


def test_editor_subscribes_to_the_feed_and_a_calendar_library_reads_it(app, client, logged_in_editor):
    calendar = _calendar_with_week()
    settings_page = logged_in_editor.get(f"/calendars/{calendar.id}/edit").get_data(as_text=True)
    feed_path = f"/calendars/{calendar.id}/feed/{calendar.feed_token}.ics"
    assert feed_path in settings_page

    response = client.get(feed_path)  # an anonymous calendar app
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    parsed = icalendar.Calendar.from_ical(response.data)
    assert str(parsed["X-WR-CALNAME"]) == "Coffee fans 咖啡群"
    events = sorted(parsed.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert [str(e["summary"]) for e in events] == ["Monday tips · Pour-over basics", "Lucky draw"]
    monday = next_monday()
    assert events[0].decoded("dtstart") == dt.datetime.combine(monday, dt.time(1, 0), tzinfo=dt.timezone.utc)
    assert events[1].decoded("dtstart") == dt.datetime.combine(monday + dt.timedelta(days=4), dt.time(12, 0),
                                                               tzinfo=dt.timezone.utc)
    entry_ids = [e.id for e in entries_of(calendar.id)]
    assert [str(e["uid"]) for e in events] == [f"calendar-entry-{i}@campaigner" for i in entry_ids]
    assert "status: draft" in str(events[0]["description"])


def test_a_wrong_token_finds_nothing(app, client):
    calendar = _calendar_with_week()
    assert client.get(f"/calendars/{calendar.id}/feed/not-the-token.ics").status_code == 404
    assert client.get(f"/calendars/{calendar.id + 1}/feed/{calendar.feed_token}.ics").status_code == 404


def test_rotating_the_token_retires_the_old_address(app, client, logged_in_editor):
    calendar = _calendar_with_week()
    old = f"/calendars/{calendar.id}/feed/{calendar.feed_token}.ics"
    assert client.get(old).status_code == 200
    assert logged_in_editor.post(f"/calendars/{calendar.id}/feed/rotate").status_code == 302
    fresh = reload(type(calendar), calendar.id)
    assert fresh.feed_token != calendar.feed_token
    assert client.get(old).status_code == 404
    assert client.get(f"/calendars/{calendar.id}/feed/{fresh.feed_token}.ics").status_code == 200


def test_ops_can_not_rotate_the_token(app, login_as):
    calendar = _calendar_with_week()
    assert login_as("ops").post(f"/calendars/{calendar.id}/feed/rotate").status_code == 403
    assert reload(type(calendar), calendar.id).feed_token == calendar.feed_token
