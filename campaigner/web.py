"""Helpers every blueprint uses: page rendering for htmx, access control, JSON errors."""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, jsonify, request
from flask_login import current_user
from jinja2_fragments.flask import render_block
from flask import render_template


def public(view):
    """Mark a view as reachable without login (login, short links, unsubscribe)."""
    view.is_public = True
    return view


def roles_required(*roles: str):
    """Allow only users with one of `roles` (admin always passes)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated or not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorator


def restrict_blueprint(bp, *roles: str) -> None:
    """Every view of `bp` needs one of `roles` (admin always passes)."""

    @bp.before_request
    def _check_role():
        view = current_app.view_functions.get(request.endpoint)
        if getattr(view, "is_public", False):
            return None
        if not current_user.is_authenticated or not current_user.has_role(*roles):
            abort(403)
        return None


def is_htmx() -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")


def render_page(template: str, block: str | None = None, **context):
    """The full page on a normal request; only `block` of the same template on an htmx one.

    One template serves both, so the partial can't drift from the page.
    """
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = current_app.make_response(body)
    response.vary.add("HX-Request")
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response
