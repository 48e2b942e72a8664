"""Analytics endpoints: funnels, channels compared, daily activity, RFM trend, KPI goals, costs, attribution.

Reading needs any valid token; setting costs and goals, and recomputing attribution, needs the ops role.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import g, jsonify, request

from campaigner.analytics import services
from campaigner.analytics.models import KpiGoal
from campaigner.analytics.timeseries import utc_bounds
from campaigner.api import ApiError, bp, found, json_body, list_json, load_body
from campaigner.api.schemas import GoalIn
from campaigner.audit import record_audit
from campaigner.campaigns.models import Campaign
from campaigner.permissions import requires


def _tz() -> str:
    from campaigner.runtime import current_runtime

    return current_runtime().settings["TIMEZONE"]


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(_tz())).date()


def _range(default_days: int = 30) -> tuple[dt.date, dt.date]:
    today = _today()
    try:
        end = dt.date.fromisoformat(request.args["end"]) if request.args.get("end") else today
        start = (dt.date.fromisoformat(request.args["start"]) if request.args.get("start")
                 else end - dt.timedelta(days=default_days - 1))
    except ValueError:
        raise ApiError("start and end are dates written YYYY-MM-DD") from None
    if start > end:
        raise ApiError("start is after end")
    if (end - start).days > 366:
        raise ApiError("at most 367 days at a time")
    return start, end


def _money(value) -> str | None:
    return None if value is None else str(value)


@bp.route("/analytics/campaigns/<int:campaign_id>/funnel")
@requires("analytics.read")
def analytics_campaign_funnel(campaign_id: int):
    """A campaign's funnel (a recurring campaign with all its runs), in all and by channel.
    ---
    get:
      summary: targeted → sent → delivered → clicked (unique) → converted for a campaign
      responses:
        200:
          description: The funnel and the funnel of each channel
          content:
            application/json:
              schema:
                type: object
                properties:
                  campaign_id: {type: integer}
                  funnel: Funnel
                  channels: {type: object, additionalProperties: {$ref: '#/components/schemas/Funnel'}}
        404: NotFound
    """
    if not Campaign.select().where(Campaign.id == campaign_id).exists():
        raise ApiError("no campaign with this id", 404)
    ids = services.campaign_family_ids(campaign_id)
    return jsonify({"campaign_id": campaign_id, "campaign_ids": ids, "funnel": services.funnel(ids).as_dict(),
                    "channels": {ch: f.as_dict() for ch, f in sorted(services.channel_funnels(ids).items())}})


@bp.route("/analytics/calendars/<int:calendar_id>/funnel")
@requires("analytics.read")
def analytics_calendar_funnel(calendar_id: int):
    """A calendar's funnel over the campaigns that published its entries.
    ---
    get:
      summary: targeted → sent → delivered → clicked (unique) → converted for a calendar
      responses:
        200:
          description: The calendar's funnel
          content:
            application/json:
              schema: {type: object, properties: {calendar_id: {type: integer}, funnel: Funnel}}
        404: NotFound
    """
    from campaigner.calendars.models import Calendar

    if not Calendar.select().where(Calendar.id == calendar_id).exists():
        raise ApiError("no calendar with this id", 404)
    ids = services.calendar_campaign_ids(calendar_id)
    return jsonify({"calendar_id": calendar_id, "campaign_ids": ids, "funnel": services.funnel(ids).as_dict()})


@bp.route("/analytics/channels")
@requires("analytics.read")
def analytics_channels():
    """Channels compared over a range of local days.
    ---
    get:
      summary: Per channel, messages, unique clicks, orders, revenue, cost per message, per click and per conversion
      parameters:
        - start_day
        - end_day
      responses:
        200:
          description: One row per channel
          content:
            application/json:
              schema: {type: object, properties: {channels: {type: array, items: {type: object}}}}
        400: BadRequest
    """
    start, end = _range()
    utc_start, utc_end = utc_bounds(start, end, _tz())
    rows = services.compare_channels(utc_start, utc_end)
    for r in rows:
        for key in ("revenue", "cost_per_message", "cost", "cost_per_click", "cost_per_conversion"):
            r[key] = _money(r[key])
    return jsonify({"start": start.isoformat(), "end": end.isoformat(), "channels": rows})


@bp.route("/analytics/daily")
@requires("analytics.read")
def analytics_daily():
    """Daily activity over a range of local days.
    ---
    get:
      summary: Per day, messages delivered, human clicks, unique visitors, opt-outs and conversions
      parameters:
        - start_day
        - end_day
      responses:
        200:
          description: One row per day
          content:
            application/json:
              schema: {type: object, properties: {days: {type: array, items: {type: object}}}}
        400: BadRequest
    """
    start, end = _range()
    days = services.daily_activity(start, end, _tz())
    return jsonify({"days": [{**d, "day": d["day"].isoformat()} for d in days]})


@bp.route("/analytics/rfm")
@requires("analytics.read")
def analytics_rfm():
    """RFM class and super-user sizes per day.
    ---
    get:
      summary: The daily snapshots of RFM class sizes (rfm:A … rfm:H) and super users
      parameters:
        - start_day
        - end_day
      responses:
        200:
          description: Days and each segment's size on them
          content:
            application/json:
              schema: {type: object, properties: {days: {type: array, items: {type: string, format: date}}, segments: {type: object}}}
    """
    start, end = _range(90)
    days, series = services.rfm_trend(start, end)
    return jsonify({"days": [d.isoformat() for d in days], "segments": series})


def goal_json(progress: dict) -> dict:
    goal = progress["goal"]
    return {"id": goal.id, "name": goal.name, "metric": goal.metric, "target": float(goal.target),
            "period_start": goal.period_start.isoformat(), "period_end": goal.period_end.isoformat(),
            "value": progress["value"], "share_of_target": progress["share"],
            "share_of_time": progress["time_share"], "reached": progress["reached"], "finished": progress["finished"]}


@bp.route("/analytics/goals", methods=["GET"])
@requires("analytics.read")
def analytics_goals():
    """KPI goals and their progress.
    ---
    get:
      summary: Every KPI goal with its value so far
      responses:
        200:
          description: Every goal on one page (`next` is null)
          content:
            application/json:
              schema: Page
    """
    today = _today()
    goals = KpiGoal.select().order_by(KpiGoal.period_end.desc(), KpiGoal.id.desc())
    return list_json([goal_json(services.kpi_progress(goal, _tz(), today)) for goal in goals])


@bp.route("/analytics/goals", methods=["POST"])
@requires("analytics.write")
def analytics_goals_create():
    """Add a KPI goal.
    ---
    post:
      summary: Add a KPI goal (rates and growth in percent)
      requestBody:
        required: true
        content:
          application/json:
            schema: GoalIn
      responses:
        201: {description: The goal and its progress}
        400: BadRequest
        403: Forbidden
    """
    data = load_body(GoalIn, status=400)  # this endpoint has always answered 400 to a bad goal
    try:
        goal = services.create_goal(name=data["name"], metric=data["metric"], target=data["target"],
                                    period_start=data["period_start"], period_end=data["period_end"], user=g.api_user)
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    return jsonify(goal_json(services.kpi_progress(goal, _tz(), _today()))), 201


@bp.route("/analytics/goals/<int:goal_id>", methods=["DELETE"])
@requires("analytics.write")
def analytics_goals_delete(goal_id: int):
    """Delete a KPI goal.
    ---
    delete:
      summary: Delete a KPI goal
      responses:
        204: {description: Deleted}
        403: Forbidden
        404: NotFound
    """
    goal = found(KpiGoal.get_or_none(KpiGoal.id == goal_id), "no goal with this id")
    record_audit(g.api_user, "deleted", goal, summary=goal.name)
    goal.delete_instance()
    return "", 204


@bp.route("/analytics/channel-costs/<channel>", methods=["PUT"])
@requires("analytics.write")
def analytics_channel_cost(channel: str):
    """Set what one message on a channel costs.
    ---
    put:
      summary: Set a channel's cost per message (for cost per click and per conversion)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [cost_per_message]
              properties:
                cost_per_message:
                  description: a number, or a decimal written as text ("0.045")
                  oneOf: [{type: number, minimum: 0}, {type: string, pattern: '^[0-9]+([.][0-9]+)?$'}]
      responses:
        200: {description: Saved}
        400: BadRequest
        403: Forbidden
    """
    data = json_body()
    try:
        cost = Decimal(str(data.get("cost_per_message")))
        if not cost.is_finite() or cost < 0 or cost > 1000:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise ApiError("cost_per_message must be a number from 0 to 1000") from None
    if not channel or len(channel) > 60:
        raise ApiError("a channel name has 1 to 60 characters")
    services.set_channel_cost(channel, cost)
    record_audit(g.api_user, "changed", object_type="channel_cost", object_id=channel, summary=f"{channel}: {cost}")
    return jsonify({"channel": channel, "cost_per_message": str(cost)})


@bp.route("/analytics/attribution", methods=["POST"])
@requires("analytics.write")
def analytics_attribution():
    """Attribute every order again (after changing the window, or importing old orders).
    ---
    post:
      summary: Recompute conversions for every order
      responses:
        200:
          description: How many orders are conversions now
          content:
            application/json:
              schema: {type: object, properties: {conversions: {type: integer}}}
        403: Forbidden
    """
    from campaigner.links.attribution import attribute_all

    converted = attribute_all()
    record_audit(g.api_user, "recomputed", object_type="attribution", summary=f"{converted} conversions")
    return jsonify({"conversions": converted})
