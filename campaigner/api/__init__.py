"""The JSON API at /api/v1: Bearer-token auth, JSON errors, the OpenAPI document.

Feature modules add their endpoints to `bp` (see API_MODULES) with a YAML
operation in each view's docstring after a ``---`` line; /api/v1/openapi.json
is generated from those, so the document can't miss an endpoint.
"""
from __future__ import annotations

import importlib

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from marshmallow import Schema, ValidationError

from campaigner.accounts.services import user_for_token
from campaigner.api.validation import body_problem
from campaigner.permissions import can, permission_for
from campaigner.web import json_error

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Modules that add endpoints to `bp`, imported once below.
API_MODULES = [
    "campaigner.api.core",
    "campaigner.api.campaigns",
    "campaigner.api.deliveries",
    "campaigner.api.plugins",
    "campaigner.api.content",
    "campaigner.api.calendars",
    "campaigner.api.links",
    "campaigner.api.analytics",
    "campaigner.api.audience",
    "campaigner.api.offers",
]


class ApiError(Exception):
    """Raise from an API view to answer ``{"error": message}`` with `status`."""

    def __init__(self, message: str, status: int = 400, **extra):
        super().__init__(message)
        self.message, self.status, self.extra = message, status, extra


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        response = json_error(401, "a valid API token is required: Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="campaigner"'
        return response
    g.api_user = user
    # The role before the body: a forbidden role gets 403 whatever its request holds.
    permission = permission_for(current_app.view_functions.get(request.endpoint), request.method)
    if permission is not None and not can(user, permission):
        return json_error(403, f"your role may not do this (it needs {permission})")
    problem = body_problem(current_app, request.endpoint, request.method, request)
    if problem is not None:
        status, message, field = problem
        return json_error(status, message, **({"field": field} if field else {}))
    return None


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object")
    return data


def load_body(schema: type[Schema], status: int = 422) -> dict:
    """The JSON body loaded by a marshmallow schema (campaigner.api.schemas), or `status` naming each bad field."""
    try:
        return schema().load(json_body())
    except ValidationError as exc:
        fields = {name: "; ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
                  for name, problems in exc.normalized_messages().items()}
        first = next(iter(fields))
        raise ApiError(f"{first}: {fields[first]}", status, field=first, fields=fields) from None


def found(row, message: str):
    """`row`, or a 404 with `message` when the lookup found nothing (None)."""
    if row is None:
        raise ApiError(message, 404)
    return row


def reject_unknown_fields(data: dict, allowed, status: int = 400) -> None:
    """Answer `status` naming the fields of `data` that are not in `allowed`, and those that are."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(f"unknown fields: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}", status)


MAX_PAGE = 1_000_000  # page × per_page stays far inside a 64-bit OFFSET
MAX_ID = 2 ** 63 - 1


def page_args(max_per_page: int, default_per_page: int = 50) -> tuple[int, int]:
    """`page` and `per_page` from the query string, or a 400 that gives their bounds."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        raise ApiError("page and per_page are whole numbers") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= max_per_page:
        raise ApiError(f"page is 1 to {MAX_PAGE:,}; per_page is 1 to {max_per_page}")
    return page, per_page


def limit_arg(maximum: int, default: int = 50) -> int:
    """`limit` from the query string, or a 400 that gives its bounds."""
    try:
        limit = int(request.args.get("limit", default))
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise ApiError(f"limit must be a whole number from 1 to {maximum}")
    return limit


def before_arg() -> int | None:
    """The keyset cursor `before` (the previous page's `next`); None on the first page."""
    before = request.args.get("before", "")
    try:
        value = int(before) if before else None
    except ValueError:
        value = 0
    if value is not None and not 1 <= value <= MAX_ID:
        raise ApiError("before must be an id: the previous page's next")
    return value


def iso_utc(value) -> str | None:
    """A naive UTC datetime as the API writes it, ISO 8601 with Z; None stays None."""
    return value.isoformat() + "Z" if value else None


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    return json_error(exc.status, exc.message, **exc.extra)


@bp.errorhandler(HTTPException)
def api_http_error(exc: HTTPException):
    return json_error(exc.code or 500, exc.description or exc.name)


@bp.route("/openapi.json")
def openapi():
    from campaigner.api.openapi import build_spec

    return jsonify(build_spec(current_app))


for _module in API_MODULES:
    importlib.import_module(_module)
