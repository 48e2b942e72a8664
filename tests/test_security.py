"""Safe by default: every page but the public ones needs a login; the public ones are few and named."""
import pytest

# Endpoints that answer without a login, each for a reason. A new public view must be added here on purpose.
PUBLIC_PREFIXES = (
    "accounts.login",       # the sign-in page
    "htmx_js", "static", "favicon",  # assets
    "api.",                 # the API answers 401 itself (Bearer tokens), except its OpenAPI document
    "unsubscribe.",         # unsubscribe links in emails
    "links.redirect", "links_redirect.",  # short links /s/<code>
    "calendars.feed",       # iCalendar feed behind a secret token
    "content.media_file",   # uploaded images in emails, behind a token signed with the secret key
    "inbound_hooks.",       # providers' callbacks /hooks/<provider>/<account>, each checked by its receiver
)


def _url_for_rule(rule):
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = 1 if "Integer" in converter else "x"
    return rule.build(values)[1]


def test_every_non_public_page_redirects_anonymous_users_to_login(app):
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(PUBLIC_PREFIXES) or "GET" not in rule.methods:
            continue
        url = _url_for_rule(rule)
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (
            f"{rule.endpoint} ({url}) answered {response.status_code} to an anonymous request")
        checked += 1
    assert checked >= 8


def test_every_unsafe_route_refuses_anonymous_users(app):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        unsafe = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not unsafe or rule.endpoint.startswith(PUBLIC_PREFIXES):
            continue
        response = client.open(_url_for_rule(rule), method=sorted(unsafe)[0], csrf=False)
        assert response.status_code in (302, 400, 401, 403), f"{rule.endpoint}: {response.status_code}"


def test_api_endpoints_answer_401_json_without_token(app):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
            continue
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        response = client.open(_url_for_rule(rule), method=method, csrf=False)
        assert response.status_code == 401, f"{rule.endpoint}: {response.status_code}"
        assert "error" in response.get_json()


def test_views_marked_public_are_only_the_known_ones(app):
    public = {endpoint for endpoint, view in app.view_functions.items() if getattr(view, "is_public", False)}
    unexpected = {e for e in public if not e.startswith(PUBLIC_PREFIXES)}
    assert not unexpected, f"views marked @public without being on the list: {unexpected}"


@pytest.mark.parametrize("role,path,allowed", [
    ("editor", "/settings/users", False),
    ("ops", "/settings/users", False),
    ("developer", "/settings/users", False),
    ("admin", "/settings/users", True),
])
def test_roles_on_admin_pages(login_as, role, path, allowed):
    status = login_as(role).get(path).status_code
    assert (status == 200) if allowed else (status == 403)


def test_secret_key_never_reaches_pages(logged_in_admin, app):
    secret = app.config["SECRET_KEY"]
    for path in ("/", "/settings/", "/settings/users"):
        assert secret not in logged_in_admin.get(path).get_data(as_text=True)
