"""The JSON API at /api/v1: Bearer-token auth, JSON errors, the OpenAPI document.

Feature modules add their endpoints to `bp` (see API_MODULES) with a YAML
operation in each view's docstring after a ``---`` line; /api/v1/openapi.json
is generated from those, so the document can't miss an endpoint.
"""
from __future__ import annotations

import importlib

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from campaigner.accounts.services import user_for_token
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
    return None


def require_role(*roles: str) -> None:
    """Answer 403 unless the token's user has one of `roles` (admin always passes)."""
    if not g.api_user.has_role(*roles):
        raise ApiError("your role may not do this", 403)


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object")
    return data


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
