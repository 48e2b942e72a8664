"""Campaigns as editors and ops use them: the builder, dry run, schedule, pause, cancel, time zones, stats."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner.db import database, utcnow
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    campaign_row, channels, deliveries_of, engine_settings, make_contacts, make_content, new_campaign, run_campaign,
)


def tag_contacts(ids, key):
    from campaigner.audience.models import Contact
    from campaigner.audience.services import add_tags

    with database.connection_context():
        for cid in ids:
            add_tags(Contact.get_by_id(cid), [key])


def test_editor_builds_a_campaign_with_fallback_channels_and_a_send_time_in_their_zone(app, channels, logged_in_editor):
    content = make_content()
    response = logged_in_editor.post("/campaigns/new", data={
        "name": "Spring sale", "content": content, "channel_1": "rec", "channel_2": "rec_phone", "channel_3": "",
        "audience_mode": "expression", "audience": "tag:vip", "send_mode": "at", "send_at": "2026-07-01T09:00",
        "timezone": "America/New_York", "throttle_per_minute": "120", "cap_day": "2", "quiet_start": "22:00",
        "quiet_end": "08:00"})
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign = campaign_row(int(response.headers["Location"].rstrip("/").split("/")[-1]))
    assert campaign.channels == ["rec", "rec_phone"] and campaign.audience == "tag:vip"
    assert campaign.send_at == dt.datetime(2026, 7, 1, 13, 0)  # 09:00 EDT
    assert campaign.throttle_per_minute == 120 and campaign.caps == {"day": 2}
    assert campaign.quiet_hours == {"start": "22:00", "end": "08:00"}
    assert campaign.status == "draft" and campaign.origin == "ui"
    page = logged_in_editor.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Spring sale" in page and "rec → rec_phone" in page and "09:00 EDT" in page


def test_builder_shows_what_is_wrong_with_a_bad_audience_expression(app, channels, logged_in_editor):
    content = make_content()
    response = logged_in_editor.post("/campaigns/new", data={
        "name": "Broken", "content": content, "channel_1": "rec", "audience_mode": "expression",
        "audience": "tag:vip AND (", "send_mode": "now", "timezone": "Asia/Shanghai"})
    assert response.status_code == 200
    assert "audience expression is not valid" in response.get_data(as_text=True)


def test_builder_offers_only_approved_content(app, channels, logged_in_editor):
    from campaigner.content.models import ContentItem

    approved, draft = make_content(), make_content(status="draft")
    with database.connection_context():
        ContentItem.update(title="Approved offer").where(ContentItem.id == approved).execute()
        ContentItem.update(title="Draft only").where(ContentItem.id == draft).execute()
    page = logged_in_editor.get("/campaigns/new").get_data(as_text=True)
    select = page[page.index('<select id="content"'):]
    select = select[:select.index("</select>")]
    assert "Approved offer" in select and "Draft only" not in select


def test_live_audience_count_follows_the_expression(app, channels, logged_in_editor):
    ids = make_contacts(5)
    tag_contacts(ids[:3], "vip")
    page = logged_in_editor.get("/campaigns/audience-count?audience=tag:vip", headers={"HX-Request": "true"})
    assert "3 contacts match now" in page.get_data(as_text=True)
    bad = logged_in_editor.get("/campaigns/audience-count?audience=tag:", headers={"HX-Request": "true"})
    assert bad.status_code == 200 and 'class="error"' in bad.get_data(as_text=True)


def test_dry_run_shows_who_gets_what_on_which_channel_and_who_is_skipped_and_why(app, channels, logged_in_editor):
    from campaigner.audience.models import Contact
    from campaigner.audience.optouts import opt_out

    email = make_contacts(3)
    phone_only = make_contacts(2, email=None)
    nobody = make_contacts(1, email=None, phone=None)
    with database.connection_context():
        opt_out(Contact.get_by_id(email[0]), "rec", "test")
        opt_out(Contact.get_by_id(email[0]), "rec_phone", "test")
    earlier = new_campaign(name="earlier")
    run_campaign(earlier.id)  # uses up today's cap for the email contacts still reachable
    campaign = new_campaign(channels=("rec", "rec_phone"), schedule=False)
    from campaigner.campaigns.services import dry_run

    with database.connection_context():
        result = dry_run(campaign_row(campaign.id))
    assert result["targeted"] == 6
    assert result["by_channel"] == {"rec": 0, "rec_phone": 2}
    assert result["skipped"] == {"opted_out": 1, "no_address": 1, "capped": 2}
    sample = {item["contact_id"]: item for item in result["sample"]}
    assert sample[phone_only[0]]["status"] == "would_send" and sample[phone_only[0]]["channel"] == "rec_phone"
    assert sample[phone_only[0]]["preview"].startswith("Hello Contact 0")
    assert (sample[email[1]]["status"], sample[email[1]]["reason"]) == ("skipped", "capped")
    assert sample[nobody[0]]["reason"] == "no_address"
    assert deliveries_of(campaign.id) == []  # nothing written
    page = logged_in_editor.get(f"/campaigns/{campaign.id}/dry-run").get_data(as_text=True)
    assert "would get it on rec_phone" in page and "Nothing is sent" in page


def test_dry_run_counts_contacts_whose_local_time_is_quiet(app, channels, engine_settings):
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import dry_run

    engine_settings(quiet_hours={"channels": ["rec"]})
    make_contacts(2, timezone="Asia/Shanghai")
    make_contacts(1, timezone="Europe/London")
    campaign = new_campaign(schedule=False)
    with database.connection_context():
        # 23:00 in Shanghai, 15:00 in London
        Campaign.update(send_at=dt.datetime(2030, 1, 10, 15, 0)).where(Campaign.id == campaign.id).execute()
        result = dry_run(campaign_row(campaign.id))
    assert result["deferred"] == {"rec": 2}


def test_scheduling_needs_approved_content(app, channels):
    from campaigner.campaigns.services import CampaignError, schedule_campaign

    make_contacts(1)
    campaign = new_campaign(schedule=False, content=make_content(status="draft"))
    with database.connection_context():
        with pytest.raises(CampaignError) as info:
            schedule_campaign(campaign_row(campaign.id))
    assert info.value.code == "content_not_approved"
    assert campaign_row(campaign.id).status == "draft"


def test_send_at_given_in_a_zone_is_stored_as_utc_in_summer_and_winter(app, channels):
    from campaigner.campaigns.services import local_to_utc, utc_to_local

    assert local_to_utc(dt.datetime(2026, 1, 15, 9, 0), "America/New_York") == dt.datetime(2026, 1, 15, 14, 0)
    assert local_to_utc(dt.datetime(2026, 7, 15, 9, 0), "America/New_York") == dt.datetime(2026, 7, 15, 13, 0)
    assert local_to_utc(dt.datetime(2026, 7, 15, 9, 0), "Asia/Shanghai") == dt.datetime(2026, 7, 15, 1, 0)
    assert utc_to_local(dt.datetime(2026, 7, 15, 13, 0), "America/New_York").hour == 9
    aware = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    campaign = new_campaign(schedule=False, send_at=aware)
    assert campaign_row(campaign.id).send_at == dt.datetime(2026, 3, 1, 1, 0)


def test_a_weekly_cron_campaign_fires_at_nine_local_across_daylight_saving(app, channels):
    from campaigner.campaigns.services import next_cron_time

    # Mondays 09:00 in New York: 14:00 UTC in winter, 13:00 UTC after clocks go forward on 8 March 2026.
    first = next_cron_time("0 9 * * 1", "America/New_York", dt.datetime(2026, 3, 1))
    second = next_cron_time("0 9 * * 1", "America/New_York", first)
    assert first == dt.datetime(2026, 3, 2, 14, 0)
    assert second == dt.datetime(2026, 3, 9, 13, 0)


def test_each_firing_of_a_recurring_campaign_is_a_run_of_its_own_and_fires_once(app, channels):
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import campaign_stats, spawn_run

    make_contacts(3)
    parent = new_campaign(name="Monday tips", cron="0 9 * * 1", timezone="Asia/Shanghai",
                          caps={"day": 0, "week": 0})
    parent = campaign_row(parent.id)
    assert parent.status == "scheduled" and parent.send_at.weekday() == 0 and parent.send_at.hour == 1
    fire_at = parent.send_at
    with database.connection_context():
        run = spawn_run(parent, fire_at)
        assert spawn_run(Campaign.get_by_id(parent.id), fire_at) is None  # next week's firing is not due
        stale = Campaign.get_by_id(parent.id)
        stale.send_at = fire_at
        assert spawn_run(stale, fire_at) is None  # another worker already took this firing
    assert run.parent_id == parent.id and run.status == "running" and "Monday tips" in run.name
    assert campaign_row(parent.id).send_at == fire_at + dt.timedelta(days=7)
    run_campaign(run.id)
    assert [d.status for d in deliveries_of(run.id)] == ["sent"] * 3
    with database.connection_context():
        assert campaign_stats(campaign_row(parent.id))["sent"] == 3


def test_campaign_stats_count_each_outcome(app, channels):
    from campaigner import PermanentError
    from campaigner.campaigns.services import campaign_stats

    make_contacts(4)
    make_contacts(1, email=None, phone=None)

    def reject(message, key):
        if message.to.startswith("c0-"):
            raise PermanentError("rejected")

    channels["rec"].behaviour = reject
    campaign = new_campaign()
    run_campaign(campaign.id)
    with database.connection_context():
        stats = campaign_stats(campaign_row(campaign.id))
    assert (stats["targeted"], stats["sent"], stats["failed"], stats["skipped"]) == (5, 3, 1, 1)
    assert stats["skipped_by_reason"] == {"no_address": 1} and stats["progress"] == 100.0 and stats["done"]


def test_ops_pause_resume_and_cancel_from_the_campaign_page_and_editors_cannot(app, channels, login_as):
    make_contacts(2)
    campaign = new_campaign()
    editor, ops = login_as("editor"), login_as("ops")
    assert editor.post(f"/campaigns/{campaign.id}/pause").status_code == 403
    response = ops.post(f"/campaigns/{campaign.id}/pause", data={"reason": "typo in coupon"})
    assert response.status_code == 302
    assert campaign_row(campaign.id).status == "paused"
    assert "typo in coupon" in ops.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    ops.post(f"/campaigns/{campaign.id}/resume")
    assert campaign_row(campaign.id).status == "scheduled"  # not started yet: waits for its time
    ops.post(f"/campaigns/{campaign.id}/cancel")
    assert campaign_row(campaign.id).status == "cancelled"
    again = ops.post(f"/campaigns/{campaign.id}/pause", follow_redirects=True).get_data(as_text=True)
    assert "can&#39;t be paused" in again or "can't be paused" in again


def test_progress_bar_polls_while_running_and_stops_when_done(app, channels, logged_in_ops):
    from campaigner.deliveries import engine

    make_contacts(3)
    campaign = new_campaign()
    with database.connection_context():
        engine.start(campaign.id)
    running = logged_in_ops.get(f"/campaigns/{campaign.id}/progress", headers={"HX-Request": "true"})
    html = running.get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in html and "<html" not in html
    run_campaign(campaign.id)
    done = logged_in_ops.get(f"/campaigns/{campaign.id}/progress", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every 2s" not in done and 'aria-valuenow="100.0"' in done


def test_audit_log_records_who_created_scheduled_paused_and_cancelled(app, channels, login_as):
    from campaigner.audit.models import AuditLog

    editor, ops = login_as("editor"), login_as("ops")
    content = make_content()
    response = editor.post("/campaigns/new", data={"name": "Audited", "content": content, "channel_1": "rec",
                                                   "audience_mode": "expression", "audience": "", "send_mode": "at",
                                                   "send_at": "2030-01-01T09:00", "timezone": "Asia/Shanghai"})
    campaign_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    editor.post(f"/campaigns/{campaign_id}/schedule")
    ops.post(f"/campaigns/{campaign_id}/pause")
    ops.post(f"/campaigns/{campaign_id}/cancel")
    with database.connection_context():
        entries = [(e.action, e.user.email) for e in AuditLog.select().where(
            AuditLog.object_type == "campaign", AuditLog.object_id == str(campaign_id)).order_by(AuditLog.id)]
    assert entries == [("created", editor.user.email), ("scheduled", editor.user.email),
                       ("paused", ops.user.email), ("cancelled", ops.user.email)]
    page = ops.get("/deliveries/audit").get_data(as_text=True)
    assert "cancelled" in page and ops.user.email in page
    assert editor.get("/deliveries/audit").status_code == 403


def test_reschedule_moves_a_campaign_that_has_not_started(app, channels):
    from campaigner.campaigns.services import CampaignError, reschedule_campaign

    make_contacts(1)
    campaign = new_campaign(send_at=utcnow() + dt.timedelta(hours=2))
    later = utcnow() + dt.timedelta(days=1)
    with database.connection_context():
        reschedule_campaign(campaign_row(campaign.id), later)
    assert campaign_row(campaign.id).send_at == later
    run_campaign(campaign.id)  # not due yet: nothing happens
    assert deliveries_of(campaign.id) == [] and campaign_row(campaign.id).status == "scheduled"
    run_campaign(campaign.id, now=later)
    with database.connection_context():
        with pytest.raises(CampaignError):
            reschedule_campaign(campaign_row(campaign.id), later + dt.timedelta(days=1))


def test_calendars_create_campaigns_that_link_back_to_their_entry(app, channels):
    make_contacts(1)
    campaign = new_campaign(origin="calendar_entry:42")
    assert campaign_row(campaign.id).origin == "calendar_entry:42"
