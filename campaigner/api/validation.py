"""Every JSON request body is checked against the schema the OpenAPI document declares for it.

The document is what clients (and fuzzers) read, so the API holds requests to it: a
wrong type (``"title": 5``, ``"channel": [null]``), a missing required field or a
body of the wrong shape is refused with 400 (the document's BadRequest) before the view
runs, and so before anything is written. The shape is what would otherwise crash a view
that trusts it: types, required fields, the alternatives of a oneOf. A value of the right
type that the field does not allow (an enum, a bound, a length) is the view's and its
service's to refuse, with their own message and status (usually 422).
Formats (date, date-time, email) are left to the views, which accept more than the
strict formats (a local time without a zone) and say what is wrong in their own words. The schemas come from the views' docstrings and from the
marshmallow schemas in `campaigner.api.schemas`; they are resolved once per app.
"""
from __future__ import annotations

import re

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator

EXTENSION = "campaigner.api_body_validators"
# The schema keywords that describe a body's shape; the others (enum, bounds, lengths) are left to the views.
SHAPE = {"type", "required", "oneOf", "anyOf", "allOf", "not"}
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _validators(app) -> dict:
    from campaigner.api.openapi import build_spec

    document = build_spec(app)
    validators = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        item = document["paths"].get(_RULE_ARGUMENT.sub(r"{\1}", rule.rule), {})
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            body = (item.get(method.lower()) or {}).get("requestBody") or {}
            schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
            if schema is None:
                continue
            # The components ride along, so "#/components/schemas/…" resolves inside the schema.
            rooted = {**schema, "components": document.get("components", {})}
            validators[rule.endpoint, method] = (bool(body.get("required")), OAS30Validator(rooted))
    return validators


def body_problem(app, endpoint: str, method: str, request) -> tuple[int, str, str | None] | None:
    """(status, message, field) when the request's body breaks its declared schema; None when it is fine."""
    validators = app.extensions.get(EXTENSION)
    if validators is None:
        validators = app.extensions[EXTENSION] = _validators(app)
    entry = validators.get((endpoint, method))
    if entry is None:
        return None
    required, validator = entry
    if not request.get_data(cache=True):
        return (400, "the request body must be a JSON object", None) if required else None
    data = request.get_json(silent=True)
    if data is None:
        return 400, "the request body is not valid JSON", None
    error = best_match(e for e in validator.iter_errors(data) if e.validator in SHAPE)
    if error is None:
        return None
    field = ".".join(str(p) for p in error.absolute_path) or None
    message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    return 400, f"{field}: {message}" if field else message, field
