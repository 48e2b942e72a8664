"""Short-link endpoints: manual links (create, change target and expiry, stats) and a campaign's link expiry.

Reading needs any valid token; making and changing links needs the editor or ops role.
"""
from __future__ import annotations

import datetime as dt

from flask import g, jsonify, request

from campaigner.api import (ApiError, bp, found, iso_utc, json_body, keyset_page, list_json, reject_unknown_fields)
from campaigner.campaigns.models import Campaign
from campaigner.db import utcnow
from campaigner.links.models import ShortLink
from campaigner.links.services import (LinkError, click_counts, clicks_by_day, create_manual_link, manual_links_query,
                                       set_campaign_link_expiry, update_link)
from campaigner.links.shortener import short_url
from campaigner.permissions import requires

MAX_PER_PAGE = 200
LINK_FIELDS = {"target", "label", "expires_at", "expires_in_days"}


def link_json(link: ShortLink, counts: dict | None = None) -> dict:
    """A short link as the API shows it."""
    counts = counts or click_counts([link.id])[link.id]
    return {"id": link.id, "code": link.code, "short_url": short_url(link.code), "target": link.target,
            "label": link.label, "kind": link.kind, "channel": link.channel or None,
            "campaign_id": link.campaign_id, "delivery_id": link.delivery_id, "contact_id": link.contact_id,
            "expires_at": iso_utc(link.expires_at), "expired": link.is_expired(),
            "created_at": iso_utc(link.created_at), "updated_at": iso_utc(link.updated_at),
            "clicks": counts["clicks"], "unique_visitors": counts["unique"], "bot_clicks": counts["bots"]}


