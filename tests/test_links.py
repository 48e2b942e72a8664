"""Short links: rewritten per delivery when a campaign sends, redirect only what we issued, expire kindly."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

from campaigner.db import database, utcnow
from tests.fixtures_engine import (channels, deliveries_of, make_contacts, make_content,  # noqa: F401
                                   new_campaign, run_campaign)
from tests.fixtures_links import (BROWSER, GOOGLEBOT, OTHER_BROWSER, clicks_written_before_teardown,  # noqa: F401
                                  code_of, delivery_events, flush_clicks, follow, links_of_delivery, manual_link)

SHORT = re.compile(r"http://127\.0\.0\.1:8000/s/([A-Za-z0-9_-]{8,})")


def test_code_never_issued_gives_404(client, manual_link):
    manual_link()
    for code in ("AAAAAAAA", "zz-zz_zz9", "short", "x" * 40):
        response = follow(client, code)
        assert response.status_code == 404
        assert "Location" not in response.headers


def test_no_open_redirect_through_the_short_link_path(client):
    for path in ("/s/https://evil.example.com", "/s/%2F%2Fevil.example.com", "/s/?url=https://evil.example.com",
                 "/s/AAAAAAAA?target=https://evil.example.com"):
        response = client.get(path, headers={"User-Agent": BROWSER})
        assert response.status_code == 404, path
        assert "evil" not in response.headers.get("Location", "")


def test_live_link_redirects_and_is_never_cached(client, manual_link):
    link = manual_link("https://shop.example.com/spring?ref=poster")
    response = follow(client, link.code)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/spring?ref=poster"
    assert response.headers["Cache-Control"] == "no-store"


def test_expired_link_shows_the_expiry_page_and_counts_no_click(app, client, manual_link):
    from campaigner.links.models import Click

    link = manual_link(expires_at=utcnow() - dt.timedelta(minutes=1))
    response = follow(client, link.code, )
    assert response.status_code == 410
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "This link has expired" in page
    zh = client.get(f"/s/{link.code}", headers={"User-Agent": BROWSER, "Accept-Language": "zh-CN"})
    assert "链接已过期" in zh.get_data(as_text=True)
    flush_clicks(app)
    with database.connection_context():
        assert Click.select().count() == 0


def test_changed_target_takes_effect_at_once(client, logged_in_editor, manual_link):
    link = manual_link("https://shop.example.com/old")
    assert follow(client, link.code).headers["Location"] == "https://shop.example.com/old"
    response = logged_in_editor.post(f"/links/{link.id}", data={
        "label": "Poster", "target": "https://shop.example.com/new", "expires_at": ""})
    assert response.status_code == 302
    assert follow(client, link.code).headers["Location"] == "https://shop.example.com/new"


def test_clicks_recorded_with_unique_visitors_and_bots_apart(app, client, manual_link):
    from campaigner.links.models import Click
    from campaigner.links.services import click_counts

    link = manual_link()
    for _ in range(3):
        follow(client, link.code, BROWSER, "203.0.113.7")
    follow(client, link.code, OTHER_BROWSER, "198.51.100.2")
    follow(client, link.code, GOOGLEBOT, "66.249.66.1")
    follow(client, link.code, "", "198.51.100.9")  # no user agent at all: a script
    client.head(f"/s/{link.code}", headers={"User-Agent": BROWSER})  # a previewer's probe: not a click
    flush_clicks(app)
    with database.connection_context():
        assert Click.select().count() == 6
        assert click_counts([link.id])[link.id] == {"clicks": 4, "unique": 2, "bots": 2}


def test_campaign_rewrites_each_link_per_delivery_with_utm_and_expiry(app, channels):
    from campaigner.campaigns.services import schedule_campaign
    from campaigner.links.models import ShortLink
    from campaigner.links.services import set_campaign_link_expiry

    body = ("Hi {{ name }}! New arrivals: https://shop.example.com/new?size=m, and the guide "
            "(https://blog.example.com/guide). ![banner](https://cdn.example.com/banner.png)\n"
            "看看 https://shop.example.com/cn，喜欢吗？ Unsubscribe: http://127.0.0.1:8000/u/abc")
    make_contacts(3)
    campaign = new_campaign(content=make_content(body=body), name="Spring sale 春季", schedule=False)
    with database.connection_context():
        set_campaign_link_expiry(campaign.id, 3)
        schedule_campaign(campaign)
    run_campaign(campaign.id)
    deliveries = deliveries_of(campaign.id)
    assert [d.status for d in deliveries] == ["sent"] * 3
    bodies = [b for _to, _key, b in channels["rec"].received]
    assert len(bodies) == 3
    seen_codes = set()
    for delivery, text in zip(deliveries, bodies):
        codes = SHORT.findall(text)
        assert len(codes) == 3, text  # two links and the Chinese one; not the image, not our own unsubscribe link
        assert "https://cdn.example.com/banner.png" in text and "http://127.0.0.1:8000/u/abc" in text
        assert "), ![banner]" not in text and "(http://127.0.0.1:8000/s/" in text and "，喜欢吗" in text
        assert not seen_codes & set(codes)  # every contact has links of their own
        seen_codes |= set(codes)
        links = links_of_delivery(delivery.id)
        assert sorted(link.code for link in links) == sorted(codes)
        for link in links:
            assert link.contact_id == delivery.contact_id and link.campaign_id == campaign.id
            assert dt.timedelta(days=2, hours=23) < link.expires_at - utcnow() <= dt.timedelta(days=3)
            query = parse_qs(urlsplit(link.target).query)
            assert query["utm_medium"] == ["rec"] and query["utm_source"] == ["campaigner"]
            assert query["utm_campaign"] == ["Spring sale 春季"]
    with database.connection_context():
        by_url = {link.original_url for link in ShortLink.select()}
    assert by_url == {"https://shop.example.com/new?size=m", "https://blog.example.com/guide",
                      "https://shop.example.com/cn"}


def test_rendering_a_delivery_again_reuses_its_links(app, channels):
    from campaigner.links.shortener import shorten_links

    make_contacts(1)
    campaign = new_campaign(content=make_content(body="See https://shop.example.com/a"), schedule=False)
    from campaigner.campaigns.services import schedule_campaign

    with database.connection_context():
        schedule_campaign(campaign)
    run_campaign(campaign.id)
    delivery = deliveries_of(campaign.id)[0]
    with database.connection_context():
        text = shorten_links("See https://shop.example.com/a", delivery_id=delivery.id, campaign_id=campaign.id,
                             channel="rec")
        html = shorten_links('<p><a href="https://shop.example.com/a">https://shop.example.com/a</a></p>',
                             delivery_id=delivery.id, campaign_id=campaign.id, channel="rec", fmt="html")
    (code,) = SHORT.findall(text)
    assert SHORT.findall(html) == [code, code]
    assert SHORT.findall(channels["rec"].received[0][2]) == [code]


def test_channel_that_cannot_personalise_shares_one_link_per_campaign(app, channels):
    from campaigner.links.models import ShortLink
    from campaigner.links.shortener import shorten_links

    campaign = new_campaign(schedule=False)
    with database.connection_context():
        first = shorten_links("Group post: https://shop.example.com/x", delivery_id=None, campaign_id=campaign.id,
                              channel="chat")
        again = shorten_links("Again https://shop.example.com/x", delivery_id=None, campaign_id=campaign.id,
                              channel="chat")
        other = shorten_links("https://shop.example.com/x", delivery_id=None, campaign_id=campaign.id,
                              channel="moments")
        link = ShortLink.get(ShortLink.code == SHORT.findall(first)[0])
    assert SHORT.findall(first) == SHORT.findall(again) != SHORT.findall(other)
    assert link.kind == "campaign" and link.contact_id is None and link.delivery_id is None


def test_html_links_are_rewritten_in_hrefs_but_images_are_left_alone(app):
    from campaigner.links.shortener import find_urls

    html = ('<p>Buy <a href="https://shop.example.com/p?a=1&amp;b=2">now</a> '
            '<img src="https://cdn.example.com/i.png"> or visit https://shop.example.com/q.</p>')
    with app.app_context():
        found = [url for _s, _e, url in find_urls(html, "html")]
    assert found == ["https://shop.example.com/p?a=1&b=2", "https://shop.example.com/q"]


def test_text_links_end_at_punctuation_and_chinese(app):
    from campaigner.links.shortener import find_urls

    text = "Go to https://a.example.com/x. Or (https://b.example.com/y), 或 https://c.example.com/z，谢谢 https://en.wikipedia.org/wiki/Foo_(bar)"
    with app.app_context():
        assert [u for _s, _e, u in find_urls(text)] == [
            "https://a.example.com/x", "https://b.example.com/y", "https://c.example.com/z",
            "https://en.wikipedia.org/wiki/Foo_(bar)"]


def test_existing_utm_parameters_are_kept():
    from campaigner.links.shortener import add_utm

    url = add_utm("https://shop.example.com/?utm_source=poster&x=1", source="campaigner", medium="sms",
                  campaign="May", content="offer")
    query = parse_qs(urlsplit(url).query)
    assert query == {"utm_source": ["poster"], "x": ["1"], "utm_medium": ["sms"], "utm_campaign": ["May"],
                     "utm_content": ["offer"]}


def test_click_tags_the_contact_with_interests_and_fires_the_clicked_event(app, client, channels, delivery_events):
    from campaigner.audience.models import ContactTag, Tag
    from campaigner.content.models import ContentItem
    from campaigner.links.clicks import process_clicks

    (contact_id,) = make_contacts(1)
    content = make_content(body="Skincare tips https://shop.example.com/serum")
    with database.connection_context():
        ContentItem.update(tags=["护肤", "new-in"]).where(ContentItem.id == content).execute()
    campaign = new_campaign(content=content)
    run_campaign(campaign.id)
    delivery = deliveries_of(campaign.id)[0]
    (link,) = links_of_delivery(delivery.id)
    follow(client, link.code)
    follow(client, link.code, GOOGLEBOT)  # a bot's click tags nobody and announces nothing
    flush_clicks(app)
    with database.connection_context():
        assert process_clicks() == 1
        assert process_clicks() == 0  # each click is handled once
        keys = {t.key for t in Tag.select().join(ContactTag).where(ContactTag.contact == contact_id)}
    assert {"interest:护肤", "interest:new-in"} <= keys
    clicked = [e for e in delivery_events.events if e[0] == "clicked"]
    assert len(clicked) == 1
    event, delivery_id, details = clicked[0]
    assert delivery_id == delivery.id and details["code"] == link.code and details["contact_id"] == contact_id


def test_interest_tagging_can_be_turned_off(app, client, channels):
    from campaigner.audience.models import ContactTag
    from campaigner.content.models import ContentItem
    from campaigner.links.clicks import process_clicks
    from campaigner.links.options import save_link_options

    make_contacts(1)
    content = make_content(body="https://shop.example.com/serum")
    with database.connection_context():
        ContentItem.update(tags=["护肤"]).where(ContentItem.id == content).execute()
        save_link_options(interest_tags=False)
    campaign = new_campaign(content=content)
    run_campaign(campaign.id)
    (link,) = links_of_delivery(deliveries_of(campaign.id)[0].id)
    follow(client, link.code)
    flush_clicks(app)
    with database.connection_context():
        assert process_clicks() == 1
        assert ContactTag.select().count() == 0
