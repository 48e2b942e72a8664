"""The JSON API at /api/v1: Bearer-token auth, JSON errors, the OpenAPI document.

Feature modules add their endpoints to `bp` (see API_MODULES) with a YAML
operation in each view's docstring after a ``---`` line; /api/v1/openapi.json
is generated from those, so the document can't miss an endpoint.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import importlib
import json

import peewee
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


MAX_ID = 2 ** 63 - 1  # the largest id a cursor or a route may name (a 64-bit column)


# ---------------------------------------------------------------- pagination
#
# Every list answers the same way: {"items": [...], "next": <cursor or null>} (plus "total" where
# counting is cheap), asked for with `limit` and `cursor` (the previous answer's `next`). The cursor
# is a keyset position, never an offset, so the thousandth page costs what the first does and rows
# written meanwhile neither repeat nor go missing. It is opaque: clients pass it back as it came.


def limit_arg(maximum: int, default: int = 50) -> int:
    """`limit` from the query string, or a 400 that gives its bounds."""
    try:
        limit = int(request.args.get("limit", default))
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise ApiError(f"limit must be a whole number from 1 to {maximum}")
    return limit


def _encode_cursor(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, dt.datetime) else v for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, order: list) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
        return [dt.datetime.fromisoformat(v) if isinstance(field, peewee.DateTimeField) else
                _bounded_int(v) if isinstance(field, (peewee.AutoField, peewee.IntegerField)) else v
                for field, v in zip(order, values)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError("cursor is not valid: pass the previous answer's next as it came") from None


def _bounded_int(value) -> int:
    number = int(value)
    if not -MAX_ID <= number <= MAX_ID:
        raise ValueError
    return number


def cursor_arg(order: list) -> list | None:
    """The position `cursor` names along `order` (None: the first page), or a 400."""
    cursor = request.args.get("cursor", "")
    return _decode_cursor(cursor, order) if cursor else None


def make_cursor(values: list) -> str:
    """The cursor of the position after a row whose `order` values are `values`."""
    return _encode_cursor(values)


def keyset_page(query, order: list, maximum: int, default: int = 50) -> tuple[list, str | None]:
    """One page of `query` by `limit` and `cursor`, newest first along `order` (its last field unique, an id).

    Returns the rows and the cursor of the next page (None after the last).
    """
    limit = limit_arg(maximum, default)
    values = cursor_arg(order)
    if values is not None:
        after = order[-1] < values[-1]
        for field, value in reversed(list(zip(order[:-1], values[:-1]))):
            after = (field < value) | ((field == value) & after)
        query = query.where(after)
    rows = list(query.order_by(*[field.desc() for field in order]).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor([getattr(rows[-1], field.name) for field in order]) if more else None)


def list_json(items: list, next_cursor: str | None = None, **extra):
    """A list as every list endpoint answers it."""
    return jsonify({"items": items, "next": next_cursor, **extra})


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
