"""The delivery log as ops use it: who failed and why, filters, pages, retries, CSV, and the API."""
from __future__ import annotations

import csv
import io

from campaigner import PermanentError
from campaigner.db import database
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    campaign_row, channels, claim_batch, deliveries_of, engine_settings, make_contacts, make_content, new_campaign,
    run_campaign,
)


def failing_campaign(channels, n=6, failing=("c1-", "c4-")):
    make_contacts(n)

    def reject(message, key):
        if message.to.startswith(failing):
            raise PermanentError("mailbox does not exist")

    channels["rec"].behaviour = reject
    campaign = new_campaign(name="Newsletter")
    run_campaign(campaign.id)
    channels["rec"].behaviour = None
    return campaign


def test_ops_get_the_list_of_failed_recipients_with_the_error(app, channels, logged_in_ops):
    campaign = failing_campaign(channels)
    page = logged_in_ops.get(f"/deliveries/?campaign={campaign.id}&status=failed").get_data(as_text=True)
    assert page.count("mailbox does not exist") == 2
    assert "Contact 1" in page and "Contact 4" in page and "Contact 2" not in page
    failed = [d for d in deliveries_of(campaign.id) if d.status == "failed"][0]
    detail = logged_in_ops.get(f"/deliveries/{failed.id}").get_data(as_text=True)
    assert "PermanentError: mailbox does not exist" in detail and failed.idempotency_key in detail


def test_failed_recipients_export_as_csv(app, channels, logged_in_ops):
    campaign = failing_campaign(channels)
    response = logged_in_ops.get(f"/deliveries/export.csv?campaign={campaign.id}&status=failed")
    assert response.mimetype == "text/csv" and response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(r["contact"] for r in rows) == ["Contact 1", "Contact 4"]
    assert {r["error"] for r in rows} == {"PermanentError: mailbox does not exist"}
    everything = list(csv.DictReader(io.StringIO(logged_in_ops.get("/deliveries/export.csv").get_data(as_text=True))))
    assert len(everything) == 6


def test_log_filters_by_channel_contact_and_time_and_explains_bad_values(app, channels, logged_in_ops):
    ids = make_contacts(2)
    make_contacts(1, email=None)
    campaign = new_campaign(channels=("rec", "rec_phone"))
    run_campaign(campaign.id)
    page = logged_in_ops.get("/deliveries/?channel=rec_phone").get_data(as_text=True)
    assert page.count('<span class="badge badge-sent">') == 1
    with database.connection_context():
        from campaigner.audience.models import Contact

        email = Contact.get_by_id(ids[1]).email
    page = logged_in_ops.get(f"/deliveries/?contact={email}").get_data(as_text=True)
    assert "Contact 1" in page and "Contact 0" not in page
    assert "No deliveries match" in logged_in_ops.get("/deliveries/?since=2999-01-01").get_data(as_text=True)
    bad = logged_in_ops.get("/deliveries/?since=yesterday&status=lost")
    assert bad.status_code == 200
    assert "not a date" in bad.get_data(as_text=True) and "unknown status" in bad.get_data(as_text=True)


def test_log_filters_by_calendar_through_the_campaigns_its_entries_made(app, channels, logged_in_ops):
    from campaigner.calendars.models import Calendar, CalendarEntry
    from campaigner.db import utcnow

    make_contacts(2)
    with database.connection_context():
        calendar = Calendar.create(name="Moments")
        entry = CalendarEntry.create(calendar=calendar, send_at=utcnow())
    from_calendar = new_campaign(name="From the calendar", origin=f"calendar_entry:{entry.id}",
                                 caps={"day": 0, "week": 0})
    other = new_campaign(name="Other", caps={"day": 0, "week": 0})
    run_campaign(from_calendar.id)
    run_campaign(other.id)
    page = logged_in_ops.get(f"/deliveries/?calendar={calendar.id}").get_data(as_text=True)
    assert "From the calendar" in page and ">Other<" not in page


def test_log_pages_with_a_keyset_cursor_without_gaps_or_repeats(app, channels, logged_in_ops, engine_settings):
    from campaigner.deliveries.log import LogFilter, log_page

    make_contacts(120)
    campaign = new_campaign()
    run_campaign(campaign.id)
    seen, cursor = [], None
    with database.connection_context():
        while True:
            rows, cursor = log_page(LogFilter(campaign=campaign.id), before=cursor)
            seen += [r["id"] for r in rows]
            if cursor is None:
                break
    assert len(seen) == 120 and len(set(seen)) == 120 and seen == sorted(seen, reverse=True)
    first = logged_in_ops.get("/deliveries/").get_data(as_text=True)
    assert "before=" in first and "Older" in first


