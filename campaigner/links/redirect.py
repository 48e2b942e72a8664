"""The public redirect /s/<code>: only links Campaigner issued, and as cheap as it can be.

A live link is answered by `ShortLinkServer`, a WSGI layer in front of Flask:
one indexed SELECT on a pooled connection, the click appended to the
in-memory buffer, a 302. Through Flask the same request costs about 2 ms here
(a new database connection with its pragmas, the rate limiter, the login
check) and the benchmark target of 1,000 requests/s on two workers would be out
of reach. Everything else — a code never issued (404), an expired link (the
friendly page), a database error — falls through to the Flask view below,
which answers with the app's templates. The view also serves live links when
the layer is not in front (it is installed when this blueprint is registered).
"""
from __future__ import annotations

import logging
import weakref

from flask import Blueprint, Response, abort, current_app, render_template, request

from campaigner.db import SQLITE_PRAGMAS, database, utcnow
from campaigner.links.clicks import ClickRecorder, visitor_key
from campaigner.links.models import ShortLink
from campaigner.links.shortener import CODE_PATTERN
from campaigner.web import public

log = logging.getLogger(__name__)

bp = Blueprint("links_redirect", __name__)

PREFIX = "/s/"


def redirect_headers(target: str) -> list[tuple[str, str]]:
    if not target.isascii():  # stored as URIs already; a header can carry nothing else
        from werkzeug.urls import iri_to_uri

        target = iri_to_uri(target)
    # 302 and no-store: every click reaches us, and a changed target applies at once.
    return [("Location", target), ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
            ("Content-Length", "0")]


def _trigger_processing(count: int) -> None:
    from campaigner.links.tasks import process_clicks_task

    process_clicks_task()


@bp.record_once
def _install(state) -> None:
    app = state.app
    recorder = ClickRecorder(database.obj, on_written=_trigger_processing)
    app.extensions["campaigner_clicks"] = recorder
    app.wsgi_app = ShortLinkServer(app.wsgi_app, app.config["CAMPAIGNER"]["DATABASE_URL"], recorder,
                                   app.secret_key)


def click_recorder(app=None) -> ClickRecorder:
    """The app's click recorder (tests and the analytics pages flush it)."""
    return (app or current_app).extensions["campaigner_clicks"]


def _pooled_database(url: str):
    """Where lookups run: on PostgreSQL the process's own pool (campaigner.db), on SQLite a small pool
    of this server's (the app opens its SQLite connection per request, which a redirect can't afford)."""
    from playhouse.db_url import connect as connect_url

    scheme, rest = url.split("://", 1)
    if scheme == "sqlite":
        return connect_url(f"sqlite+pool://{rest}", pragmas=SQLITE_PRAGMAS, timeout=15,
                           check_same_thread=False, max_connections=32, stale_timeout=600)
    return database


class ShortLinkServer:
    """WSGI middleware that answers GET/HEAD /s/<code> for live links and passes everything else on."""

    def __init__(self, wsgi_app, database_url: str, recorder: ClickRecorder, secret: str):
        self.wsgi_app = wsgi_app
        self.recorder = recorder
        self.secret = secret
        self.db = _pooled_database(database_url)
        self.sql = ("SELECT id, target, expires_at, contact_id FROM short_links WHERE code = "
                    f"{self.db.param}")
        self._parse_time = ShortLink.expires_at.python_value
        if self.db is not database:
            # Its own pool's connections close with the app (tests make many apps in one process).
            weakref.finalize(self, self.db.close_all)

    def lookup(self, code: str):
        """(id, target, expires_at, contact_id) of the link, or None."""
        self.db.connect(reuse_if_open=True)
        try:
            return self.db.execute_sql(self.sql, (code,)).fetchone()
        finally:
            self.db.close()  # back to the pool

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if not path.startswith(PREFIX) or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        code = path[len(PREFIX):]
        if not CODE_PATTERN.match(code):
            return self.wsgi_app(environ, start_response)
        try:
            row = self.lookup(code)
        except Exception:  # noqa: BLE001 - Flask answers instead, with its own connection and error page
            log.exception("short-link lookup failed; answering through the app")
            return self.wsgi_app(environ, start_response)
        if row is None:
            return self.wsgi_app(environ, start_response)
        link_id, target, expires_at, contact_id = row
        if expires_at is not None and self._parse_time(expires_at) <= utcnow():
            return self.wsgi_app(environ, start_response)
        if method == "GET":  # link previewers often probe with HEAD: not a click
            agent = environ.get("HTTP_USER_AGENT", "")
            visitor = visitor_key(self.secret, contact_id, environ.get("REMOTE_ADDR", ""), agent)
            self.recorder.add(link_id, contact_id, visitor, agent)
        start_response("302 Found", redirect_headers(target))
        return [b""]


@bp.route("/s/<code>", methods=["GET", "HEAD"], merge_slashes=False)
@public
def follow(code: str):
    """A short link: the expiry page, 404, or (without the WSGI layer) the redirect itself."""
    if not CODE_PATTERN.match(code):
        abort(404)
    row = (ShortLink.select(ShortLink.id, ShortLink.target, ShortLink.expires_at, ShortLink.contact)
           .where(ShortLink.code == code).tuples().first())
    if row is None:
        abort(404)  # never issued here: no redirect anywhere (no open redirect)
    link_id, target, expires_at, contact_id = row
    if expires_at is not None and expires_at <= utcnow():
        return render_template("links/expired.html", expired_at=expires_at), 410
    if request.method == "GET":
        agent = request.headers.get("User-Agent", "")
        visitor = visitor_key(current_app.secret_key, contact_id, request.remote_addr or "", agent)
        click_recorder().add(link_id, contact_id, visitor, agent)
    return Response(status=302, headers=redirect_headers(target))
