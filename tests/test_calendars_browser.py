"""An editor plans a community week in headless Chromium, drags an entry, and sees it sent and logged."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from campaigner.audience.models import Contact
from campaigner.db import database
from tests.fixtures_calendars import (  # noqa: F401  (fixtures)
    CHANNEL, entries_of, group_chat, make_calendar, make_content, make_members, next_monday, reload, run_campaign,
)

pytestmark = pytest.mark.browser


def _next_monday_in_shanghai() -> dt.date:
    from campaigner.calendars.services import today_in

    return next_monday(today_in("Asia/Shanghai"))


def test_editor_plans_a_community_week_drags_wednesday_to_thursday_and_sees_it_sent(page, browser_login, group_chat):
    members = make_members("group:coffee-1", n=2, prefix="Fan")
    make_members("group:tea", n=1, prefix="Tea drinker")
    make_content("Wednesday flash sale: 2 for 1", kind="community")
    browser_login("editor")

    # a community calendar with a three-slot weekly template
    page.goto("/calendars/")
    page.click("text=New calendar")
    page.fill("#name", "Coffee fans community")
    page.select_option("#kind", "community")
    page.select_option("#channel", CHANNEL)
    page.fill("#groups", "group:coffee-1")
    page.click("button:has-text('Create calendar')")
    page.wait_for_url(re.compile(r"/calendars/\d+/template$"))
    calendar_id = int(re.search(r"/calendars/(\d+)/", page.url).group(1))
    for weekday, at, theme in [("0", "09:00", "Monday tips"), ("2", "12:00", "Wednesday flash sale"),
                               ("4", "20:00", "Friday lucky draw")]:
        page.select_option("#weekday", weekday)
        page.fill("#time", at)
        page.fill("#theme", theme)
        page.click("button:has-text('Add slot')")
        page.wait_for_selector(f"#slots >> text={theme}")
    assert page.locator("#slots tbody tr").count() == 3

    # applied to next week: three drafts on the week grid
    monday = _next_monday_in_shanghai()
    page.fill("#start", monday.isoformat())
    page.fill("#weeks", "1")
    page.click("button:has-text('Apply template')")
    page.wait_for_selector("text=3 entries created, 0 already there.")
    assert page.locator(".cal-entry").count() == 3

    # approved content assigned in the side panel (htmx)
    wednesday = page.locator(".cal-entry", has_text="Wednesday flash sale")
    wednesday.click()
    page.wait_for_selector("#panel #content-form")
    page.select_option("#panel #content", label="Wednesday flash sale: 2 for 1 · community · approved")
    page.click("#panel #content-form button[type=submit]")
    page.wait_for_selector("#panel .flash-success >> text=Content assigned.")
    # the grid reloads itself after the change; drag only once the new grid is in place
    page.wait_for_selector('.cal-entry:has-text("Wednesday flash sale: 2 for 1")')
    page.wait_for_function("!document.querySelector('.htmx-request')")

    # dragged from Wednesday to Thursday: the grid reloads with the entry in Thursday's column
    thursday = monday + dt.timedelta(days=3)
    target = page.locator(f'td[data-date="{thursday.isoformat()}"][data-hour="12"]')
    page.locator(".cal-entry", has_text="Wednesday flash sale").drag_to(target)
    page.wait_for_selector(f'td[data-date="{thursday.isoformat()}"] .cal-entry:has-text("Wednesday flash sale")')
    assert "Moved to" in page.locator("#panel").inner_text()
    (entry,) = [e for e in entries_of(calendar_id) if e.theme == "Wednesday flash sale"]
    assert entry.send_at == dt.datetime.combine(thursday, dt.time(4, 0))  # 12:00 in Shanghai

    # approved: a scheduled campaign
    page.click("#panel #approve")
    page.wait_for_selector("#panel #entry-status:has-text('scheduled')")
    entry = reload(type(entry), entry.id)
    assert entry.status == "scheduled" and entry.campaign_id

    # time advances to Thursday noon in Shanghai: the engine sends it
    run_campaign(entry.campaign_id, now=entry.send_at)
    assert sorted(to for to, _key, _body in group_chat.received) == sorted(
        c.chat_id for c in (reload(Contact, i) for i in members))

    page.reload()
    sent = page.locator(".cal-entry", has_text="Wednesday flash sale")
    assert "sent" in sent.locator(".badge").inner_text()
    sent.click()
    page.wait_for_selector("#panel #entry-status:has-text('sent')")
    page.click("#entry-deliveries")
    page.wait_for_url(re.compile(rf"/deliveries/\?campaign={entry.campaign_id}"))
    log = page.locator("main").inner_text()
    for member in members:
        row = page.locator("tr", has_text=reload(Contact, member).name)
        assert row.count() == 1 and "sent" in row.inner_text().lower()
    assert "Tea drinker" not in log


def test_keyboard_users_move_an_entry_with_the_move_form(page, browser_login):
    from campaigner.calendars.services import apply_weekly_template

    calendar = make_calendar(slots=[(2, "12:00", "Wednesday flash sale")])
    monday = _next_monday_in_shanghai()
    with database.connection_context():
        apply_weekly_template(calendar, monday)
    browser_login("editor")
    page.goto(f"/calendars/{calendar.id}/?week={monday.isoformat()}")
    page.locator(".cal-entry").focus()
    page.keyboard.press("Enter")  # a link: Enter opens the panel
    page.wait_for_selector("#panel #move-form")
    page.click("#panel button:has-text('1 day →')")
    thursday = monday + dt.timedelta(days=3)
    page.wait_for_selector(f'td[data-date="{thursday.isoformat()}"] .cal-entry')
    page.fill("#panel #move-form #time", "15:30")
    page.click("#panel #move-form button[type=submit]")
    page.wait_for_selector(f'td[data-date="{thursday.isoformat()}"][data-hour="15"] .cal-entry')
    (entry,) = entries_of(calendar.id)
    assert entry.send_at == dt.datetime.combine(thursday, dt.time(7, 30))
