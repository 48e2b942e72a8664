"""Keyboard-only use in headless Chromium: the focus stays where the user is through every htmx swap.

Each test drives the page with the keyboard alone (Tab, Shift+Tab, Enter, arrows) and reads where
the focus is from `document.activeElement`; waits are for page states, never for a length of time.
"""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner.db import database
from tests.fixtures_calendars import (  # noqa: F401  (fixtures)
    entries_of, group_chat, make_calendar, make_content, make_members, next_monday,
)
from tests.fixtures_engine import campaign_row, channels, make_contacts, new_campaign, run_campaign  # noqa: F401

pytestmark = pytest.mark.browser

FOCUSED_NAME = "(() => { const e = document.activeElement; return (e.getAttribute('aria-label') || e.textContent).trim(); })()"


def tab_to(page, name: str, *, backwards: bool = False, prefix: bool = False, limit: int = 120) -> None:
    """Press Tab (or Shift+Tab) until the focused element is named `name` (or starts so); fail if it never is."""
    for _ in range(limit):
        focused = page.evaluate(FOCUSED_NAME)
        if focused == name or (prefix and focused.startswith(name)):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{name!r} not reached with the keyboard; the focus is on {page.evaluate(FOCUSED_NAME)!r}")


def focus_in(page, selector: str) -> bool:
    return page.evaluate(f"!!document.activeElement.closest({selector!r})")


def _week_with_one_draft(tz: str = "Asia/Shanghai"):
    from campaigner.calendars.services import create_entry, today_in

    make_members("group:coffee-1", n=1)
    content = make_content("Monday coffee tips")
    calendar = make_calendar(timezone=tz)
    monday = next_monday(today_in(tz))
    with database.connection_context():
        entry = create_entry(calendar, day=monday, at=dt.time(10, 0), theme="Monday tips", content=content)
    return calendar, entry, monday