def test_ops_retry_all_failed_and_only_the_failed_are_sent_again(app, channels, logged_in_ops, login_as):
    from campaigner.deliveries import engine

    campaign = failing_campaign(channels)
    assert login_as("editor").post("/deliveries/retry-failed", data={"campaign": campaign.id}).status_code == 403
    response = logged_in_ops.post("/deliveries/retry-failed", data={"campaign": campaign.id})
    assert response.status_code == 302
    run_campaign(campaign.id)
    assert {d.status for d in deliveries_of(campaign.id)} == {"sent"}
    keys = channels["rec"].keys()
    assert len(keys) == 6 and len(set(keys)) == 6  # the four sent before got nothing again
    with database.connection_context():
        assert engine.retry_deliveries(campaign_id=campaign.id) == []


def test_ops_retry_one_failed_delivery_and_an_unknown_one_only_when_confirmed(app, channels, logged_in_ops):
    from campaigner.deliveries.models import Delivery

    campaign = failing_campaign(channels)
    failed = [d for d in deliveries_of(campaign.id) if d.status == "failed"]
    logged_in_ops.post(f"/deliveries/{failed[0].id}/retry")
    with database.connection_context():
        assert Delivery.get_by_id(failed[0].id).status == "queued"
        assert Delivery.get_by_id(failed[1].id).status == "failed"
        Delivery.update(status="unknown").where(Delivery.id == failed[1].id).execute()
    logged_in_ops.post(f"/deliveries/{failed[1].id}/retry")
    with database.connection_context():
        assert Delivery.get_by_id(failed[1].id).status == "unknown"
    logged_in_ops.post(f"/deliveries/{failed[1].id}/retry", data={"confirm_unknown": "1"})
    with database.connection_context():
        assert Delivery.get_by_id(failed[1].id).status == "queued"


def test_running_campaigns_show_live_progress_above_the_log_until_done(app, channels, logged_in_ops):
    from campaigner.deliveries import engine

    make_contacts(2)
    campaign = new_campaign(name="Live one")
    with database.connection_context():
        engine.start(campaign.id)
    running = logged_in_ops.get("/deliveries/running", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Live one" in running and 'hx-trigger="every 2s"' in running
    run_campaign(campaign.id)
    done = logged_in_ops.get("/deliveries/running", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Live one" not in done and "every 2s" not in done


def test_api_creates_schedules_and_reads_a_campaign_with_stats(app, channels, api_token):
    make_contacts(3)
    content = make_content()
    client = app.test_client()
    editor = api_token("editor")
    response = client.post("/api/v1/campaigns", headers=editor, json={
        "name": "API campaign", "content_id": content, "channels": ["rec"], "send_at": "2030-05-01T09:00",
        "timezone": "Asia/Shanghai", "schedule": True})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "scheduled" and body["send_at"] == "2030-05-01T01:00:00Z" and body["origin"] == "api"
    assert client.post(f"/api/v1/campaigns/{body['id']}/pause", headers=editor).status_code == 403
    ops = api_token("ops")
    paused = client.post(f"/api/v1/campaigns/{body['id']}/pause", headers=ops, json={"reason": "hold"})
    assert paused.get_json()["status"] == "paused" and paused.get_json()["status_reason"] == "hold"
    again = client.post(f"/api/v1/campaigns/{body['id']}/pause", headers=ops)
    assert again.status_code == 409 and "error" in again.get_json()
    dry = client.get(f"/api/v1/campaigns/{body['id']}/dry-run", headers=ops).get_json()
    assert dry["targeted"] == 3 and dry["by_channel"] == {"rec": 3}
    read = client.get(f"/api/v1/campaigns/{body['id']}", headers=ops).get_json()
    assert read["stats"]["targeted"] == 0 and read["stats"]["sent"] == 0


def test_api_rejects_bad_campaigns_with_a_message_never_a_500(app, channels, api_token):
    content = make_content()
    draft = make_content(status="draft")
    client, editor = app.test_client(), api_token("editor")
    cases = [
        ({"name": "x", "content_id": content, "channels": "rec"}, 400),  # the wrong type: refused before the view
        ({"name": "x", "content_id": content, "channels": ["nope"]}, 422),
        ({"name": "", "content_id": content, "channels": ["rec"]}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "audience": "tag:("}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "send_at": "tomorrow"}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "timezone": "Mars/Base"}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "cron": "every day"}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "throttle_per_minute": 0}, 422),
        ({"name": "x", "content_id": content, "channels": ["rec"], "caps": {"day": "many"}}, 400),
        ({"name": "x", "content_id": content, "channels": ["rec"], "quiet_hours": {"start": "25:00", "end": "1"}}, 422),
        ({"name": "x", "content_id": "1", "channels": ["rec"]}, 400),
        ({"name": "x", "content_id": draft, "channels": ["rec"], "schedule": True}, 409),
        ({"name": "x", "content_id": content, "channels": ["rec"], "color": "red"}, 422),
    ]
    for payload, status in cases:
        response = client.post("/api/v1/campaigns", headers=editor, json=payload)
        assert response.status_code == status, (payload, response.get_json())
        assert response.get_json()["error"]
    assert client.post("/api/v1/campaigns", headers=editor, data="nope").status_code == 400
    assert client.get("/api/v1/campaigns/999", headers=editor).status_code == 404


