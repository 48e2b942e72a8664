"""Offer endpoints: coupon batches (make, fill with codes, read their figures) and redeeming a code.

Reading needs offers.read, making batches offers.write, redeeming codes coupons.redeem (campaigner.permissions).
"""
from __future__ import annotations

import datetime as dt

from flask import g, jsonify

from campaigner.api import ApiError, bp, found, json_body, keyset_page, list_json, reject_unknown_fields
from campaigner.analytics.services import campaign_family_ids
from campaigner.audience.importer import parse_amount
from campaigner.audience.models import Order
from campaigner.audience.services import AudienceError
from campaigner.campaigns.models import Campaign
from campaigner.campaigns.services import to_utc
from campaigner.db import database
from campaigner.offers import coupons, services
from campaigner.offers.models import CouponBatch
from campaigner.permissions import requires

MAX_PER_PAGE = 200

BATCH_FIELDS = {"name", "kind", "value", "per_contact_limit", "starts_at", "ends_at", "provider", "count", "prefix",
                "codes"}


def batch_json(batch: CouponBatch, figures: bool = False) -> dict:
    """A batch as the API shows it; `figures` adds issued, redeemed, revenue and redemption rate."""
    data = {"id": batch.id, "name": batch.name, "kind": batch.kind, "value": f"{batch.value:.2f}",
            "stock": batch.stock, "per_contact_limit": batch.per_contact_limit,
            "starts_at": _iso(batch.starts_at), "ends_at": _iso(batch.ends_at), "provider": batch.provider}
    if figures:
        data["figures"] = _figures_json(services.coupon_figures(batch_id=batch.id))
    return data


def _figures_json(figures: dict) -> dict:
    return {**figures, "revenue": str(figures["revenue"])}


def _iso(value):
    return value.isoformat() + "Z" if value else None


