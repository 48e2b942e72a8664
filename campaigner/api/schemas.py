"""Request bodies as marshmallow schemas: one declaration validates the request and documents it.

How an endpoint uses one (the pattern every endpoint moves to):

- declare ``class GoalIn(Schema)`` here and add it to `SCHEMAS`; `build_spec` registers it
  through apispec's MarshmallowPlugin, so the OpenAPI document shows exactly these fields;
- name it in the view's docstring: ``schema: GoalIn``;
- read the body with ``data = load_body(GoalIn)``: a wrong type, a missing field, an
  unknown field, a too-long text or a date out of range is a 422 naming each field,
  before anything is written.

Bodies of endpoints still written with inline YAML schemas are checked against the
document by `campaigner.api.validation`, so the document and the API agree either way.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from campaigner.analytics.models import KPI_METRICS
from campaigner.analytics.services import FIRST_DAY, LAST_DAY

DAY_RANGE = validate.Range(min=FIRST_DAY, max=LAST_DAY, error=f"a day from {FIRST_DAY} to {LAST_DAY}")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE  # an unknown field is an error, not silently dropped


class GoalIn(StrictSchema):
    """A KPI goal to create."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    metric = fields.String(required=True, validate=validate.OneOf(KPI_METRICS))
    target = fields.Float(required=True, allow_nan=False,
                            validate=validate.Range(min=-1000, max=10 ** 12))
    period_start = fields.Date(required=True, validate=DAY_RANGE)
    period_end = fields.Date(required=True, validate=DAY_RANGE)


class AudienceCountIn(StrictSchema):
    """An audience expression to count, optionally only the contacts reachable on a channel."""

    expression = fields.String(load_default="", validate=validate.Length(max=10_000),
                               metadata={"example": 'tag:"渠道:门店" AND (tag:vip OR rfm:A) AND NOT tag:投诉'})
    channel = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    channels = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                           validate=validate.Length(max=20),
                           metadata={"description": "a campaign's channels, in fallback order"})


SCHEMAS = {"GoalIn": GoalIn, "AudienceCountIn": AudienceCountIn}
