"""One pagination style across the API: every list answers {"items", "next"} (+ "total" where counted), asked for
with `limit` and an opaque `cursor`; the OpenAPI document says so for each list, and no endpoint takes pages."""
from __future__ import annotations

import re

import pytest

from campaigner.db import database

# Answers that hold a list but are not lists of things: time series and reports, whole by design.
NOT_LISTS = {
    "/api/v1/analytics/daily",      # one row per day of the asked range
    "/api/v1/analytics/rfm",        # one column per RFM class over the range
    "/api/v1/analytics/channels",   # one row per channel: a report
    "/api/v1/rfm",                  # the last RFM run's report
    "/api/v1/openapi.json",
    "/api/v1/content/export",       # the library as files
    "/api/v1/content/fields",       # the declared personalisation fields
    "/api/v1/plugins",              # the installed plugins, a report
}
OLD_STYLE_PARAMETERS = {"page", "per_page", "before"}


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def _is_page(response: dict) -> bool:
    schema = (response.get("content", {}).get("application/json", {}).get("schema") or {})
    refs = [schema.get("$ref", "")] + [part.get("$ref", "") for part in schema.get("allOf", [])]
    return any(ref.endswith("/Page") for ref in refs)


def test_no_endpoint_takes_page_numbers_or_a_before_id(document):
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                name = parameter.get("name") or parameter.get("$ref", "").rsplit("/", 1)[-1]
                if name in OLD_STYLE_PARAMETERS:
                    found.append(f"{method} {path}: {name}")
    assert found == []


def test_every_list_endpoint_answers_a_page_as_its_document_says(client, api_token, document):
    admin = api_token("admin")
    checked = []
    for path, operations in sorted(document["paths"].items()):
        if "get" not in operations or "{" in path or path in NOT_LISTS:
            continue
        answer = client.get(path, headers=admin)
        assert answer.status_code == 200, (path, answer.get_json())
        body = answer.get_json()
        lists = [key for key, value in body.items() if isinstance(value, list)] if isinstance(body, dict) else ["(a bare list)"]
        if not lists:
            continue  # one thing, not a list
        assert "items" in lists and "next" in body, f"{path} answers {sorted(body)}"
        assert _is_page(operations["get"]["responses"]["200"]), f"{path}: its document does not say Page"
        checked.append(path)
    assert len(checked) >= 10, checked


def test_paging_through_a_list_sees_every_row_once_even_as_rows_are_added(client, api_token):
    editor = api_token("admin")
    for i in range(7):
        assert client.post("/api/v1/contacts", headers=editor, json={"external_id": f"P{i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/contacts", headers=editor, query_string=query).get_json()
        seen += [c["external_id"] for c in page["items"]]
        if not seen[3:]:  # after the first page, someone adds a contact: it is newer, so not on later pages
            client.post("/api/v1/contacts", headers=editor, json={"external_id": "late"})
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"P{i}" for i in reversed(range(7))]


@pytest.mark.parametrize("cursor", ["x", "WyJ4Il0", "WzEsMl0", "eyJhIjoxfQ", "%%%"])
def test_a_bad_cursor_or_limit_is_a_400_naming_it(client, api_token, cursor):
    editor = api_token("editor")
    answer = client.get("/api/v1/contacts", headers=editor, query_string={"cursor": cursor})
    assert answer.status_code == 400 and "cursor" in answer.get_json()["error"]
    for limit in ("0", "many", "100000"):
        answer = client.get("/api/v1/campaigns", headers=editor, query_string={"limit": limit})
        assert answer.status_code == 400 and "limit" in answer.get_json()["error"]


def test_a_list_ordered_by_time_pages_through_equal_times(client, api_token):
    """Orders with the same time are told apart by id, so none is lost or repeated at a page boundary."""
    import datetime as dt

    from campaigner.audience.models import Contact, Order

    editor = api_token("admin")
    with database.connection_context():
        contact = Contact.create(name="王芳")
        at = dt.datetime(2026, 11, 11, 0, 0)
        for i in range(5):
            Order.create(contact=contact, external_id=f"O{i}", amount=10 + i, occurred_at=at)
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/orders", headers=editor,
                          query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [o["order_id"] for o in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"O{i}" for i in range(5)] and len(seen) == 5
    assert re.fullmatch(r"[A-Za-z0-9_-]+", page.get("next") or "x")
