"""The campaign pages in a real browser: the live audience count, scheduling, the progress bar that stops."""
from __future__ import annotations

import re

import pytest

from campaigner.db import database
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    campaign_row, channels, make_contacts, make_content, run_campaign,
)


@pytest.mark.browser
def test_editor_builds_a_campaign_with_a_live_count_and_ops_watch_it_finish(app, channels, page, browser_login,
                                                                            tmp_path):
    from campaigner.audience.models import Contact
    from campaigner.audience.services import add_tags

    ids = make_contacts(4)
    with database.connection_context():
        for cid in ids[:3]:
            add_tags(Contact.get_by_id(cid), ["vip"])
    content = make_content()
    browser_login("admin")
    page.goto("/campaigns/new")
    page.fill("#name", "VIP preview")
    page.select_option("#content", str(content))
    page.select_option("#channel_1", "rec")
    page.fill("#audience", "tag:vip")
    page.wait_for_selector("text=3 contacts are reachable on the chosen channels now.")
    page.fill("#audience", "tag:vip AND (")
    page.wait_for_selector("#audience-count .error")
    page.fill("#audience", "tag:vip")
    page.wait_for_selector("text=3 contacts are reachable on the chosen channels now.")
    page.click(".campaign-builder button[type=submit]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    campaign_id = int(page.url.rstrip("/").split("/")[-1])
    page.click("a:has-text('Dry run')")
    page.wait_for_url(re.compile(r".*/dry-run$"))
    page.wait_for_selector("text=would get it on rec")
    page.go_back()
    page.click("button:has-text('Schedule')")
    page.wait_for_selector("text=Campaign scheduled.")
    assert page.locator("#progress[hx-trigger='every 2s']").count() == 1
    run_campaign(campaign_id)
    # The polling block replaces itself with a finished one and stops asking.
    page.wait_for_selector("#progress:not([hx-trigger])", timeout=15000)
    assert page.locator("#progress").get_attribute("hx-get") is None
    assert campaign_row(campaign_id).status == "completed"
    assert len(channels["rec"].received) == 3