def test_editor_moves_an_entry_two_days_later_and_an_hour_earlier_and_approves_it_from_the_keyboard(
        page, browser_login, group_chat):
    calendar, entry, monday = _week_with_one_draft()
    browser_login("editor")
    page.goto(f"/calendars/{calendar.id}/?week={monday.isoformat()}")

    # The entry's name says its day and time; Enter opens it and the focus moves into the panel.
    day = page.evaluate("document.querySelector('thead').rows[0].cells[1].textContent").split()[0]
    tab_to(page, f"{day} {monday:%m-%d} 10:00 Monday tips", prefix=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel #move-form")
    assert page.evaluate("document.activeElement.tagName") == "H2" and focus_in(page, "#panel")

    def when_reads(text: str):
        page.wait_for_selector(f"#panel #entry-when:has-text('{text}')")
        page.wait_for_function("!document.querySelector('.htmx-request')")

    tab_to(page, "1 day →")
    page.keyboard.press("Enter")
    when_reads((monday + dt.timedelta(days=1)).isoformat() + " 10:00")
    assert page.evaluate(FOCUSED_NAME) == "1 day →" and focus_in(page, "#panel")
    page.keyboard.press("Enter")
    when_reads((monday + dt.timedelta(days=2)).isoformat() + " 10:00")
    assert page.evaluate(FOCUSED_NAME) == "1 day →" and focus_in(page, "#panel")

    tab_to(page, "− 1 hour")
    page.keyboard.press("Enter")
    when_reads((monday + dt.timedelta(days=2)).isoformat() + " 09:00")
    assert page.evaluate(FOCUSED_NAME) == "− 1 hour" and focus_in(page, "#panel")
    # the announcer, the page's one live region, read the move out
    page.wait_for_function("document.getElementById('announcer').textContent.startsWith('Moved to')")

    tab_to(page, "Approve and schedule", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel #entry-status:has-text('Scheduled')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    # the Approve button is gone: the focus is on the panel's status message
    assert focus_in(page, "#panel") and page.evaluate("document.activeElement.hasAttribute('data-announce')")
    assert page.evaluate(FOCUSED_NAME).startswith("Approved")

    (moved,) = entries_of(calendar.id)
    # Wednesday 09:00 in Shanghai is 01:00 UTC
    assert moved.send_at == dt.datetime.combine(monday + dt.timedelta(days=2), dt.time(1, 0))
    assert moved.campaign_id is not None


def test_editor_walks_the_week_grid_with_arrows_and_moves_an_entry_with_shift_arrow(page, browser_login, group_chat):
    calendar, entry, monday = _week_with_one_draft()
    browser_login("editor")
    page.goto(f"/calendars/{calendar.id}/?week={monday.isoformat()}")
    page.focus(f'[data-entry="{entry.id}"]')  # reached by Tab in the test above
    page.keyboard.press("ArrowRight")
    tuesday = (monday + dt.timedelta(days=1)).isoformat()
    assert page.evaluate("[document.activeElement.dataset.date, document.activeElement.dataset.hour]") == [tuesday, "10"]
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.dataset.entry") == str(entry.id)

    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_selector(f'td[data-date="{tuesday}"][data-hour="10"] [data-entry="{entry.id}"]')
    page.wait_for_function("!document.querySelector('.htmx-request')")
    # the grid reloaded around it; the focus is on the moved entry, not in the panel
    assert page.evaluate("document.activeElement.dataset.entry") == str(entry.id)
    page.keyboard.press("Shift+ArrowDown")
    page.wait_for_selector(f'td[data-date="{tuesday}"][data-hour="11"] [data-entry="{entry.id}"]')
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate("document.activeElement.dataset.entry") == str(entry.id)
    (moved,) = entries_of(calendar.id)
    assert moved.send_at == dt.datetime.combine(monday + dt.timedelta(days=1), dt.time(3, 0))  # 11:00 Shanghai


def test_changing_week_keeps_the_focus_on_the_link_used(page, browser_login, group_chat):
    calendar, _entry, monday = _week_with_one_draft()
    browser_login("editor")
    page.goto(f"/calendars/{calendar.id}/?week={monday.isoformat()}")
    tab_to(page, "Next week →")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#week .cal-range:has-text('{(monday + dt.timedelta(days=7)).isoformat()}')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate(FOCUSED_NAME) == "Next week →"


def test_campaign_form_sent_with_an_error_lands_on_the_bad_field(page, browser_login, channels):
    browser_login("editor")
    page.goto("/campaigns/new")
    tab_to(page, "Save")  # the name left empty
    page.keyboard.press("Enter")
    page.wait_for_selector("#name[aria-invalid=true]")
    assert page.evaluate("document.activeElement.id") == "name"
    error = page.evaluate("document.getElementById(document.activeElement.getAttribute('aria-describedby')).textContent")
    assert "required" in error.lower()


def test_focus_on_retry_all_failed_survives_polling_on_a_running_campaign(app, page, browser_login, channels):
    from campaigner import PermanentError
    from campaigner.campaigns.models import Campaign
    from campaigner.deliveries.models import Delivery

    make_contacts(4)

    def reject(message, key):
        if message.to.startswith(("c0-", "c1-")):
            raise PermanentError("rejected")

    channels["rec"].behaviour = reject
    campaign = new_campaign(name="Spring sale")
    run_campaign(campaign.id)
    with database.connection_context():  # a worker is still at it
        Campaign.update(status="running").where(Campaign.id == campaign.id).execute()
    browser_login("ops")
    page.goto(f"/campaigns/{campaign.id}")
    assert page.locator("#progress[hx-trigger]").count() == 1
    tab_to(page, "Retry all failed")
    page.evaluate("""() => {
        window.retry = document.activeElement; window.blurs = 0; window.polls = 0;
        window.retry.addEventListener('blur', () => window.blurs++);
        document.body.addEventListener('htmx:afterRequest', e => { if (e.detail.elt.id === 'progress') window.polls++; });
    }""")
    page.wait_for_function("window.polls >= 1", timeout=30000)
    with database.connection_context():  # one failure resent meanwhile: the numbers change under the focus
        failed = Delivery.select().where(Delivery.source_id == campaign.id, Delivery.status == "failed").first()
        Delivery.update(status="sent").where(Delivery.id == failed.id).execute()
    page.wait_for_function("window.polls >= 5", timeout=30000)  # 10 s of polling every 2 s
    assert page.evaluate("document.activeElement === window.retry && window.retry.isConnected && window.blurs === 0")
    sent = page.locator("#progress a.stat", has_text="Sent").locator("strong").inner_text()
    failed_now = page.locator("#progress a.stat", has_text="Failed").locator("strong").inner_text()
    assert (sent, failed_now) == ("3", "1")
    assert campaign_row(campaign.id).status == "running"


def test_deleting_an_entry_leaves_the_focus_on_the_panel_message(page, browser_login, group_chat):
    calendar, entry, monday = _week_with_one_draft()
    browser_login("editor")
    page.goto(f"/calendars/{calendar.id}/?week={monday.isoformat()}")
    page.on("dialog", lambda dialog: dialog.accept())
    page.focus(f'[data-entry="{entry.id}"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel #move-form")
    tab_to(page, "Delete")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel [data-announce]:has-text('Entry deleted.')")
    page.wait_for_selector(f'[data-entry="{entry.id}"]', state="detached")  # the week reloaded without it
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate(FOCUSED_NAME) == "Entry deleted." and focus_in(page, "#panel")
    assert entries_of(calendar.id) == []


def test_paging_the_content_library_keeps_the_focus_on_next(page, browser_login):
    from tests.fixtures_calendars import make_content as make_item

    for n in range(41):
        make_item(f"Item {n:02d}", kind="article")
    browser_login("editor")
    page.goto("/content/")
    tab_to(page, "Next")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .pagination:has-text('Page 2 of 3')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate(FOCUSED_NAME) == "Next" and focus_in(page, "#results")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .pagination:has-text('Page 3 of 3')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    # no Next on the last page: the focus is on where the list says which page it is
    assert page.evaluate(FOCUSED_NAME) == "Page 3 of 3"
    page.wait_for_function("document.getElementById('announcer').textContent === 'Page 3 of 3'")


def test_removing_a_tag_and_revoking_a_token_focus_their_messages(page, browser_login):
    from campaigner.accounts.services import create_token
    from campaigner.accounts.models import User

    (contact,) = make_members("vip", n=1)
    user = browser_login("admin")
    page.goto(f"/audience/contacts/{contact}")
    tab_to(page, "Remove tag vip")
    page.keyboard.press("Enter")
    page.wait_for_selector("#contact-tags [data-announce]:has-text('Tag vip removed.')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate(FOCUSED_NAME) == "Tag vip removed." and focus_in(page, "#contact-tags")

    with database.connection_context():
        create_token(User.get_by_id(user.id), "ci")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/settings/")
    tab_to(page, "Revoke")
    page.keyboard.press("Enter")
    page.wait_for_selector("#tokens [data-announce]:has-text('Token revoked.')")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert page.evaluate(FOCUSED_NAME) == "Token revoked." and focus_in(page, "#tokens")


def test_log_filters_ask_once_per_choice_and_say_what_they_found(page, browser_login, channels):
    make_contacts(2)
    run_campaign(new_campaign(name="Spring sale").id)
    browser_login("ops")
    page.goto("/deliveries/")
    asked = []
    page.on("request", lambda request: asked.append(request.url) if request.headers.get("hx-request")
            and "/deliveries/?" in request.url else None)
    page.focus("#f-status")
    for _ in range(3):  # three options passed with the arrow keys: one request once the keys rest
        page.keyboard.press("ArrowDown")
    page.wait_for_function("document.getElementById('announcer').textContent !== ''")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert len(asked) == 1
    assert page.evaluate("document.activeElement.id") == "f-status"

    page.focus("#f-contact")
    page.keyboard.type("nobody@example.com")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('announcer').textContent === 'No deliveries match.'")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    assert len(asked) == 2 and "contact=nobody%40example.com" in asked[-1]


def test_skip_link_and_a_focus_ring_that_shows_on_the_dark_bar(page, browser_login):
    browser_login("editor")
    page.goto("/campaigns/")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED_NAME) == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert focus_in(page, "main")

    tab_to(page, "Sign out", backwards=True)
    ring, bar = page.evaluate("""() => [getComputedStyle(document.activeElement).outlineColor,
                                        getComputedStyle(document.querySelector('.topbar')).backgroundColor]""")

    def luminance(css: str) -> float:
        channels_ = [int(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels_]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(ring), luminance(bar)), reverse=True)
    assert (light + 0.05) / (dark + 0.05) >= 3  # WCAG 2.1 non-text contrast


def test_focus_on_a_running_campaign_in_the_delivery_log_survives_its_polling(page, browser_login, channels):
    from campaigner.campaigns.models import Campaign

    make_contacts(2)
    campaign = new_campaign(name="Spring sale")
    run_campaign(campaign.id)
    with database.connection_context():
        Campaign.update(status="running").where(Campaign.id == campaign.id).execute()
    browser_login("ops")
    page.goto("/deliveries/")
    tab_to(page, "Spring sale")
    assert focus_in(page, "#running")
    page.evaluate("""() => {
        window.link = document.activeElement; window.polls = 0;
        document.body.addEventListener('htmx:afterRequest', e => { if (e.detail.elt.id === 'running') window.polls++; });
    }""")
    page.wait_for_function("window.polls >= 3", timeout=30000)
    assert page.evaluate("document.activeElement === window.link && window.link.isConnected")
