"""Counts that say who a send will really reach: the chosen channels in fallback order, each channel's own
address check and opt-outs; calendars that would reach nobody say so on approval, on the entry and in the week."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner.audience.models import Contact, OptOut
from campaigner.audience.reach import count_reachable
from campaigner.db import database
from tests.fixtures_calendars import make_calendar, make_content, next_monday


@pytest.fixture
def people(app):
    """Five contacts: an email, a valid mobile, a stored number the SMS channel refuses, an opted-out
    mobile, and one with nothing."""
    with database.connection_context():
        Contact.create(name="邮件", email="mail@example.com")
        Contact.create(name="手机", phone="+8613800138000")
        Contact.create(name="坏号", phone="+86123")  # kept by an older import; no SMS gateway takes it
        opted = Contact.create(name="退订", phone="+8613900139000")
        OptOut.create(contact=opted, channel="sms", source="test")
        Contact.create(name="无")


def test_a_count_on_a_channel_counts_only_addresses_it_accepts(people):
    with database.connection_context():
        assert count_reachable("", []) == 5
        assert count_reachable("", ["sms"]) == 1
        assert count_reachable("", ["email"]) == 1
        assert count_reachable("", ["sms", "email"]) == 2  # fallback: reached on one or the other
        assert count_reachable("NOT channel:email", ["sms", "email"]) == 1


def test_the_api_count_with_a_channel_honours_its_address_check(client, api_token, people):
    headers = api_token("editor")
    one = client.post("/api/v1/audience/count", headers=headers, json={"expression": "", "channel": "sms"})
    assert one.status_code == 200 and one.get_json()["count"] == 1
    both = client.post("/api/v1/audience/count", headers=headers, json={"channels": ["sms", "email"]})
    assert both.get_json()["count"] == 2
    for bad in ({"channels": "sms"}, {"channels": [1]}, {"channel": "pigeon"}):
        answer = client.post("/api/v1/audience/count", headers=headers, json=bad)
        assert answer.status_code == 400, (bad, answer.get_json())


def test_the_campaign_forms_live_count_follows_the_chosen_channels(logged_in_editor, people):
    def count(**args):
        return logged_in_editor.get("/campaigns/audience-count", query_string=args,
                                    headers={"HX-Request": "true", "Accept-Language": "en"}).get_data(as_text=True)

    assert "5 contacts match now." in count()
    assert "1 contacts are reachable on the chosen channels now." in count(channel_1="sms")
    assert "2 contacts are reachable on the chosen channels now." in count(channel_1="sms", channel_2="email")
    nobody = count(channel_1="sms", audience="NOT channel:sms AND NOT channel:email")
    assert "No contact is reachable on the chosen channels" in nobody
    form = logged_in_editor.get("/campaigns/new").get_data(as_text=True)
    assert "change from:.campaign-channels" in form and 'hx-include=".campaign-audience, .campaign-channels"' in form


def _entry_of(calendar, content_id):
    from campaigner.calendars.services import create_entry

    with database.connection_context():
        return create_entry(calendar, day=next_monday() + dt.timedelta(days=1), at=dt.time(10, 0),
                            theme="会员闪购", content=content_id)


def test_approving_an_entry_that_reaches_nobody_warns(logged_in_editor, people):
    calendar = make_calendar(name="短信会员", kind="moments", channel="sms", groups=(), audience="tag:vip")
    entry = _entry_of(calendar, make_content("周三闪购"))
    panel = logged_in_editor.post(f"/calendars/entries/{entry.id}/approve",
                                  headers={"HX-Request": "true", "Accept-Language": "en"}).get_data(as_text=True)
    assert "Approved: it is scheduled." in panel and "will send on time" not in panel
    assert "It will reach nobody" in panel and "sms" in panel

    week = logged_in_editor.get(f"/calendars/{calendar.id}/?week={next_monday().isoformat()}",
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "短信会员 reaches nobody" in week
    again = logged_in_editor.get(f"/calendars/entries/{entry.id}", headers={"Accept-Language": "zh-CN"})
    assert "它不会触达任何人" in again.get_data(as_text=True)


def test_a_calendar_that_reaches_people_approves_without_a_warning(logged_in_editor, people):
    calendar = make_calendar(name="短信全员", kind="moments", channel="sms", groups=())
    entry = _entry_of(calendar, make_content("周三闪购"))
    panel = logged_in_editor.post(f"/calendars/entries/{entry.id}/approve",
                                  headers={"HX-Request": "true", "Accept-Language": "en"}).get_data(as_text=True)
    assert "Approved: it is scheduled and will send on time." in panel and "reach nobody" not in panel
    week = logged_in_editor.get(f"/calendars/{calendar.id}/?week={next_monday().isoformat()}",
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "reaches nobody" not in week


def test_approving_through_the_api_says_how_many_it_reaches(client, api_token, people):
    headers = api_token("editor")
    nobody = make_calendar(name="短信会员", kind="moments", channel="sms", groups=(), audience="tag:vip")
    everyone = make_calendar(name="短信全员", kind="moments", channel="sms", groups=())
    answers = [client.post(f"/api/v1/calendar-entries/{_entry_of(calendar, make_content('闪购')).id}/approve",
                           headers=headers).get_json() for calendar in (nobody, everyone)]
    assert (answers[0]["reachable"], answers[1]["reachable"]) == (0, 1)
    assert "reach nobody" in answers[0]["warnings"][0] and answers[1]["warnings"] == []
