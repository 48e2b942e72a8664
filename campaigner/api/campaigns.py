"""Campaign endpoints: list, create, read with stats, dry run, schedule, pause, resume, cancel, reschedule.

Reading needs any valid token; creating and scheduling need the editor role;
pausing, resuming and cancelling need ops (admin passes every check).
"""
from __future__ import annotations

import datetime as dt

from flask import g, jsonify, request

from campaigner.api import (ApiError, bp, found, iso_utc, json_body, keyset_page, limit_arg, list_json,
                            reject_unknown_fields)
from campaigner.campaigns import services
from campaigner.campaigns.models import STATUSES, Campaign
from campaigner.permissions import requires



def campaign_json(campaign: Campaign, stats: bool = True) -> dict:
    """A campaign as the API shows it, with its stats unless told otherwise."""
    data = {"id": campaign.id, "name": campaign.name, "status": campaign.status,
            "status_reason": campaign.status_reason, "content_id": campaign.content_id,
            "channels": list(campaign.channels), "audience": campaign.audience, "segment_id": campaign.segment_id,
            "send_at": iso_utc(campaign.send_at), "timezone": campaign.timezone, "cron": campaign.cron,
            "throttle_per_minute": campaign.throttle_per_minute, "caps": campaign.caps,
            "quiet_hours": campaign.quiet_hours, "origin": campaign.origin, "parent_id": campaign.parent_id,
            "started_at": iso_utc(campaign.started_at), "completed_at": iso_utc(campaign.completed_at),
            "created_at": iso_utc(campaign.created_at)}
    if stats:
        data["stats"] = services.campaign_stats(campaign)
    return data


def _campaign(campaign_id: int) -> Campaign:
    return found(Campaign.get_or_none(Campaign.id == campaign_id), "no campaign with this id")


