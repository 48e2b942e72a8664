"""The app factory."""
from __future__ import annotations

import logging

import peewee

from flask import Flask, abort, current_app, redirect, render_template, request, send_from_directory, session, url_for
from flask_babel import Babel, lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from htmx_flask import Htmx
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from campaigner import i18n, labels, localtime
from campaigner.db import database
from campaigner.accounts.services import session_user
from campaigner.accounts.views import SESSION_KEY
from campaigner.extensions import limiter
from campaigner.permissions import can, permission_for
from campaigner.runtime import start_runtime
from campaigner.settings import load_settings
from campaigner.web import json_error, wants_json

log = logging.getLogger(__name__)

# (module, blueprint attribute); explicit, so what is mounted never depends on import order.
BLUEPRINTS = [
    ("campaigner.accounts.views", "bp"),
    ("campaigner.dashboard.views", "bp"),
    ("campaigner.content.views", "bp"),
    ("campaigner.calendars.views", "bp"),
    ("campaigner.campaigns.views", "bp"),
    ("campaigner.audience.views", "bp"),
    ("campaigner.deliveries.views", "bp"),
    ("campaigner.inbound.views", "bp"),
    ("campaigner.inbound.views", "hooks"),  # the public /hooks/<provider>/<account>, verified by each receiver
    ("campaigner.wecom.views", "bp"),
    ("campaigner.analytics.views", "bp"),
    ("campaigner.offers.views", "bp"),
    ("campaigner.reports.views", "bp"),
    ("campaigner.links.views", "bp"),
    ("campaigner.links.redirect", "bp"),  # the public /s/<code>
    ("campaigner.plugins_ui.views", "bp"),
    ("campaigner.unsubscribe", "bp"),  # the public /u/<token>
    ("campaigner.settings_ui.views", "bp"),
    ("campaigner.api", "bp"),
]

# The navigation: (endpoint, label); a user sees the items whose page their role may open.
NAVIGATION = [
    ("content.index", _l("Content")),
    ("calendars.index", _l("Calendars")),
    ("campaigns.index", _l("Campaigns")),
    ("audience.index", _l("Audience")),
    ("deliveries.index", _l("Deliveries")),
    ("wecom.staff_list", _l("WeCom")),
    ("analytics.index", _l("Analytics")),
    ("offers.index", _l("Offers")),
    ("plugins_ui.index", _l("Plugins")),
    ("settings_ui.index", _l("Settings")),
]


