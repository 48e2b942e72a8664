"""The calendar endpoints of the JSON API: plan a week, publish it, and get 4xx JSON for bad input."""
from __future__ import annotations

import datetime as dt

from tests.fixtures_calendars import CHANNEL, group_chat, make_content, make_members, next_monday  # noqa: F401


def _calendar(client, headers, **fields):
    body = {"name": "Coffee fans", "kind": "community", "channel": CHANNEL, "groups": ["group:coffee-1"],
            "timezone": "Asia/Shanghai", **fields}
    response = client.post("/api/v1/calendars", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_integration_plans_and_publishes_a_week(client, api_token, group_chat):
    headers = api_token("editor")
    calendar = _calendar(client, headers)
    assert calendar["feed_url"].endswith(".ics")
    for weekday, at, theme in [(0, "09:00", "Tips"), (2, "12:00", "Flash sale"), (4, "20:00", "Lucky draw")]:
        response = client.post(f"/api/v1/calendars/{calendar['id']}/slots", headers=headers,
                               json={"weekday": weekday, "time": at, "theme": theme})
        assert response.status_code == 201
    monday = next_monday()
    applied = client.post(f"/api/v1/calendars/{calendar['id']}/apply", json={"start": monday.isoformat()},
                          headers=headers).get_json()
    assert (applied["created"], applied["existing"]) == (3, 0)
    again = client.post(f"/api/v1/calendars/{calendar['id']}/apply", json={"start": monday.isoformat()},
                        headers=headers).get_json()
    assert (again["created"], again["existing"]) == (0, 3)

    listed = client.get(f"/api/v1/calendars/{calendar['id']}/entries?start={monday.isoformat()}",
                        headers=headers).get_json()["items"]
    assert [(e["date"], e["time"], e["theme"], e["status"]) for e in listed] == [
        (monday.isoformat(), "09:00", "Tips", "draft"),
        ((monday + dt.timedelta(days=2)).isoformat(), "12:00", "Flash sale", "draft"),
        ((monday + dt.timedelta(days=4)).isoformat(), "20:00", "Lucky draw", "draft")]
    wednesday = listed[1]
    thursday = (monday + dt.timedelta(days=3)).isoformat()
    content_id = make_content("Flash sale")
    moved = client.patch(f"/api/v1/calendar-entries/{wednesday['id']}", headers=headers,
                         json={"date": thursday, "time": "12:00", "content_id": content_id}).get_json()
    assert (moved["date"], moved["content_id"]) == (thursday, content_id)
    assert moved["send_at"] == f"{thursday}T04:00:00Z"
    approved = client.post(f"/api/v1/calendar-entries/{wednesday['id']}/approve", headers=headers).get_json()
    assert approved["status"] == "scheduled" and approved["campaign_id"]
    assert approved["deliveries_url"] == f"/deliveries/?campaign={approved['campaign_id']}"
    detail = client.get(f"/api/v1/calendar-entries/{wednesday['id']}", headers=headers).get_json()
    assert detail["stats"]["targeted"] == 0 and detail["conflicts"] == []
    unscheduled = client.post(f"/api/v1/calendar-entries/{wednesday['id']}/unschedule", headers=headers).get_json()
    assert (unscheduled["status"], unscheduled["campaign_id"]) == ("draft", None)


def test_bad_input_answers_4xx_json_with_a_message(client, api_token, group_chat):
    headers = api_token("editor")
    invalid = client.post("/api/v1/calendars", json={"name": "", "timezone": "Mars/Base", "channel": CHANNEL},
                          headers=headers)
    assert invalid.status_code == 422
    assert set(invalid.get_json()["fields"]) >= {"name", "timezone"}
    assert client.post("/api/v1/calendars", data="not json", headers=headers).status_code == 400
    assert client.post("/api/v1/calendars", json={"name": "x", "colour": "red"}, headers=headers).status_code == 400
    nulls = client.post("/api/v1/calendars", headers=headers, json={
        "name": None, "kind": None, "channel": None, "groups": None, "timezone": None, "min_gap_minutes": None})
    assert nulls.status_code in (400, 422) and nulls.get_json()["error"]
    calendar = _calendar(client, headers)
    for body in ({"weekday": 9, "time": "09:00"}, {"weekday": 1, "time": "25:99"}, {"weekday": "mon", "time": "09:00"}):
        response = client.post(f"/api/v1/calendars/{calendar['id']}/slots", json=body, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]
    empty = client.post(f"/api/v1/calendars/{calendar['id']}/apply", json={"start": "2030-01-07"}, headers=headers)
    assert empty.status_code == 400 and "no slots" in empty.get_json()["error"]
    assert client.post(f"/api/v1/calendars/{calendar['id']}/apply", json={"start": "soon"},
                       headers=headers).status_code == 400
    entry = client.post(f"/api/v1/calendars/{calendar['id']}/entries", headers=headers,
                        json={"date": "2030-01-07", "time": "09:00", "theme": "one-off"}).get_json()
    refused = client.post(f"/api/v1/calendar-entries/{entry['id']}/approve", headers=headers)
    assert refused.status_code == 409 and "content" in refused.get_json()["error"]
    assert client.patch(f"/api/v1/calendar-entries/{entry['id']}", json={"date": "2030-01-08"},
                        headers=headers).status_code == 400
    assert client.patch(f"/api/v1/calendar-entries/{entry['id']}", json={"content_id": 99999},
                        headers=headers).status_code == 400
    assert client.get("/api/v1/calendar-entries/99999", headers=headers).status_code == 404
    assert client.get("/api/v1/calendars/99999", headers=headers).status_code == 404
    assert client.get(f"/api/v1/calendars/{calendar['id']}/entries?start=2030-01-07&end=2029-01-01",
                      headers=headers).status_code == 400


def test_readers_read_and_only_editors_write(client, api_token, group_chat):
    calendar = _calendar(client, api_token("editor"))
    ops = api_token("ops")
    seen = client.get(f"/api/v1/calendars/{calendar['id']}", headers=ops).get_json()
    assert seen["name"] == "Coffee fans" and "feed_url" not in seen  # the secret stays with editors
    assert client.get("/api/v1/calendars", headers=ops).get_json()["items"][0]["id"] == calendar["id"]
    assert client.patch(f"/api/v1/calendars/{calendar['id']}", json={"name": "x"}, headers=ops).status_code == 403
    assert client.post(f"/api/v1/calendars/{calendar['id']}/feed-token", headers=ops).status_code == 403


def test_openapi_lists_the_calendar_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/calendars", "/api/v1/calendars/{calendar_id}/apply",
            "/api/v1/calendar-entries/{entry_id}/approve"} <= set(paths)
