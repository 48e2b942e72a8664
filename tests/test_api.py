"""The JSON API skeleton: tokens, errors, OpenAPI."""
from campaigner.db import database


def test_api_without_token_answers_401_json(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "token" in response.get_json()["error"]


def test_api_with_token_answers(client, api_token):
    response = client.get("/api/v1/me", headers=api_token("ops"))
    assert response.status_code == 200
    assert response.get_json()["role"] == "ops"


def test_revoked_token_is_refused(client, api_token):
    from campaigner.accounts.models import ApiToken

    headers = api_token("ops")
    with database.connection_context():
        ApiToken.update(revoked_at=ApiToken.created_at).execute()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_unknown_api_path_is_json_404(client, api_token):
    response = client.get("/api/v1/nothing-here", headers=api_token())
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_openapi_document_lists_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/me" in document["paths"]


def test_openapi_document_is_valid_openapi_3(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").get_json())


def test_openapi_document_has_an_operation_for_every_api_route(app, client):
    from apispec_webframeworks.flask import FlaskPlugin

    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
            continue
        operations = paths.get(FlaskPlugin.flaskpath2openapi(rule.rule), {})
        missing += [f"{method} {rule.rule}" for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
                    if method.lower() not in operations]
    assert missing == []


def test_token_created_in_ui_works_and_revoked_in_ui_stops(logged_in_editor, client):
    import re

    page = logged_in_editor.post("/settings/tokens", data={"token-name": "laptop"}).get_data(as_text=True)
    token = re.search(r'<code class="token">([^<]+)</code>', page).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from campaigner.accounts.models import ApiToken

    with database.connection_context():
        token_id = ApiToken.get(ApiToken.prefix == token[:10]).id
    logged_in_editor.post(f"/settings/tokens/{token_id}/revoke")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_create_command(runner, app):
    from tests.conftest import make_user

    user = make_user("developer")
    result = runner.invoke(["token", "create", "--email", user.email])
    assert result.exit_code == 0
    assert result.output.strip().startswith("cmp_")
