"""The markup a screen reader relies on: fields tied to their errors and hints, one live region per page,
status messages in the calendar panel, entry names with their day and time, month status in words."""
from __future__ import annotations

import datetime as dt
import re

from campaigner.db import database
from tests.fixtures_calendars import group_chat, make_calendar, make_content, next_monday  # noqa: F401

HTMX = {"HX-Request": "true"}


def _entry(tz: str = "Asia/Shanghai"):
    from campaigner.calendars.services import create_entry, today_in

    calendar = make_calendar(timezone=tz)
    monday = next_monday(today_in(tz))
    with database.connection_context():
        entry = create_entry(calendar, day=monday, at=dt.time(10, 0), theme="Monday tips",
                             content=make_content("Coffee tips"))
    return calendar, entry, monday


def test_a_field_with_an_error_says_so_and_points_at_it(logged_in_editor):
    response = logged_in_editor.post("/campaigns/new", data={"name": "", "audience": "tag:vip AND ("},
                                     headers={"Accept-Language": "en"})
    page = response.get_data(as_text=True)
    name = re.search(r"<input[^>]*\bid=\"name\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in name and 'aria-describedby="name-error-1"' in name
    assert re.search(r'<small class="error" id="name-error-1">[^<]*required', page, re.I)
    # a hint is tied to its field too, and comes first
    audience = re.search(r"<textarea[^>]*\bid=\"audience\"[^>]*>|<input[^>]*\bid=\"audience\"[^>]*>", page).group(0)
    assert 'aria-describedby="audience-hint' in audience and 'id="audience-hint"' in page
    assert "data-form-answer" in page  # focus.js starts at the first error of an answered form


def test_a_field_without_error_is_not_marked_invalid(logged_in_editor):
    page = logged_in_editor.get("/campaigns/new").get_data(as_text=True)
    assert "aria-invalid" not in page and "data-form-answer" not in page
    assert 'aria-describedby="audience-hint"' in page


def test_every_page_has_a_skip_link_and_one_live_region(logged_in_editor, group_chat):
    calendar, _entry_, monday = _entry()
    page = logged_in_editor.get(f"/calendars/{calendar.id}/?week={monday.isoformat()}").get_data(as_text=True)
    assert re.search(r'<a class="skip-link" href="#main">', page) and 'id="main"' in page
    assert page.count('aria-live') == 1 and 'id="announcer"' in page
    assert re.search(r'<aside id="panel"[^>]*>', page) and "aria-live" not in re.search(r'<aside id="panel"[^>]*>', page).group(0)


def test_week_entries_are_named_with_their_day_and_time(logged_in_editor, group_chat):
    calendar, entry, monday = _entry()
    page = logged_in_editor.get(f"/calendars/{calendar.id}/?week={monday.isoformat()}",
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    link = re.search(rf'<a class="cal-entry[^"]*"[^>]*data-entry="{entry.id}".*?</a>', page).group(0)
    assert f'<span class="visually-hidden">Mon {monday:%m-%d} </span><span class="cal-time">10:00</span>' in link


def test_month_view_says_each_status_in_words(logged_in_editor, group_chat):
    calendar, _entry_, monday = _entry()
    page = logged_in_editor.get(f"/calendars/{calendar.id}/month?month={monday.isoformat()}",
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert re.search(r'<li><span class="badge st-draft">draft</span> 10:00 Monday tips', page, re.I)


def test_panel_actions_answer_with_a_status_message_not_a_live_panel(logged_in_editor, group_chat):
    calendar, entry, monday = _entry()
    response = logged_in_editor.post(f"/calendars/entries/{entry.id}/move", headers={**HTMX, "Accept-Language": "en"},
                                     data={"date": (monday + dt.timedelta(days=1)).isoformat(), "time": "10:00"})
    panel = response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "calendar-changed"
    assert re.search(r'<div class="flash flash-success" data-announce tabindex="-1">Moved to Tue', panel)
    assert "aria-live" not in panel and 'role="status"' not in panel


def test_deleting_from_the_panel_answers_with_the_panel_not_a_redirect(logged_in_editor, group_chat):
    calendar, entry, monday = _entry()
    response = logged_in_editor.post(f"/calendars/entries/{entry.id}/delete", headers={**HTMX, "Accept-Language": "en"})
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert response.headers["HX-Trigger"] == "calendar-changed"
    panel = response.get_data(as_text=True)
    assert '<p class="flash flash-success" data-announce tabindex="-1">Entry deleted.</p>' in panel
    assert f'/calendars/{calendar.id}/?week={monday.isoformat()}' in panel
    # without JavaScript: back to the week with the message flashed, as before
    _c, other, _m = _entry()
    plain = logged_in_editor.post(f"/calendars/entries/{other.id}/delete")
    assert plain.status_code == 302