def _time(data: dict, key: str):
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return to_utc(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise ApiError(f"{key} is an ISO 8601 time", 422, field=key) from None


def _offer_error(exc: coupons.OfferError) -> ApiError:
    return ApiError(str(exc), exc.status, **({"field": exc.field} if exc.field else {}))


def _fill(batch: CouponBatch, data: dict) -> None:
    if data.get("codes") is not None:
        codes = data["codes"]
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ApiError("codes is a list of strings", 422, field="codes")
        services.import_codes(batch, "\n".join(codes), user=g.api_user)
    if data.get("count") is not None:
        services.generate_codes(batch, data["count"], str(data.get("prefix") or ""), user=g.api_user)


@bp.route("/coupon-batches", methods=["GET"])
@requires("offers.read")
def coupon_batches_list():
    """List coupon batches.
    ---
    get:
      summary: Coupon batches, newest first, with what each came to
      parameters:
        - cursor
        - limit
      responses:
        200: {description: "A page of batches", content: {application/json: {schema: Page}}}
    """
    rows, next_cursor = keyset_page(CouponBatch.select(), [CouponBatch.id], MAX_PER_PAGE)
    return list_json([batch_json(b, figures=True) for b in rows], next_cursor)


@bp.route("/coupon-batches", methods=["POST"])
@requires("offers.write")
def coupon_batches_create():
    """Make a coupon batch.
    ---
    post:
      summary: A batch with its value or discount, window and per-contact limit, and generated (count) or imported (codes) codes; all or nothing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                name: {type: string}
                kind: {type: string, enum: [amount, percent]}
                value: {type: string, example: "10.00"}
                per_contact_limit: {type: integer}
                starts_at: {type: string, format: date-time}
                ends_at: {type: string, format: date-time}
                provider: {type: string, description: "a shop plugin's coupon provider; empty: codes kept here"}
                count: {type: integer}
                prefix: {type: string}
                codes: {type: array, items: {type: string}}
      responses:
        201: {description: The batch}
        400: BadRequest
        403: Forbidden
        409: {description: An imported code exists already}
        422: {description: A field is not valid (nothing was written)}
    """
    data = json_body()
    reject_unknown_fields(data, BATCH_FIELDS, 422)
    try:
        with database.atomic():
            batch = services.create_batch(
                name=str(data.get("name") or ""), kind=str(data.get("kind") or "amount"), value=data.get("value"),
                per_contact_limit=data.get("per_contact_limit", 1), starts_at=_time(data, "starts_at"),
                ends_at=_time(data, "ends_at"), provider=str(data.get("provider") or ""), user=g.api_user)
            _fill(batch, data)
    except coupons.OfferError as exc:
        raise _offer_error(exc) from None
    return jsonify(batch_json(CouponBatch.get_by_id(batch.id), figures=True)), 201


@bp.route("/coupon-batches/<int:batch_id>", methods=["GET"])
@requires("offers.read")
def coupon_batches_get(batch_id: int):
    """One coupon batch.
    ---
    get:
      summary: A batch with issued, redeemed, revenue, redemption rate and codes left
      responses:
        200: {description: The batch}
        404: NotFound
    """
    return jsonify(batch_json(found(CouponBatch.get_or_none(CouponBatch.id == batch_id), "no such batch"),
                              figures=True))


@bp.route("/coupon-batches/<int:batch_id>/codes", methods=["POST"])
@requires("offers.write")
def coupon_batches_add_codes(batch_id: int):
    """Add codes to a batch.
    ---
    post:
      summary: Generate `count` codes (with an optional prefix) or import `codes`; all or nothing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                count: {type: integer}
                prefix: {type: string}
                codes: {type: array, items: {type: string}}
      responses:
        200: {description: The batch}
        403: Forbidden
        404: NotFound
        409: {description: An imported code exists already}
        422: {description: Not valid (nothing was written)}
    """
    batch = found(CouponBatch.get_or_none(CouponBatch.id == batch_id), "no such batch")
    data = json_body()
    reject_unknown_fields(data, {"count", "prefix", "codes"}, 422)
    if data.get("count") is None and data.get("codes") is None:
        raise ApiError("give count (to generate) or codes (to import)", 422)
    try:
        with database.atomic():
            _fill(batch, data)
    except coupons.OfferError as exc:
        raise _offer_error(exc) from None
    return jsonify(batch_json(CouponBatch.get_by_id(batch.id), figures=True))


@bp.route("/coupons/redeem", methods=["POST"])
@requires("coupons.redeem")
def coupons_redeem():
    """Redeem a coupon code.
    ---
    post:
      summary: Mark an issued code used, by an order already recorded (order_id) or at the till (amount); the order counts for the campaign the code went out with
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [code]
              properties:
                code: {type: string}
                order_id: {type: string, description: "the order's id as recorded through /orders"}
                amount: {type: string, example: "199.00"}
      responses:
        200: {description: The redeemed code}
        403: Forbidden
        404: {description: No such code or order}
        409: {description: Already redeemed}
        422: {description: "Not issued, expired, or not valid"}
    """
    data = json_body()
    reject_unknown_fields(data, {"code", "order_id", "amount"}, 422)
    if not isinstance(data.get("code"), str):
        raise ApiError("code is a string", 422, field="code")
    order = None
    if data.get("order_id") not in (None, ""):
        if not isinstance(data["order_id"], (str, int)):
            raise ApiError("order_id is text", 422, field="order_id")
        order = found(Order.get_or_none(Order.external_id == str(data["order_id"])), "no such order")
    amount = data.get("amount")
    if amount is not None and order is None:
        try:
            amount = parse_amount(str(amount))
        except AudienceError as exc:
            raise ApiError(str(exc), 422, field="amount") from None
    try:
        code = coupons.redeem(data["code"], order=order, amount=amount)
    except coupons.OfferError as exc:
        raise _offer_error(exc) from None
    return jsonify(code_json(code))


def code_json(code) -> dict:
    """A redeemed or issued code as the API shows it."""
    return {"code": code.code, "status": code.status, "batch_id": code.batch_id, "contact_id": code.contact_id,
            "campaign_id": code.campaign_id, "order_id": code.order_id,
            "amount": None if code.amount is None else f"{code.amount:.2f}", "redeemed_at": _iso(code.redeemed_at)}


@bp.route("/campaigns/<int:campaign_id>/coupons", methods=["GET"])
@requires("offers.read")
def campaign_coupons(campaign_id: int):
    """A campaign's coupon figures.
    ---
    get:
      summary: Issued, redeemed, revenue and redemption rate of the codes a campaign (with its runs) handed out
      responses:
        200: {description: The figures and the batch}
        404: NotFound
    """
    campaign = found(Campaign.get_or_none(Campaign.id == campaign_id), "no such campaign")
    ids = campaign_family_ids(campaign.id)
    batch = coupons.batch_of_campaign(campaign)
    return jsonify({"batch": batch_json(batch) if batch else None,
                    "figures": _figures_json(services.coupon_figures(ids))})
