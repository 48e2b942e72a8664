"""In a real browser: a campaign runs, people click its links, ops read a funnel that matches the database."""
from __future__ import annotations

import datetime as dt

import pytest
from peewee import fn

from campaigner import PermanentError
from campaigner.db import database, utcnow
from tests.fixtures_engine import channels, deliveries_of, make_contacts, make_content, new_campaign, run_campaign  # noqa: F401
from tests.fixtures_links import clicks_written_before_teardown, links_of_delivery, make_order  # noqa: F401

pytestmark = pytest.mark.browser

PHONE_BROWSER = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/124.0.0.0 Mobile Safari/537.36")


def funnel_in_database(campaign_id: int) -> dict:
    """The funnel counted straight from the tables, the way the page defines its stages."""
    from campaigner.deliveries.models import Delivery
    from campaigner.links.models import Click, Conversion, ShortLink

    with database.connection_context():
        rows = Delivery.select().where(Delivery.source_type == "campaign", Delivery.source_id == campaign_id)
        return {
            "targeted": rows.count(),
            "sent": rows.where(Delivery.status.in_(("sent", "failed", "unknown"))).count(),
            "delivered": rows.where(Delivery.status == "sent").count(),
            "clicked": (Click.select(fn.COUNT(fn.DISTINCT(Click.visitor))).join(ShortLink)
                        .where(ShortLink.campaign == campaign_id, Click.is_bot == False).scalar()),  # noqa: E712
            "converted": (Conversion.select(fn.COUNT(fn.DISTINCT(Conversion.contact)))
                          .where(Conversion.campaign == campaign_id).scalar()),
        }


def test_funnel_page_matches_the_database_after_a_campaign_and_clicks(app, channels, browser, live_server, page,
                                                                      browser_login):
    from campaigner.links.tasks import attribute_recent_conversions

    contacts = make_contacts(6)

    def bounce_the_last(message, key):
        if message.to.startswith("c5-"):
            raise PermanentError("mailbox does not exist")

    channels["rec"].behaviour = bounce_the_last
    content = make_content(body=f"Hi {{{{ name }}}}, the new menu: {live_server}/login?menu=spring")
    campaign = new_campaign(content=content, name="Spring menu")
    run_campaign(campaign.id)
    sent_bodies = {to: body for to, _key, body in channels["rec"].received}
    assert len(sent_bodies) == 5 and all("/s/" in body for body in sent_bodies.values())
    codes = {d.contact_id: links_of_delivery(d.id)[0].code for d in deliveries_of(campaign.id) if d.status == "sent"}

    # Three people open their link on their phones (the first one twice); a headless scanner opens a fourth.
    phone = browser.new_context(base_url=live_server, user_agent=PHONE_BROWSER)
    tab = phone.new_page()
    for contact in (contacts[0], contacts[0], contacts[1], contacts[2]):
        tab.goto(f"/s/{codes[contact]}")
        assert "/login?menu=spring" in tab.url and "utm_campaign=Spring+menu" in tab.url
    phone.close()
    page.goto(f"/s/{codes[contacts[3]]}")  # HeadlessChrome: flagged as a bot, not counted

    make_order(contacts[1], "42.00", utcnow() + dt.timedelta(seconds=1))
    attribute_recent_conversions.call_local()

    browser_login("ops")
    page.goto(f"/analytics/campaigns/{campaign.id}")
    shown = {stage: int(page.locator(f'#funnel-table tr[data-stage="{stage}"] .stage-count').inner_text())
             for stage in ("targeted", "sent", "delivered", "clicked", "converted")}
    assert shown == funnel_in_database(campaign.id)
    assert shown == {"targeted": 6, "sent": 6, "delivered": 5, "clicked": 3, "converted": 1}
    assert page.locator("svg.chart-funnel g.stage").count() == 5
    rates = page.locator("#funnel-table tbody tr").nth(3).inner_text()
    assert "60.0%" in rates  # 3 of the 5 delivered clicked
    # The overview lists the campaign with the same figures
    page.click("text=Overview")
    row = page.locator("#campaigns-table tr", has_text="Spring menu")
    assert row.locator("td.num").all_inner_texts()[:5] == ["6", "6", "5", "3", "1"]
