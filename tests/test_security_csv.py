"""Every CSV export is safe to open in a spreadsheet: no cell starts a formula (OWASP's CSV-injection rule)."""
from __future__ import annotations

import csv
import io

import pytest

from campaigner.db import database
from campaigner.spreadsheet_csv import FORMULA_STARTS, neutralise
from tests.fixtures_engine import channels, new_campaign, run_campaign  # noqa: F401  (fixture)

PAYLOADS = ['=HYPERLINK("https://evil.example","点我")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1"]


def cells(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_safe(found: list[str], *planted: str):
    dangerous = [c for c in found if c.startswith(FORMULA_STARTS)]
    assert not dangerous, dangerous
    for payload in planted:
        assert any(c == "'" + payload for c in found), (payload, found)


@pytest.fixture
def planted(app, api_token, channels):
    """A campaign, a contact, a calendar, a link and a goal each named with a formula; the campaign sent."""
    from campaigner.audience.models import Contact

    admin = api_token("admin")
    client = app.test_client()
    with database.connection_context():
        Contact.create(name=PAYLOADS[1], email="fan@example.com", external_id=PAYLOADS[2], phone="+8613800138000")
    campaign = new_campaign(name=PAYLOADS[0], quiet_hours={"enabled": False})
    run_campaign(campaign.id)
    calendar = client.post("/api/v1/calendars", headers=admin, json={"name": PAYLOADS[0]})
    assert calendar.status_code == 201, calendar.get_json()
    link = client.post("/api/v1/links", headers=admin, json={"target": "https://shop.example.com/a", "label": PAYLOADS[3]})
    assert link.status_code == 201, link.get_json()
    goal = client.post("/api/v1/analytics/goals", headers=admin,
                       json={"name": PAYLOADS[2], "metric": "conversions", "target": 5,
                             "period_start": "2026-01-01", "period_end": "2026-12-31"})
    assert goal.status_code == 201, goal.get_json()
    return {"campaign": campaign.id, "calendar": calendar.get_json()["id"], "link": link.get_json()["id"]}


def test_delivery_log_export(planted, logged_in_ops):
    assert_safe(cells(logged_in_ops.get("/deliveries/export.csv")), PAYLOADS[0])


def test_contacts_export_has_tags_and_is_safe(planted, logged_in_editor):
    found = cells(logged_in_editor.get("/audience/export.csv"))
    assert_safe(found, PAYLOADS[1], PAYLOADS[2])
    assert found[:9] == ["id", "external_id", "name", "email", "phone", "chat_id", "openid", "timezone", "tags"]


def test_links_export(planted, logged_in_ops):
    assert_safe(cells(logged_in_ops.get("/links/export.csv")), PAYLOADS[3])


def test_link_clicks_export(planted, logged_in_ops):
    assert_safe(cells(logged_in_ops.get(f"/links/{planted['link']}/clicks.csv")))


@pytest.mark.parametrize("export", ["campaigns", "calendars", "daily", "channels"])
def test_analytics_overview_exports(planted, logged_in_ops, export):
    expected = {"campaigns": [PAYLOADS[0]], "calendars": [PAYLOADS[0]]}.get(export, [])
    assert_safe(cells(logged_in_ops.get(f"/analytics/?export={export}")), *expected)


@pytest.mark.parametrize("export", ["funnel", "channels", "links"])
def test_campaign_analytics_exports(planted, logged_in_ops, export):
    assert_safe(cells(logged_in_ops.get(f"/analytics/campaigns/{planted['campaign']}?export={export}")))


@pytest.mark.parametrize("export", ["funnel", "entries"])
def test_calendar_analytics_exports(planted, logged_in_ops, export):
    assert_safe(cells(logged_in_ops.get(f"/analytics/calendars/{planted['calendar']}?export={export}")))


def test_rfm_and_goals_exports(planted, logged_in_ops):
    assert_safe(cells(logged_in_ops.get("/analytics/rfm?export=rfm")))
    assert_safe(cells(logged_in_ops.get("/analytics/goals?export=goals")), PAYLOADS[2])


def test_import_errors_export():
    from campaigner.audience.importer import RowError, errors_csv

    # A stored error of the old shape (its reason as text) and one with a code whose parameter is the payload.
    errors = [{"row": 2, "field": PAYLOADS[0], "reason": PAYLOADS[4]},
              RowError(row=3, field=PAYLOADS[1], code="phone_not_a_number", params={"value": PAYLOADS[2]})]
    text = errors_csv(errors).lstrip("\ufeff")
    found = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert_safe(found, PAYLOADS[0], PAYLOADS[4], PAYLOADS[1])


def test_numbers_stay_numbers_and_plain_text_is_untouched():
    assert neutralise(-5) == -5 and neutralise(1.5) == 1.5 and neutralise("王芳") == "王芳"
    assert neutralise("a=b") == "a=b" and neutralise("-") == "'-"
