"""axe-core (WCAG 2.1 A and AA rules) over every page, in English and in Chinese: no critical or serious
violation anywhere.

axe-core comes from its npm package, installed by this module's session fixture into a cache folder
outside the repository (``npm install axe-core@4``), and is injected into each page by Playwright.
Every GET page of the app is either in PAGES or in NOT_PAGES with the reason it is not a page, so a
new page is checked the day it is added.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from campaigner.db import database
from tests.conftest import _fail_or_skip, make_user
from tests.fixtures_calendars import group_chat, make_calendar, make_members  # noqa: F401  (fixtures)
from tests.fixtures_engine import channels, deliveries_of, new_campaign, run_campaign  # noqa: F401  (fixtures)
from tests.fixtures_links import manual_link  # noqa: F401

pytestmark = pytest.mark.browser

AXE_CACHE = Path(os.environ.get("CAMPAIGNER_TEST_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "campaigner-tests") / "npm"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"critical", "serious"}

# Paths of the pages, with {names} of rows the `world` fixture makes.
PAGES = [
    "/", "/calendars/", "/calendars/week", "/calendars/month", "/calendars/new",
    "/calendars/{calendar}/", "/calendars/{calendar}/month", "/calendars/{calendar}/template",
    "/calendars/{calendar}/edit", "/calendars/{calendar}/entries/new", "/calendars/entries/{entry}",
    "/content/", "/content/new", "/content/{content}", "/content/{content}/edit", "/content/{content}/versions",
    "/content/{content}/versions/1", "/content/fields", "/content/media",
    "/audience/", "/audience/contacts/new", "/audience/contacts/{contact}", "/audience/contacts/{contact}/edit",
    "/audience/imports", "/audience/imports/{running_import}", "/audience/imports/{done_import}", "/audience/rfm",
    "/audience/segments", "/audience/segments/new", "/audience/segments/{segment}", "/audience/tags",
    "/campaigns/", "/campaigns/new", "/campaigns/{campaign}", "/campaigns/{campaign}/dry-run",
    "/campaigns/{draft}/edit",
    "/deliveries/", "/deliveries/{delivery}", "/deliveries/audit",
    "/links/", "/links/{link}",
    "/analytics/", "/analytics/campaigns/{campaign}", "/analytics/calendars/{calendar}", "/analytics/goals",
    "/analytics/rfm",
    "/plugins/", "/plugins/channels/email",
    "/settings/", "/settings/users",
    "/offers/", "/offers/{batch}",
    "/reports/weekly", "/reports/cohorts", "/reports/segments",
    "/wecom/", "/wecom/staff/{staff}", "/wecom/groups", "/wecom/groups/{group}", "/wecom/sync",
    "/inbound/", "/inbound/{inbound_event}",
]
PUBLIC_PAGES = ["/login", "/u/{unsubscribe}", "/s/{expired_code}", "/no-such-page"]
# Endpoints answering GET that are not pages a person reads, and why.
NOT_PAGES = {
    "static": "files", "htmx_js": "a script", "content.media_file": "an uploaded image",
    "calendars.feed": "an iCalendar feed", "audience.import_errors": "a CSV file", "deliveries.export": "a CSV file",
    "links.export": "a CSV file", "links.clicks_csv": "a CSV file",
    "audience.preview": "an htmx partial of the segment page", "campaigns.audience_count": "an htmx partial of the builder",
    "campaigns.progress": "an htmx partial of the campaign page", "deliveries.running": "an htmx partial of the log",
    "audience.export": "a CSV file", "inbound_hooks.callback": "a provider's callback", "favicon": "an icon",
}


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, from the npm package installed once into the test cache."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            _fail_or_skip("npm is not installed (apt-get install npm): it installs axe-core for the a11y tests")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(AXE_CACHE), "--no-save", "--no-audit", "--no-fund",
                        "--no-package-lock", "axe-core@4"], check=True, capture_output=True, timeout=300)
    version = json.loads((script.parent / "package.json").read_text())["version"]
    assert version.startswith("4."), version
    return script.read_text(encoding="utf-8")


@pytest.fixture
def world(app, channels, group_chat, manual_link):
    """One of each thing the pages show: a calendar with an entry, content, a contact, a segment,
    a finished and a running campaign with deliveries, a draft, imports, a link, an expired link."""
    import datetime as dt

    from campaigner.audience.models import ImportJob
    from campaigner.audience.services import save_segment
    from campaigner.calendars.services import create_entry, today_in
    from campaigner.campaigns.models import Campaign
    from campaigner.content.services import save_content
    from campaigner.inbound.models import InboundEvent
    from campaigner.offers import services as offers
    from campaigner.wecom.models import ChatGroup, GroupMember, Staff
    from campaigner.unsubscribe import make_token
    from tests.fixtures_engine import make_contacts

    contacts = make_members("group:coffee-1", n=2) + make_contacts(3)
    calendar = make_calendar()
    campaign = new_campaign(name="Spring sale")
    run_campaign(campaign.id)
    running = new_campaign(name="Still sending")
    run_campaign(running.id)
    draft = new_campaign(name="Draft idea", schedule=False)
    expired = manual_link(target="https://shop.example.com/old",
                          expires_at=dt.datetime(2020, 1, 1))
    with database.connection_context():
        Campaign.update(status="running").where(Campaign.id == running.id).execute()
        content = save_content(None, {"title": "Autumn latte", "body": "Our **oat latte** is back."}).item
        entry = create_entry(calendar, day=today_in(calendar.timezone) + dt.timedelta(days=1), at=dt.time(10, 0),
                             theme="Tips", content=content.id if content.kind == "community" else None)
        segment = save_segment("VIP fans", "tag:group:coffee-1")
        running_import = ImportJob.create(filename="fans.csv", status="running", total_rows=10, processed_rows=4)
        done_import = ImportJob.create(filename="old.csv", status="done", total_rows=3, created=2, skipped=1,
                                       errors=[{"row": 3, "field": "email", "reason": "not an email address"}])
        batch = offers.create_batch(name="新客红包", kind="amount", value="10", starts_at=None, ends_at=None)
        offers.generate_codes(batch, 5)
        staff = Staff.create(account="main", userid="staff0", name="员工0")
        group = ChatGroup.create(account="main", chat_id="wr0001", name="咖啡群", owner=staff, member_count=1)
        GroupMember.create(group=group, member_id="wm00001", member_type="customer", name="客户1")
        event = InboundEvent.create(provider="wecom", account="main", kind="add_external_contact",
                                    dedupe_key="main:1", payload={"ExternalUserID": "wm00001"}, status="failed",
                                    error="no such customer")
    return {
        "calendar": calendar.id, "entry": entry.id, "content": content.id, "contact": contacts[0],
        "segment": segment.id, "campaign": campaign.id, "draft": draft.id, "delivery": deliveries_of(campaign.id)[0].id,
        "link": manual_link().id, "running_import": running_import.id, "done_import": done_import.id,
        "unsubscribe": make_token(app.secret_key, contacts[0], "email"), "expired_code": expired.code,
        "batch": batch.id, "staff": staff.id, "group": group.id, "inbound_event": event.id,
    }


def _axe(page, axe_source: str) -> list[dict]:
    """The critical and serious violations on the page as it is now."""
    # No htmx request (a poll) may change the page while axe reads it.
    page.evaluate("document.body.addEventListener('htmx:beforeRequest', e => e.preventDefault())")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def _sign_in(page, role: str = "admin") -> None:
    user = make_user(role)
    page.goto("/login")
    page.fill("#email", user.email)
    page.fill("#password", "password-123")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_no_page_has_a_critical_or_serious_axe_violation(browser, live_server, world, axe_source, locale):
    context = browser.new_context(base_url=live_server, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15000)
    found: dict[str, list] = {}

    def check(state: str):
        problems = _axe(page, axe_source)
        if problems:
            found[state] = problems

    try:
        for path in PUBLIC_PAGES:
            page.goto(path.format(**world))
            check(path)
        _sign_in(page)
        for path in PAGES:
            response = page.goto(path.format(**world))
            assert response.status < 400, (path, response.status)
            lang = page.evaluate("document.documentElement.lang")
            assert lang.startswith("zh" if locale == "zh-CN" else "en"), (path, lang)
            check(path)
        # states reached by using the page
        page.goto(f"/calendars/{world['calendar']}/")
        page.click(".cal-entry")
        page.wait_for_selector("#panel #move-form")
        check("week with the entry panel open")
        page.goto("/campaigns/new")
        page.click(".campaign-builder button[type=submit]")
        page.wait_for_selector("[aria-invalid=true]")
        check("campaign builder with errors")
    finally:
        context.close()
    assert not found, "axe violations (critical or serious):\n" + json.dumps(found, indent=1, ensure_ascii=False)


def test_every_page_of_the_app_is_checked(app):
    adapter = app.url_map.bind("localhost")
    world = {name: 1 for name in ("calendar", "entry", "content", "contact", "segment", "campaign", "draft",
                                  "delivery", "link", "running_import", "done_import", "batch", "staff", "group",
                                  "inbound_event")}
    world.update(unsubscribe="token", expired_code="code")
    checked = {adapter.match(path.format(**world))[0] for path in PAGES + PUBLIC_PAGES[:-1]}
    pages = {rule.endpoint for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and not rule.rule.startswith("/api")}
    unchecked = pages - checked - set(NOT_PAGES)
    assert not unchecked, ("pages no axe test visits: add a path to PAGES in tests/test_accessibility_axe.py "
                           f"(or the endpoint to NOT_PAGES, saying why it is no page): {sorted(unchecked)}")
