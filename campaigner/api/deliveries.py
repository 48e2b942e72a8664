"""Delivery endpoints: the filtered log with a keyset cursor, one delivery with its history, retries (ops)."""
from __future__ import annotations

from flask import g, jsonify, request

from campaigner.api import (ApiError, bp, cursor_arg, found, iso_utc, json_body, limit_arg, list_json, make_cursor)
from campaigner.deliveries import log as delivery_log
from campaigner.deliveries.models import Delivery, DeliveryEvent
from campaigner.deliveries.services import retry_failed
from campaigner.permissions import requires



def delivery_json(item: dict) -> dict:
    """A row of the delivery log as the API shows it."""
    d = item["delivery"]
    return {"id": d.id, "campaign_id": item["campaign_id"], "campaign": item["campaign"],
            "source_type": d.source_type, "source_id": d.source_id, "contact_id": d.contact_id,
            "contact": item["contact"], "channel": d.channel, "status": d.state, "reason": d.reason,
            "attempts": d.attempts, "provider_id": d.provider_id, "details": d.details or {}, "error": d.error,
            "idempotency_key": d.idempotency_key, "created_at": iso_utc(d.created_at), "send_after": iso_utc(d.send_after),
            "sent_at": iso_utc(d.sent_at), "updated_at": iso_utc(d.updated_at)}


def _delivery(delivery_id: int) -> Delivery:
    return found(Delivery.get_or_none(Delivery.id == delivery_id), "no delivery with this id")


@bp.route("/deliveries", methods=["GET"])
@requires("deliveries.read")
def deliveries_list():
    """The delivery log, newest first.
    ---
    get:
      summary: 'Deliveries filtered by campaign, calendar, channel, status, contact and time (keyset pages)'
      parameters:
        - {name: campaign, in: query, schema: {type: integer}}
        - {name: calendar, in: query, schema: {type: integer}}
        - {name: channel, in: query, schema: {type: string}}
        - {name: status, in: query, schema: {type: string, enum: [queued, sending, sent, failed, skipped, deferred, unknown, cancelled]}}
        - {name: contact, in: query, schema: {type: string}, description: "part of a name, email or phone; an id or external id"}
        - {name: since, in: query, schema: {type: string, format: date-time}, description: created at or after (UTC)}
        - {name: until, in: query, schema: {type: string, format: date-time}, description: created before (UTC)}
        - cursor
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 50}}
      responses:
        200: {description: A page of deliveries, content: {application/json: {schema: Page}}}
        400: BadRequest
    """
    filters, errors = delivery_log.LogFilter.from_args(request.args)
    if errors:
        raise ApiError("; ".join(f"{k}: {v}" for k, v in errors.items()), 400, fields=errors)
    position = cursor_arg([Delivery.id])
    rows, before = delivery_log.log_page(filters, before=position[0] if position else None, limit=limit_arg(500))
    return list_json([delivery_json(r) for r in rows], make_cursor([before]) if before else None)


@bp.route("/deliveries/<int:delivery_id>", methods=["GET"])
@requires("deliveries.read")
def deliveries_get(delivery_id: int):
    """One delivery with its history.
    ---
    get:
      summary: 'A delivery and its events (errors, retries, deferrals, unknown outcomes)'
      responses:
        200: {description: the delivery}
        404: NotFound
    """
    delivery = _delivery(delivery_id)
    [item] = delivery_log.describe([delivery])
    data = delivery_json(item)
    data["events"] = [{"at": iso_utc(e.at), "status": e.status, "attempt": e.attempt, "error": e.error,
                       "details": e.details}
                      for e in DeliveryEvent.select().where(DeliveryEvent.delivery == delivery.id).order_by(DeliveryEvent.id)]
    return jsonify(data)


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@requires("deliveries.operate")
def deliveries_retry(delivery_id: int):
    """Retry one failed delivery.
    ---
    post:
      summary: 'Queue a failed delivery again with the same idempotency key (ops); an unknown one only with {"confirm_unknown": true}'
      responses:
        200: {description: "{retried: 1}"}
        403: Forbidden
        404: NotFound
        409: {description: not failed}
    """
    delivery = _delivery(delivery_id)
    data = request.get_json(silent=True)
    confirm = isinstance(data, dict) and data.get("confirm_unknown") is True
    count = retry_failed(ids=[delivery.id], user=g.api_user, include_unknown=confirm)
    if not count:
        raise ApiError(f"a {delivery.status} delivery can't be retried", 409)
    return jsonify({"retried": count})


@bp.route("/deliveries/retry-failed", methods=["POST"])
@requires("deliveries.operate")
def deliveries_retry_failed():
    """Retry every failed delivery of a campaign.
    ---
    post:
      summary: 'Queue every failed delivery of a campaign again (ops); JSON {"campaign_id"}'
      responses:
        200: {description: "{retried: n}"}
        400: BadRequest
        403: Forbidden
        422: {description: no campaign id}
    """
    data = json_body()
    campaign_id = data.get("campaign_id")
    if not isinstance(campaign_id, int):
        raise ApiError("campaign_id (an integer) is required", 422)
    return jsonify({"retried": retry_failed(campaign_id=campaign_id, user=g.api_user)})