class BoundedIntegerConverter(IntegerConverter):
    """<int:…> as a database id: 0 to 2**63 - 1. A larger number is no row's id, so the router answers 404
    instead of the database overflowing into a 500."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2 ** 63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict | None = None) -> Flask:
    import importlib

    settings = load_settings(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=True)
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Served over https (BASE_URL says so), the cookies never travel in clear text.
        SESSION_COOKIE_SECURE=settings["BASE_URL"].startswith("https://"),
        REMEMBER_COOKIE_SECURE=settings["BASE_URL"].startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI=_rate_limit_storage(settings),
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX=settings.get("QUEUE_NAME", "campaigner"),
        CAMPAIGNER=settings,
    )
    for key in ("TESTING", "WTF_CSRF_ENABLED", "SERVER_NAME"):
        if config and key in config:
            app.config[key] = config[key]

    runtime = start_runtime(settings)
    app.extensions["campaigner"] = runtime

    Htmx(app)
    csrf = CSRFProtect(app)
    limiter.init_app(app)
    Babel(app, locale_selector=i18n.select_locale, timezone_selector=localtime.select_timezone,
          default_translation_directories=i18n.compile_catalogs(settings["INSTANCE_PATH"]))
    _init_login(app)
    _refuse_nul_characters(app)
    _init_database_per_request(app)

    for module_name, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module_name), attr))
    runtime.plugins.hook.register_blueprints(register=app.register_blueprint)
    # The API authenticates each request with a Bearer token, not a cookie. Flask-WTF takes a string
    # as a view's dotted path, so the blueprint object itself is what exempts every API view.
    csrf.exempt(app.blueprints["api"])
    csrf.exempt(app.blueprints["inbound_hooks"])  # providers sign their callbacks; each receiver checks that

    _init_access_control(app)
    _init_errors(app)
    _init_templates(app)
    localtime.register(app)
    labels.register(app)

    @app.route("/vendor/htmx.min.js")
    def htmx_js():
        import js_lib_htmx

        from pathlib import Path

        return send_from_directory(Path(js_lib_htmx.__file__).parent / "static" / "htmx", "htmx.min.js",
                                   max_age=86400)

    htmx_js.is_public = True

    @app.route("/favicon.ico")
    def favicon():
        # Browsers and feed readers ask for /favicon.ico whatever the page's <link rel="icon"> says.
        return send_from_directory(app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)

    favicon.is_public = True
    return app


def _rate_limit_storage(settings: dict) -> str:
    # With Redis at hand every web process shares one count; alone, memory is enough.
    queue = str(settings["QUEUE_URL"])
    return queue if queue.startswith("redis://") else "memory://"


def _init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "accounts.login"
    manager.login_message = _l("Please sign in to see this page.")
    manager.login_message_category = "info"

    @manager.user_loader
    def load_user(user_id):
        # The cookie names a server-side session; one signed out, revoked or idle too long loads no one.
        user = session_user(session.get(SESSION_KEY), app.config["CAMPAIGNER"]["SESSION_IDLE_MINUTES"])
        return user if user is not None and str(user.id) == str(user_id) else None

    @manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return json_error(401, "authentication required")
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def _refuse_nul_characters(app: Flask) -> None:
    """A NUL character in a query, a form or a JSON body is refused with 400 on every route.

    No text the app keeps may hold one (PostgreSQL refuses it in any string), and it is never
    typed by a person: refused at the door, no view has to think about it.
    """

    @app.before_request
    def _no_nul():
        if request.endpoint is None or request.endpoint == "static":
            return None
        found = b"%00" in request.query_string or b"\x00" in request.query_string
        if not found and request.mimetype == "application/x-www-form-urlencoded":
            found = any("\x00" in key or "\x00" in value for key, value in request.form.items(multi=True))
        if not found and request.is_json:
            body = request.get_data(cache=True)
            found = b"\\u0000" in body or b"\x00" in body
        if found:
            abort(400, description="The request holds a NUL character (\\u0000), which no field accepts.")
        return None


def _init_database_per_request(app: Flask) -> None:
    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()


# What a user whose one-time password must be replaced first may reach.
PASSWORD_CHANGE_ENDPOINTS = {"settings_ui.index", "settings_ui.password", "accounts.logout"}


def _init_access_control(app: Flask) -> None:
    """Deny by default: every view needs a signed-in user unless marked @public."""
    from flask_login import login_required  # noqa: F401  (documenting the counterpart)

    @app.before_request
    def _require_login():
        if request.endpoint is None or request.endpoint == "static":
            return None
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "is_public", False) or request.blueprint == "api":
            return None  # the API authenticates with Bearer tokens itself
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("settings_ui.index", change_password=1))
        # The role before the body: a forbidden role gets 403 whatever its request holds.
        permission = permission_for(view, request.method)
        if permission is not None and not can(current_user, permission):
            abort(403)
        return None


def _init_errors(app: Flask) -> None:
    from flask_babel import gettext as _

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        message = _("The form has expired or lacks its security token (CSRF). Reload the page and try again.")
        if wants_json() or request.headers.get("HX-Request"):
            return json_error(400, message)
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(exc):
        messages = {
            403: _("You do not have the role this page needs."),
            404: _("There is nothing at this address."),
            429: _("Too many attempts. Wait a minute and try again."),
        }
        message = messages.get(exc.code, exc.description)
        if wants_json():
            return json_error(exc.code, message)
        return render_template("errors/error.html", code=exc.code, message=message), exc.code

    @app.errorhandler(OverflowError)
    @app.errorhandler(peewee.DataError)  # PostgreSQL's "value out of range" for the same inputs
    def out_of_range(exc):
        # A number or date beyond what the database or the calendar holds, from a query string or a form
        # field no validator bounded: the request is wrong, not the server (the transaction rolled back).
        log.info("out-of-range input on %s %s: %s", request.method, request.path, exc)
        message = _("A number or date in the request is out of range.")
        if wants_json():
            return json_error(400, message)
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = _("Something went wrong on our side; it has been logged.")
        if wants_json():
            return json_error(500, message)
        return render_template("errors/error.html", code=500, message=message), 500


def _init_templates(app: Flask) -> None:
    from flask_wtf.csrf import generate_csrf

    @app.context_processor
    def navigation():
        items = []
        if current_user.is_authenticated:
            for endpoint, label in NAVIGATION:
                permission = permission_for(app.view_functions[endpoint], "GET")
                if permission is None or can(current_user, permission):
                    items.append((endpoint, label))
        return {"navigation": items, "csrf_token": generate_csrf,
                "can": lambda permission: can(current_user, permission),
                "locales": i18n.LOCALES, "current_locale": i18n.current_locale,
                # The form macros as globals: an htmx partial (one block rendered
                # alone) never runs the template's top-level imports.
                "field": app.jinja_env.get_template("_forms.html").module.field}
