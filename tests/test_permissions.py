"""One table of who may do what: every page and API operation, for every role, answers as campaigner.permissions says."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from campaigner.permissions import PERMISSIONS, allows, permission_for, role_table
from tests.test_security import PUBLIC_PREFIXES

README = Path(__file__).resolve().parent.parent / "README.md"
ROLES = ("editor", "ops", "developer", "admin")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Signing out ends the walking client's session; tests/test_sessions.py covers both.
NOT_WALKED = {"accounts.logout", "settings_ui.sign_out_everywhere"}


def _url(rule) -> str:
    values = {arg: 1 if "Integer" in type(rule._converters[arg]).__name__ else "x" for arg in rule.arguments}
    return rule.build(values)[1]


def _operations(app, api: bool):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith(PUBLIC_PREFIXES) and not (api and rule.endpoint.startswith("api.")):
            continue
        if rule.endpoint == "api.openapi" or rule.endpoint.startswith("api.") != api or rule.endpoint in NOT_WALKED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_readme_role_table_is_the_permissions_module():
    assert role_table() in README.read_text("utf-8"), "README's role table differs from campaigner.permissions.role_table()"


def test_every_view_declares_a_permission_for_each_method(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "is_public", False) or rule.endpoint in ("static", "api.openapi"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            permission = permission_for(view, method)
            if permission not in PERMISSIONS:
                undeclared.append(f"{rule.endpoint} {method}: {permission}")
    assert not undeclared, undeclared


def test_every_page_for_every_role_answers_as_the_table_says(app, login_as):
    clients = {role: login_as(role) for role in ROLES}
    anonymous = app.test_client()
    wrong, walked = [], 0
    for rule, method in _operations(app, api=False):
        url = _url(rule)
        permission = permission_for(app.view_functions[rule.endpoint], method)
        response = anonymous.open(url, method=method)
        if not (response.status_code == 302 and "/login" in response.headers["Location"]):
            wrong.append(f"anonymous {method} {url}: {response.status_code}")
        for role, client in clients.items():
            status = client.open(url, method=method).status_code
            if allows(role, permission) == (status == 403) or status >= 500 or status == 401:
                wrong.append(f"{role} {method} {url} ({permission}): {status}")
        walked += 1
    assert walked >= 100 and not wrong, "\n".join(wrong)


def test_every_api_operation_for_every_role_answers_as_the_table_says(app, api_token):
    tokens = {role: api_token(role) for role in ROLES}
    client = app.test_client()
    wrong, walked = [], 0
    for rule, method in _operations(app, api=True):
        url = _url(rule)
        permission = permission_for(app.view_functions[rule.endpoint], method)
        status = client.open(url, method=method, csrf=False).status_code
        if status != 401:
            wrong.append(f"anonymous {method} {url}: {status}")
        for role, headers in tokens.items():
            # Forbidden roles send a valid body too: the answer must not depend on it.
            kwargs = {"json": {"name": "x", "title": "x"}} if method in UNSAFE else {}
            status = client.open(url, method=method, headers=headers, **kwargs).status_code
            if allows(role, permission) == (status == 403) or status >= 500 or status == 401:
                wrong.append(f"{role} {method} {url} ({permission}): {status}")
        walked += 1
    assert walked >= 80 and not wrong, "\n".join(wrong)


@pytest.mark.parametrize("url", ["/api/v1/calendar-entries/1/swap", "/api/v1/campaigns/1/reschedule"])
def test_a_forbidden_role_gets_403_before_its_body_is_read(client, api_token, url):
    for body in ({}, {"with": "nothing", "send_at": "not a date"}, None):
        response = client.post(url, headers=api_token("developer"), json=body)
        assert response.status_code == 403, (body, response.status_code)


def test_developers_see_no_contact_personal_data(client, api_token, login_as):
    headers = api_token("developer")
    for url in ("/api/v1/contacts", "/api/v1/contacts/1", "/api/v1/deliveries", "/api/v1/orders", "/api/v1/rfm"):
        assert client.get(url, headers=headers).status_code == 403, url
    developer = login_as("developer")
    for url in ("/audience/", "/deliveries/", "/deliveries/export.csv", "/audience/export.csv"):
        assert developer.get(url).status_code == 403, url
    navigation = developer.get("/").get_data(as_text=True).split("</nav>")[0]
    assert 'href="/audience/"' not in navigation and 'href="/deliveries/"' not in navigation
    assert 'href="/plugins/"' in navigation


def test_editors_manage_the_audience_and_ops_read_it(client, api_token):
    editor, ops = api_token("editor"), api_token("ops")
    created = client.post("/api/v1/contacts", headers=editor, json={"name": "王芳", "phone": "+8613800138000"})
    assert created.status_code == 201, created.get_json()
    assert client.post("/api/v1/tags", headers=editor, json={"key": "vip"}).status_code in (200, 201)
    assert client.get(f"/api/v1/contacts/{created.get_json()['id']}", headers=ops).status_code == 200
    assert client.post("/api/v1/contacts", headers=ops, json={"name": "x"}).status_code == 403


def test_the_role_table_names_only_known_roles():
    assert re.findall(r"^\| `([\w.]+)` \|", role_table(), re.M) == list(PERMISSIONS)


def test_pages_listing_contacts_personal_data_need_contacts_read_pii(app, login_as):
    # A WeCom staff member's customers, a group's members, an inbound payload (numbers, replies).
    for endpoint in ("wecom.staff_detail", "wecom.group_detail", "inbound.detail"):
        assert permission_for(app.view_functions[endpoint], "GET") == "contacts.read_pii", endpoint
    developer = login_as("developer")
    assert developer.get("/inbound/").status_code == 200
    assert [developer.get(url).status_code for url in ("/wecom/staff/1", "/wecom/groups/1", "/inbound/1")] == [403] * 3
