"""Helpers every blueprint uses: page rendering for htmx, public views, JSON errors (roles: campaigner.permissions)."""
from __future__ import annotations

from flask import current_app, jsonify, request
from jinja2_fragments.flask import render_block
from flask import render_template


def public(view):
    """Mark a view as reachable without login (login, short links, unsubscribe)."""
    view.is_public = True
    return view


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


def render_fragment(template: str, block: str, **context):
    """Only `block` of `template`, htmx or not: for addresses that serve nothing but a fragment (polled counts).

    Opened directly (a bookmark, a crawler), they answer the fragment rather than a page
    whose other blocks would miss their context.
    """
    return current_app.make_response(render_block(template, block, **context))


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response