def _parse_time(value, name: str):
    """An ISO 8601 time (with an offset, or UTC when it has none) as naive UTC; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(f"{name} must be an ISO 8601 date-time string or null")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(f"{name} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def _expiry(data: dict):
    if "expires_at" in data and "expires_in_days" in data:
        raise ApiError("give expires_at or expires_in_days, not both")
    if "expires_in_days" in data:
        days = data["expires_in_days"]
        if days is None:
            return None
        if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= 3650:
            raise ApiError("expires_in_days must be a whole number from 1 to 3650, or null for never")
        return utcnow() + dt.timedelta(days=days)
    return _parse_time(data.get("expires_at"), "expires_at")


def _link(code: str) -> ShortLink:
    return found(ShortLink.get_or_none(ShortLink.code == code), "no short link with this code")


def _link_error(exc: LinkError):
    return ApiError(str(exc), 422, field=exc.field)


@bp.route("/links", methods=["GET"])
@requires("links.read")
def links_list():
    """Manual short links with their click counts.
    ---
    get:
      summary: List manual short links, newest first
      parameters:
        - {name: q, in: query, schema: {type: string}, description: "matches label, code or target"}
        - cursor
        - limit
      responses:
        200:
          description: A page of links, with the total
          content:
            application/json:
              schema: {allOf: [Page, {properties: {items: {type: array, items: ShortLink}}}]}
    """
    query = manual_links_query(request.args.get("q", "").strip())
    links, next_cursor = keyset_page(query, [ShortLink.created_at, ShortLink.id], MAX_PER_PAGE)
    counts = click_counts([link.id for link in links])
    return list_json([link_json(link, counts[link.id]) for link in links], next_cursor, total=query.count())


@bp.route("/links", methods=["POST"])
@requires("links.write")
def links_create():
    """Make a manual short link.
    ---
    post:
      summary: Make a short link by hand (posters, QR codes, profiles)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [target]
              properties:
                target: {type: string, format: uri, description: an http(s) address}
                label: {type: string}
                expires_at: {type: string, format: date-time, nullable: true, description: "ISO 8601; UTC without an offset; null: never"}
                expires_in_days: {type: integer, minimum: 1, maximum: 3650, nullable: true}
      responses:
        201: {description: The new link, content: {application/json: {schema: ShortLink}}}
        400: BadRequest
        403: Forbidden
        422: {description: The target is not acceptable}
    """
    data = json_body()
    reject_unknown_fields(data, LINK_FIELDS)
    if not isinstance(data.get("target"), str):
        raise ApiError("target is required: an http(s) address")
    label = data.get("label") or ""
    if not isinstance(label, str):
        raise ApiError("label must be a string")
    try:
        link = create_manual_link(data["target"], label=label, expires_at=_expiry(data), user=g.api_user)
    except LinkError as exc:
        raise _link_error(exc) from None
    return jsonify(link_json(link)), 201


@bp.route("/links/<code>", methods=["GET"])
@requires("links.read")
def links_get(code: str):
    """One short link (manual or issued for a campaign) with its clicks.
    ---
    get:
      summary: A short link and its click counts
      responses:
        200: {description: The link, content: {application/json: {schema: ShortLink}}}
        404: NotFound
    """
    return jsonify(link_json(_link(code)))


@bp.route("/links/<code>", methods=["PATCH"])
@requires("links.write")
def links_update(code: str):
    """Change a manual link's target, label or expiry; the redirect follows from the next click on.
    ---
    patch:
      summary: Change a manual short link
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                target: {type: string, format: uri}
                label: {type: string}
                expires_at: {type: string, format: date-time, nullable: true}
                expires_in_days: {type: integer, nullable: true}
      responses:
        200: {description: The changed link, content: {application/json: {schema: ShortLink}}}
        400: BadRequest
        403: {description: "Not allowed, or a campaign's link"}
        404: NotFound
        422: {description: The target is not acceptable}
    """
    link = _link(code)
    if link.kind != "manual":
        raise ApiError("a campaign's links follow its content; only manual links can be changed", 403)
    data = json_body()
    reject_unknown_fields(data, LINK_FIELDS)
    changes = {}
    if "target" in data:
        if not isinstance(data["target"], str):
            raise ApiError("target must be a string")
        changes["target"] = data["target"]
    if "label" in data:
        if not isinstance(data["label"], str):
            raise ApiError("label must be a string")
        changes["label"] = data["label"]
    if "expires_at" in data or "expires_in_days" in data:
        changes["expires_at"] = _expiry(data)
    try:
        update_link(link, user=g.api_user, **changes)
    except LinkError as exc:
        raise _link_error(exc) from None
    return jsonify(link_json(link))


@bp.route("/links/<code>/clicks", methods=["GET"])
@requires("links.clicks")
def links_clicks(code: str):
    """Human clicks and unique visitors of a link per day.
    ---
    get:
      summary: A link's clicks per local day
      parameters:
        - {name: days, in: query, schema: {type: integer, minimum: 1, maximum: 366}, description: "how many days back (default 30)"}
      responses:
        200:
          description: One row per day with clicks
          content:
            application/json:
              schema:
                type: object
                properties:
                  days:
                    type: array
                    items: {type: object, properties: {day: {type: string, format: date}, clicks: {type: integer}, unique_visitors: {type: integer}}}
        404: NotFound
    """
    from campaigner.runtime import current_runtime

    link = _link(code)
    days = request.args.get("days", 30, type=int)
    if days is None or not 1 <= days <= 366:
        raise ApiError("days must be from 1 to 366")
    by_day = clicks_by_day([link.id], utcnow() - dt.timedelta(days=days), current_runtime().settings["TIMEZONE"])
    return jsonify({"code": link.code, "days": [{"day": d.isoformat(), "clicks": v["count"], "unique_visitors": v["unique"]}
                                                for d, v in sorted(by_day.items())]})


@bp.route("/campaigns/<int:campaign_id>/link-expiry", methods=["PUT"])
@requires("links.write")
def campaign_link_expiry(campaign_id: int):
    """Set how many days a campaign's short links live.
    ---
    put:
      summary: Set a campaign's short-link expiry (days; null for the default of the instance)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [days]
              properties:
                days: {type: integer, minimum: 0, maximum: 3650, nullable: true, description: "0: never expire"}
                redate_issued: {type: boolean, description: "also re-date links already issued (from when each was issued)"}
      responses:
        200:
          description: The setting and how many issued links were re-dated
          content:
            application/json:
              schema: {type: object, properties: {campaign_id: {type: integer}, days: {type: integer, nullable: true}, redated: {type: integer}}}
        400: BadRequest
        403: Forbidden
        404: NotFound
        422: {description: Days out of range}
    """
    if not Campaign.select().where(Campaign.id == campaign_id).exists():
        raise ApiError("no campaign with this id", 404)
    data = json_body()
    if "days" not in data:
        raise ApiError("days is required (a whole number, or null for the default)")
    days = data["days"]
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise ApiError("days must be a whole number or null")
    redate = data.get("redate_issued", False)
    if not isinstance(redate, bool):
        raise ApiError("redate_issued must be true or false")
    try:
        redated = set_campaign_link_expiry(campaign_id, days, redate_issued=redate, user=g.api_user)
    except LinkError as exc:
        raise _link_error(exc) from None
    return jsonify({"campaign_id": campaign_id, "days": days, "redated": redated})
