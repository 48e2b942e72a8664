"""No input gives a 500, and a refused write stores nothing."""
from __future__ import annotations

import pytest

from campaigner.db import database

HUGE = "99999999999999999999999"


def goal(**fields):
    return {"name": "春季转化", "metric": "conversions", "target": 5, "period_start": "2026-01-01",
            "period_end": "2026-12-31", **fields}


def count(model) -> int:
    with database.connection_context():
        return model.select().count()


@pytest.mark.parametrize("fields", [
    {"period_start": "0177-10-01"}, {"period_end": "9999-12-31"}, {"period_start": "2026-02-30"},
    {"target": "NaN"}, {"target": 10 ** 30}, {"name": 5}, {"name": "x" * 201}, {"metric": ["conversions"]},
    {"extra": 1},
])
def test_a_bad_goal_is_refused_stores_nothing_and_the_goals_stay_readable(client, api_token, logged_in_ops, fields):
    from campaigner.analytics.models import KpiGoal

    headers = api_token("ops")
    response = client.post("/api/v1/analytics/goals", headers=headers, json=goal(**fields))
    assert response.status_code in (400, 422) and response.get_json()["error"], response.get_json()
    assert count(KpiGoal) == 0
    assert client.get("/api/v1/analytics/goals", headers=headers).status_code == 200
    assert logged_in_ops.get("/analytics/goals").status_code == 200


def test_the_goal_form_refuses_a_year_177(logged_in_ops):
    from campaigner.analytics.models import KpiGoal

    response = logged_in_ops.post("/analytics/goals", data={**goal(period_start="0177-10-01")})
    assert response.status_code == 400 and "2000-01-01" in response.get_data(as_text=True)
    assert count(KpiGoal) == 0


@pytest.mark.parametrize("url", [f"/api/v1/contacts/{HUGE}", f"/api/v1/campaigns/{HUGE}", f"/api/v1/deliveries/{HUGE}",
                                 f"/api/v1/calendars/{HUGE}/entries", f"/api/v1/segments/{HUGE}"])
def test_ids_beyond_64_bits_are_404_in_the_api(client, api_token, url):
    assert client.get(url, headers=api_token("admin")).status_code == 404


@pytest.mark.parametrize("url", [f"/audience/contacts/{HUGE}", f"/campaigns/{HUGE}", f"/deliveries/{HUGE}",
                                 f"/audience/?page={HUGE}", f"/links/?page={HUGE}", f"/content/?page={HUGE}",
                                 f"/api/v1/contacts?page={HUGE}", f"/api/v1/deliveries?before={HUGE}"])
def test_numbers_beyond_64_bits_are_a_4xx_on_pages_and_queries(logged_in_admin, api_token, url):
    headers = api_token("admin") if url.startswith("/api/") else {}
    status = logged_in_admin.get(url, headers=headers).status_code
    assert status in (200, 400, 404), (url, status)


def test_a_throttle_beyond_64_bits_is_refused(client, api_token):
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem

    with database.connection_context():
        content = ContentItem.create(title="t", slug="t", body="b", status="approved")
    response = client.post("/api/v1/campaigns", headers=api_token("editor"),
                           json={"name": "c", "content_id": content.id, "channels": ["email"],
                                 "throttle_per_minute": 10 ** 30})
    assert response.status_code in (400, 422) and "throttle" in response.get_json()["error"]
    assert count(Campaign) == 0


@pytest.mark.parametrize("body", [{"channel": [None, None]}, {"expression": 5}, {"expression": ["tag:x"]}, [1, 2], "x"])
def test_wrong_json_types_are_refused_against_the_documented_schema(client, api_token, body):
    response = client.post("/api/v1/audience/count", headers=api_token("editor"), json=body)
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["error"]


def test_content_with_a_number_for_a_title_is_refused_and_not_stored(client, api_token):
    from campaigner.content.models import ContentItem

    response = client.post("/api/v1/content", headers=api_token("editor"), json={"title": 5, "body": "x"})
    assert response.status_code == 400 and response.get_json()["field"] == "title"
    assert count(ContentItem) == 0


@pytest.mark.parametrize("where", ["api_count", "api_contacts", "page"])
def test_deeply_nested_expressions_get_a_clear_400(client, api_token, logged_in_editor, where):
    expression = "NOT " * 500 + "tag:x"
    headers = api_token("editor")
    if where == "api_count":
        response = client.post("/api/v1/audience/count", headers=headers, json={"expression": expression})
    elif where == "api_contacts":
        response = client.get("/api/v1/contacts", headers=headers, query_string={"expression": expression})
    else:
        response = logged_in_editor.get("/audience/", query_string={"expr": expression})
    assert response.status_code in (200, 400), response.status_code
    assert "nests deeper than 50 levels" in response.get_data(as_text=True)


def test_a_contact_name_has_the_same_limit_in_the_api_as_in_the_form(client, api_token, logged_in_editor):
    from campaigner.audience.models import Contact

    long_name = "王" * 100_000
    response = client.post("/api/v1/contacts", headers=api_token("editor"), json={"name": long_name, "external_id": "c-1"})
    assert response.status_code == 422, response.get_json()
    form = logged_in_editor.post("/audience/contacts/new", data={"name": "王" * 256, "external_id": "c-2"})
    assert form.status_code == 400
    assert count(Contact) == 0
    assert client.post("/api/v1/contacts", headers=api_token("editor"), json={"name": "王" * 255, "external_id": "c-1"}).status_code == 201


@pytest.mark.parametrize("url", ["/deliveries/running", "/campaigns/audience-count?audience=tag:vip"])
def test_fragment_addresses_opened_without_htmx_answer(logged_in_admin, url):
    assert logged_in_admin.get(url).status_code == 200


@pytest.mark.parametrize("method, url, kwargs", [
    ("GET", "/api/v1/links?q=a%00b", {}),
    ("POST", "/api/v1/contacts", {"json": {"name": "王\u0000芳", "external_id": "c-1"}}),
])
def test_a_nul_character_is_refused_on_both_backends(client, api_token, method, url, kwargs):
    response = client.open(url, method=method, headers=api_token("editor"), **kwargs)
    assert response.status_code == 400 and "NUL" in response.get_json()["error"]


def test_a_nul_character_in_a_form_is_refused(logged_in_editor):
    response = logged_in_editor.post("/audience/contacts/new", data={"name": "a\x00", "external_id": "c-3"})
    assert response.status_code == 400
