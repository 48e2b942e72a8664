"""The app factory."""
from __future__ import annotations

import logging

from flask import Flask, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_babel import Babel, lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from htmx_flask import Htmx
from werkzeug.exceptions import HTTPException

from campaigner import i18n
from campaigner.db import database
from campaigner.extensions import limiter
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
    ("campaigner.analytics.views", "bp"),
    ("campaigner.links.views", "bp"),
    ("campaigner.links.redirect", "bp"),  # the public /s/<code>
    ("campaigner.plugins_ui.views", "bp"),
    ("campaigner.unsubscribe", "bp"),  # the public /u/<token>
    ("campaigner.settings_ui.views", "bp"),
    ("campaigner.api", "bp"),
]

# The navigation: (endpoint, label, roles that see it; empty = every signed-in user)
NAVIGATION = [
    ("content.index", _l("Content"), ()),
    ("calendars.index", _l("Calendars"), ()),
    ("campaigns.index", _l("Campaigns"), ()),
    ("audience.index", _l("Audience"), ()),
    ("deliveries.index", _l("Deliveries"), ()),
    ("analytics.index", _l("Analytics"), ()),
    ("plugins_ui.index", _l("Plugins"), ("developer", "ops")),
    ("settings_ui.index", _l("Settings"), ()),
]


def create_app(config: dict | None = None) -> Flask:
    import importlib

    settings = load_settings(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=True)
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
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
    Babel(app, locale_selector=i18n.select_locale, timezone_selector=lambda: settings["TIMEZONE"],
          default_translation_directories=i18n.compile_catalogs(settings["INSTANCE_PATH"]))
    _init_login(app)
    _init_database_per_request(app)

    for module_name, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module_name), attr))
    runtime.plugins.hook.register_blueprints(register=app.register_blueprint)
    # The API authenticates each request with a Bearer token, not a cookie. Flask-WTF takes a string
    # as a view's dotted path, so the blueprint object itself is what exempts every API view.
    csrf.exempt(app.blueprints["api"])

    _init_access_control(app)
    _init_errors(app)
    _init_templates(app)

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
    from campaigner.accounts.models import User

    manager = LoginManager(app)
    manager.login_view = "accounts.login"
    manager.login_message = _l("Please sign in to see this page.")
    manager.login_message_category = "info"

    @manager.user_loader
    def load_user(user_id):
        user = User.get_or_none(User.id == int(user_id)) if str(user_id).isdigit() else None
        return user if user and user.active else None

    @manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return json_error(401, "authentication required")
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def _init_database_per_request(app: Flask) -> None:
    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()


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
            for endpoint, label, roles in NAVIGATION:
                if not roles or current_user.has_role(*roles):
                    items.append((endpoint, label))
        return {"navigation": items, "csrf_token": generate_csrf,
                "locales": i18n.LOCALES, "current_locale": i18n.current_locale,
                # The form macros as globals: an htmx partial (one block rendered
                # alone) never runs the template's top-level imports.
                "field": app.jinja_env.get_template("_forms.html").module.field}