def test_api_lists_failed_deliveries_pages_them_and_retries(app, channels, api_token):
    campaign = failing_campaign(channels)
    client, ops = app.test_client(), api_token("ops")
    page = client.get(f"/api/v1/deliveries?campaign={campaign.id}&status=failed&limit=1", headers=ops).get_json()
    assert len(page["deliveries"]) == 1 and page["next"]
    rest = client.get(f"/api/v1/deliveries?campaign={campaign.id}&status=failed&before={page['next']}",
                      headers=ops).get_json()
    assert len(rest["deliveries"]) == 1 and rest["next"] is None
    one = page["deliveries"][0]
    assert one["error"] == "PermanentError: mailbox does not exist"
    detail = client.get(f"/api/v1/deliveries/{one['id']}", headers=ops).get_json()
    assert detail["events"][0]["status"] == "failed"
    assert client.get("/api/v1/deliveries?status=lost", headers=ops).status_code == 400
    assert client.post(f"/api/v1/deliveries/{one['id']}/retry", headers=api_token("editor")).status_code == 403
    assert client.post(f"/api/v1/deliveries/{one['id']}/retry", headers=ops).get_json() == {"retried": 1}
    assert client.post(f"/api/v1/deliveries/{one['id']}/retry", headers=ops).status_code == 409
    assert client.post("/api/v1/deliveries/retry-failed", headers=ops,
                       json={"campaign_id": campaign.id}).get_json() == {"retried": 1}


def test_openapi_document_describes_the_campaign_and_delivery_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/{campaign_id}", "/api/v1/campaigns/{campaign_id}/pause",
                 "/api/v1/campaigns/{campaign_id}/dry-run", "/api/v1/deliveries", "/api/v1/deliveries/{delivery_id}/retry",
                 "/api/v1/deliveries/retry-failed"):
        assert path in paths, path
    assert "post" in paths["/api/v1/campaigns"] and "get" in paths["/api/v1/campaigns"]


def test_a_claimed_delivery_shows_as_sending_everywhere_ops_look(app, channels, logged_in_ops, api_token):
    """A claim keeps the stored status (engine.claim); the log, its filters, the stats, CSV and API say "sending"."""
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import campaign_stats
    make_contacts(3)
    campaign = new_campaign()
    with database.connection_context():
        _token, rows = claim_batch(campaign, 2)
        stats = campaign_stats(Campaign.get_by_id(campaign.id))
    claimed = sorted(r[0] for r in rows)
    assert (stats["sending"], stats["queued"]) == (2, 1)
    page = logged_in_ops.get(f"/deliveries/?campaign={campaign.id}&status=sending").get_data(as_text=True)
    assert page.count('<span class="badge badge-sending">') == 2
    page = logged_in_ops.get(f"/deliveries/?campaign={campaign.id}&status=queued").get_data(as_text=True)
    assert page.count('<span class="badge badge-queued">') == 1 and 'badge-sending' not in page
    exported = csv.DictReader(io.StringIO(logged_in_ops.get(f"/deliveries/export.csv?campaign={campaign.id}")
                                          .get_data(as_text=True)))
    assert sorted(int(r["id"]) for r in exported if r["status"] == "sending") == claimed
    body = logged_in_ops.get(f"/api/v1/deliveries?campaign={campaign.id}&status=sending",
                             headers=api_token("ops")).get_json()
    found = body["deliveries"]
    assert sorted(d["id"] for d in found) == claimed and {d["status"] for d in found} == {"sending"}