def _send_at(value, timezone: str | None):
    """An ISO time: with an offset or Z it is absolute; without, it is read in `timezone` (else UTC)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ApiError("send_at must be an ISO 8601 date-time string", 422)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("send_at must be an ISO 8601 date-time string", 422) from None
    if parsed.tzinfo is None and timezone:
        try:
            return services.local_to_utc(parsed, timezone)
        except services.CampaignError as exc:
            raise ApiError(str(exc), 422, code=exc.code) from None
    return parsed


def _error(exc: services.CampaignError) -> ApiError:
    status = 409 if exc.code in ("bad_status", "content_not_approved") else 422
    return ApiError(str(exc), status, code=exc.code)


FIELDS = {"name", "content_id", "channels", "audience", "segment_id", "send_at", "timezone", "cron",
          "throttle_per_minute", "caps", "quiet_hours", "origin", "schedule"}


@bp.route("/campaigns", methods=["GET"])
@requires("campaigns.read")
def campaigns_list():
    """Campaigns, newest first.
    ---
    get:
      summary: 'List campaigns (recurring runs are listed under their parent''s id with parent_id)'
      parameters:
        - {name: status, in: query, schema: {type: string, enum: [draft, scheduled, running, paused, completed, cancelled]}}
        - cursor
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      responses:
        200: {description: A page of campaigns, content: {application/json: {schema: Page}}}
        400: BadRequest
    """
    query = Campaign.select()
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise ApiError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        query = query.where(Campaign.status == status)
    rows, next_cursor = keyset_page(query, [Campaign.id], 200)
    return list_json([campaign_json(c, stats=False) for c in rows], next_cursor)


@bp.route("/campaigns", methods=["POST"])
@requires("campaigns.write")
def campaigns_create():
    """Create a campaign (a draft; with "schedule": true also scheduled).
    ---
    post:
      summary: 'Create a campaign'
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name, content_id, channels]
              properties:
                name: {type: string}
                content_id: {type: integer}
                channels: {type: array, items: {type: string}, description: fallback order}
                audience: {type: string, description: audience expression; empty is everyone}
                segment_id: {type: integer}
                send_at: {type: string, format: date-time, description: "with an offset, or local to timezone"}
                timezone: {type: string}
                cron: {type: string, description: recurring schedule in timezone}
                throttle_per_minute: {type: integer, minimum: 1, maximum: 1000000, nullable: true}
                caps: {type: object, properties: {day: {type: integer}, week: {type: integer}}}
                quiet_hours: {type: object, properties: {start: {type: string}, end: {type: string}, enabled: {type: boolean}}}
                origin: {type: string}
                schedule: {type: boolean}
      responses:
        201: {description: the campaign}
        400: BadRequest
        403: Forbidden
        409: {description: content not approved (with schedule)}
        422: Invalid
    """
    data = json_body()
    reject_unknown_fields(data, FIELDS, 422)
    channels = data.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ApiError("channels must be a list of channel names", 422)
    for key in ("caps", "quiet_hours"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ApiError(f"{key} must be an object", 422)
    if data.get("content_id") is not None and not isinstance(data["content_id"], int):
        raise ApiError("content_id must be an integer", 422)
    try:
        campaign = services.create_campaign(
            name=data.get("name") if isinstance(data.get("name"), str) else "", content=data.get("content_id"),
            channels=channels, audience=str(data.get("audience") or ""), segment=data.get("segment_id"),
            send_at=_send_at(data.get("send_at"), data.get("timezone")), timezone=data.get("timezone"),
            cron=data.get("cron"), throttle_per_minute=data.get("throttle_per_minute"), caps=data.get("caps"),
            quiet_hours=data.get("quiet_hours"), created_by=g.api_user, origin=data.get("origin") or "api")
        if data.get("schedule"):
            services.schedule_campaign(campaign, g.api_user)
    except services.CampaignError as exc:
        raise _error(exc) from None
    return jsonify(campaign_json(campaign)), 201


@bp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@requires("campaigns.read")
def campaigns_get(campaign_id: int):
    """One campaign with its stats.
    ---
    get:
      summary: 'A campaign with targeted, sent, failed, skipped (by reason), deferred, unknown and progress'
      responses:
        200: {description: the campaign}
        404: NotFound
    """
    return jsonify(campaign_json(_campaign(campaign_id)))


@bp.route("/campaigns/<int:campaign_id>/dry-run", methods=["GET"])
@requires("contacts.read_pii")
def campaigns_dry_run(campaign_id: int):
    """What a campaign would do, without sending.
    ---
    get:
      summary: 'Who would get what on which channel, who would be skipped and why'
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500}}
      responses:
        200: {description: "{targeted, by_channel, skipped, deferred, sample: [...]}"}
        404: NotFound
    """
    result = services.dry_run(_campaign(campaign_id), limit=limit_arg(500))
    result["at"] = iso_utc(result["at"])
    for item in result["sample"]:
        item["until"] = iso_utc(item["until"])
    return jsonify(result)


def _action(campaign_id: int, action):
    campaign = _campaign(campaign_id)
    try:
        action(campaign)
    except services.CampaignError as exc:
        raise _error(exc) from None
    return jsonify(campaign_json(Campaign.get_by_id(campaign_id)))


@bp.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
@requires("campaigns.write")
def campaigns_schedule(campaign_id: int):
    """Schedule a draft.
    ---
    post:
      summary: 'Schedule a draft campaign (its content must be approved)'
      responses:
        200: {description: the campaign}
        403: Forbidden
        404: NotFound
        409: {description: "not a draft, or content not approved"}
    """
    return _action(campaign_id, lambda c: services.schedule_campaign(c, g.api_user))


@bp.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@requires("campaigns.operate")
def campaigns_pause(campaign_id: int):
    """Pause.
    ---
    post:
      summary: 'Pause a scheduled or running campaign (ops); optional JSON {"reason"}'
      responses:
        200: {description: the campaign}
        403: Forbidden
        404: NotFound
        409: {description: not pausable}
    """
    data = request.get_json(silent=True) or {}
    reason = str(data.get("reason", ""))[:500] if isinstance(data, dict) else ""
    return _action(campaign_id, lambda c: services.pause_campaign(c, g.api_user, reason=reason))


@bp.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@requires("campaigns.operate")
def campaigns_resume(campaign_id: int):
    """Resume.
    ---
    post:
      summary: 'Resume a paused campaign (ops)'
      responses:
        200: {description: the campaign}
        403: Forbidden
        404: NotFound
        409: {description: not paused}
    """
    return _action(campaign_id, lambda c: services.resume_campaign(c, g.api_user))


@bp.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
@requires("campaigns.operate")
def campaigns_cancel(campaign_id: int):
    """Cancel.
    ---
    post:
      summary: 'Cancel a campaign (ops); nothing not yet handed to a channel is sent'
      responses:
        200: {description: the campaign}
        403: Forbidden
        404: NotFound
        409: {description: already completed or cancelled}
    """
    return _action(campaign_id, lambda c: services.cancel_campaign(c, g.api_user))


@bp.route("/campaigns/<int:campaign_id>/reschedule", methods=["POST"])
@requires("campaigns.write")
def campaigns_reschedule(campaign_id: int):
    """Reschedule.
    ---
    post:
      summary: 'Move a campaign that has not started; JSON {"send_at", "timezone"}'
      responses:
        200: {description: the campaign}
        400: BadRequest
        403: Forbidden
        404: NotFound
        409: {description: already started}
        422: {description: bad time}
    """
    data = json_body()
    send_at = _send_at(data.get("send_at"), data.get("timezone"))
    if send_at is None:
        raise ApiError("send_at is required", 422)
    return _action(campaign_id, lambda c: services.reschedule_campaign(c, send_at, g.api_user))
