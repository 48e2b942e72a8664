"""Audience endpoints: contacts (create, update, bulk upsert, tag, untag, opt out), tags, segments, orders, RFM.

Reading needs any valid token. Contacts, tags, orders and RFM need the ops or developer
role to write; segments the editor, ops or developer role (admin passes every check).
"""
from __future__ import annotations

from flask import g, jsonify, request

from campaigner.api import ApiError, bp, found, iso_utc, json_body, keyset_page, list_json, load_body, reject_unknown_fields
from campaigner.api.schemas import AudienceCountIn
from campaigner.audience import importer, rfm, services
from campaigner.audience.expressions import ExpressionError, channel_contact_field
from campaigner.audience.models import Contact, OptOut, Order, Segment, Tag, TagGroup
from campaigner.audience.reach import count_reachable
from campaigner.audience.timeline import contact_timeline
from campaigner.audit import record_audit
from campaigner.events.services import collect_events, emit_events, record_event
from campaigner.db import database
from campaigner.permissions import requires
from campaigner.offers.coupons import OfferError
from campaigner.offers.coupons import redeem as redeem_coupon

MAX_PER_PAGE = 200
MAX_BULK = 1000
CONTACT_KEYS = {"external_id", "name", "email", "phone", "chat_id", "openid", "timezone", "attributes"}


def contact_json(contact: Contact, full: bool = True) -> dict:
    """A contact as the API shows it; `full` adds its tags and opt-outs."""
    data = {"id": contact.id, "external_id": contact.external_id, "name": contact.name, "email": contact.email,
            "phone": contact.phone, "chat_id": contact.chat_id, "openid": contact.openid,
            "timezone": contact.timezone, "attributes": contact.attributes or {},
            "created_at": iso_utc(contact.created_at), "updated_at": iso_utc(contact.updated_at)}
    if full:
        data["tags"] = services.contact_tag_keys(contact)
        data["opt_outs"] = [{"channel": o.channel, "at": iso_utc(o.at), "source": o.source}
                            for o in OptOut.select().where(OptOut.contact == contact.id).order_by(OptOut.channel)]
    return data


def segment_json(segment: Segment, count: bool = True) -> dict:
    """A segment as the API shows it, with its current count unless `count` is False."""
    data = {"id": segment.id, "name": segment.name, "expression": segment.expression, "channel": segment.channel,
            "description": segment.description, "created_at": iso_utc(segment.created_at),
            "updated_at": iso_utc(segment.updated_at)}
    if count:
        data["count"] = services.segment_count(segment)
    return data


def order_json(order: Order) -> dict:
    """An order as the API shows it."""
    return {"id": order.id, "contact_id": order.contact_id, "amount": f"{order.amount:.2f}",
            "occurred_at": iso_utc(order.occurred_at), "order_id": order.external_id, "source": order.source}


def _contact(contact_id: int) -> Contact:
    return found(Contact.get_or_none(Contact.id == contact_id), "no contact with this id")


def _invalid(exc: services.AudienceError) -> ApiError:
    return ApiError(exc.message, 422, field=exc.field)


def _expression_error(exc: ExpressionError) -> ApiError:
    return ApiError(exc.message, 400, position=exc.position)


def _contact_fields(data: dict) -> dict:
    reject_unknown_fields(data, CONTACT_KEYS | {"tags"})
    return {k: v for k, v in data.items() if k in CONTACT_KEYS}


def _tag_list(data: dict) -> list[str]:
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ApiError("tags is a list of tag keys (\"vip\", \"渠道:门店\")", 422, field="tags")
    try:
        return [services.clean_tag_key(t) for t in tags]
    except services.AudienceError as exc:
        raise _invalid(exc) from None


# ---------------------------------------------------------------- contacts


@bp.route("/contacts", methods=["GET"])
@requires("contacts.read_pii")
def contacts_list():
    """List contacts, searched and filtered by an audience expression.
    ---
    get:
      summary: List contacts (newest first), with search and an audience expression
      parameters:
        - {name: q, in: query, schema: {type: string}, description: "part of a name, email or phone; or an exact id"}
        - {name: expression, in: query, schema: {type: string}, description: "an audience expression, e.g. tag:vip AND NOT tag:投诉"}
        - cursor
        - limit
      responses:
        200:
          description: One page of contacts, with the total
          content:
            application/json:
              schema: Page
        400: {description: A bad expression (with its position) or bad paging}
    """
    try:
        query = services.contacts_query(request.args.get("q", ""), request.args.get("expression", ""))
        items, next_cursor = keyset_page(query, [Contact.id], MAX_PER_PAGE)
    except ExpressionError as exc:
        raise _expression_error(exc) from None
    return list_json([contact_json(c, full=False) for c in items], next_cursor, total=query.count())


@bp.route("/contacts", methods=["POST"])
@requires("audience.write")
def contacts_create():
    """Create a contact.
    ---
    post:
      summary: Create a contact (phone normalised to E.164, default region CN)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                external_id: {type: string}
                name: {type: string}
                email: {type: string}
                phone: {type: string}
                chat_id: {type: string}
                openid: {type: string}
                timezone: {type: string, example: Asia/Shanghai}
                attributes: {type: object, additionalProperties: {type: string}}
                tags: {type: array, items: {type: string}}
      responses:
        201: {description: The contact}
        400: BadRequest
        403: Forbidden
        409: {description: The external id is taken}
        422: Invalid
    """
    data = json_body()
    fields = _contact_fields(data)
    tags = _tag_list(data)
    try:
        contact = services.create_contact(fields, source="api", tags=tags)
    except services.AudienceError as exc:
        raise ApiError(exc.message, 409 if "taken" in exc.message else 422, field=exc.field) from None
    record_audit(g.api_user, "created", contact, summary=str(contact))
    return jsonify(contact_json(contact)), 201


@bp.route("/contacts/<int:contact_id>", methods=["GET"])
@requires("contacts.read_pii")
def contacts_get(contact_id: int):
    """One contact.
    ---
    get:
      summary: A contact with its tags and opt-outs
      responses:
        200: {description: The contact}
        404: NotFound
    """
    return jsonify(contact_json(_contact(contact_id)))


@bp.route("/contacts/<int:contact_id>", methods=["PATCH"])
@requires("audience.write")
def contacts_update(contact_id: int):
    """Change a contact.
    ---
    patch:
      summary: Change the given fields; attributes are merged (null removes one)
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
      responses:
        200: {description: The contact}
        400: BadRequest
        403: Forbidden
        404: NotFound
        422: Invalid
    """
    contact = _contact(contact_id)
    data = json_body()
    if "tags" in data:
        raise ApiError("change tags with /contacts/{id}/tags and /contacts/{id}/untag")
    try:
        services.update_contact(contact, _contact_fields(data), source="api")
    except services.AudienceError as exc:
        raise ApiError(exc.message, 409 if "taken" in exc.message else 422, field=exc.field) from None
    record_audit(g.api_user, "changed", contact, summary=str(contact))
    return jsonify(contact_json(contact))


@bp.route("/contacts/bulk", methods=["POST"])
@requires("audience.write")
def contacts_bulk():
    """Create or update many contacts at once.
    ---
    post:
      summary: Bulk upsert (up to 1000) — matched by external id, then phone, then email; all or nothing unless skip_bad
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [contacts]
              properties:
                contacts:
                  type: array
                  items:
                    type: object
                    properties:
                      external_id: {type: string}
                      phone: {type: string}
                      email: {type: string}
                      tags: {type: array, items: {type: string}}
                      opt_outs: {type: array, items: {type: string}, description: channels the contact opted out of}
                skip_bad: {type: boolean, description: write the good ones and report the bad}
      responses:
        200:
          description: What was written
          content:
            application/json:
              schema:
                type: object
                properties:
                  created: {type: integer}
                  updated: {type: integer}
                  unchanged: {type: integer}
                  errors: {type: array, items: {type: object}}
        400: BadRequest
        403: Forbidden
        422: {description: Some contacts are not valid; nothing was written (errors name each by index)}
    """
    data = json_body()
    items = data.get("contacts")
    if not isinstance(items, list) or not items:
        raise ApiError("contacts is a non-empty list of objects")
    if len(items) > MAX_BULK:
        raise ApiError(f"at most {MAX_BULK} contacts a request", 413)
    result = importer.upsert_contacts(items, skip_bad_rows=bool(data.get("skip_bad")), source="api")
    errors = [{"index": e.row, "field": e.field, "reason": e.reason, "code": e.code, "params": e.params}
              for e in result.errors]
    if not result.imported:
        raise ApiError(f"{result.skipped} contacts are not valid; nothing was written", 422, errors=errors)
    record_audit(g.api_user, "imported", object_type="contact", summary=f"bulk: {result.created} created, "
                 f"{result.updated} updated")
    return jsonify({"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
                    "skipped": result.skipped, "errors": errors})


@bp.route("/contacts/<int:contact_id>/tags", methods=["POST"])
@requires("audience.write")
def contacts_tag(contact_id: int):
    """Tag a contact.
    ---
    post:
      summary: Add tags to a contact (tags are created as needed)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [tags]
              properties:
                tags: {type: array, items: {type: string}}
                source: {type: string}
      responses:
        200: {description: The tags added and the contact's tags now}
        400: BadRequest
        403: Forbidden
        404: NotFound
    """
    contact = _contact(contact_id)
    data = json_body()
    tags = _tag_list(data)
    if not tags:
        raise ApiError("tags is empty", 422, field="tags")
    added = services.add_tags(contact, tags, source=str(data.get("source") or "api")[:100])
    return jsonify({"added": added, "tags": services.contact_tag_keys(contact)})


@bp.route("/contacts/<int:contact_id>/untag", methods=["POST"])
@requires("audience.write")
def contacts_untag(contact_id: int):
    """Untag a contact.
    ---
    post:
      summary: Remove tags from a contact
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [tags]
              properties:
                tags: {type: array, items: {type: string}}
      responses:
        200: {description: The tags removed and the contact's tags now}
        400: BadRequest
        403: Forbidden
        404: NotFound
    """
    contact = _contact(contact_id)
    removed = services.remove_tags(contact, _tag_list(json_body()), source="api")
    return jsonify({"removed": removed, "tags": services.contact_tag_keys(contact)})


@bp.route("/contacts/<int:contact_id>/opt-out", methods=["POST"])
@requires("audience.write")
def contacts_opt_out(contact_id: int):
    """Opt a contact out of a channel.
    ---
    post:
      summary: 'Opt a contact out of a channel (or back in with "opt_in": true)'
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [channel]
              properties:
                channel: {type: string, example: sms}
                source: {type: string, description: "how the contact asked (default: api)"}
                opt_in: {type: boolean}
      responses:
        200: {description: The contact's opt-outs now}
        400: BadRequest
        403: Forbidden
        404: NotFound
        422: {description: Unknown channel}
    """
    contact = _contact(contact_id)
    data = json_body()
    channel = str(data.get("channel") or "").strip()
    if not channel or channel_contact_field(channel) is None:
        raise ApiError("channel must name a channel (email, sms, chat, miniprogram or a plugin's)", 422,
                       field="channel")
    if data.get("opt_in"):
        changed = services.opt_in(contact, channel, source="api")
    else:
        changed = services.opt_out(contact, channel, source=str(data.get("source") or "api")[:100])
    record_audit(g.api_user, "opted_in" if data.get("opt_in") else "opted_out", contact, summary=channel)
    return jsonify({"changed": changed, "opt_outs": contact_json(contact)["opt_outs"]})


@bp.route("/contacts/<int:contact_id>/timeline", methods=["GET"])
@requires("contacts.read_pii")
def contacts_timeline(contact_id: int):
    """A contact's timeline.
    ---
    get:
      summary: The newest events of a contact (tags, opt-outs, imports, RFM, deliveries, clicks, orders)
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500}}
      responses:
        200: {description: "The `limit` newest events, newest first, on one page (`next` is null)", content: {application/json: {schema: Page}}}
        404: NotFound
    """
    contact = _contact(contact_id)
    limit = request.args.get("limit", 100, type=int) or 100
    entries = contact_timeline(contact, max(1, min(500, limit)))
    return list_json([{"at": iso_utc(e.at), "kind": e.kind, "summary": e.summary, "details": e.details}
                      for e in entries])


# ---------------------------------------------------------------- tags


@bp.route("/tags", methods=["GET"])
@requires("audience.read")
def tags_list():
    """Every tag.
    ---
    get:
      summary: Every tag with its group and how many contacts carry it
      responses:
        200: {description: "Every tag on one page (`next` is null), and the group names", content: {application/json: {schema: Page}}}
    """
    groups = {g.id: g.name for g in TagGroup.select()}
    return list_json([{"id": t.id, "key": t.key, "name": t.name, "group": groups.get(t.group_id),
                       "contacts": t.size, "description": t.description} for t in Tag.select().order_by(Tag.key)],
                     groups=sorted(groups.values()))


@bp.route("/tags", methods=["POST"])
@requires("audience.write")
def tags_create():
    """Create a tag.
    ---
    post:
      summary: Create a tag (its group too, when new)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [key]
              properties:
                key: {type: string, example: "渠道:门店"}
                description: {type: string}
      responses:
        201: {description: The tag}
        400: BadRequest
        403: Forbidden
        409: {description: The tag exists}
        422: {description: Not a tag key}
    """
    data = json_body()
    try:
        key = services.clean_tag_key(str(data.get("key") or ""))
    except services.AudienceError as exc:
        raise _invalid(exc) from None
    if Tag.select().where(Tag.key == key).exists():
        raise ApiError(f"tag {key!r} exists", 409)
    tag = services.ensure_tags([key])[key]
    if data.get("description"):
        tag.description = str(data["description"])[:1000]
        tag.save()
    record_audit(g.api_user, "created", tag, summary=key)
    return jsonify({"id": tag.id, "key": tag.key, "name": tag.name, "contacts": 0, "description": tag.description}), 201


# ---------------------------------------------------------------- segments and counts


@bp.route("/audience/count", methods=["POST"])
@requires("audience.read")
def audience_count():
    """Count an audience expression.
    ---
    post:
      summary: How many contacts an expression selects (with channels, only those reachable on one of them)
      description: >
        Reachable means an address the channel accepts (the SMS channel takes only valid numbers) and no
        opt-out, as a send would decide.
      requestBody:
        required: true
        content:
          application/json:
            schema: AudienceCountIn
      responses:
        200:
          description: The count
          content:
            application/json:
              schema:
                type: object
                properties:
                  count: {type: integer}
        400: {description: The expression has an error at `position` (0-based)}
    """
    data = load_body(AudienceCountIn)
    expression, channel = data["expression"], data["channel"] or None
    channels = data["channels"] or ([channel] if channel else [])
    try:
        count = count_reachable(expression, channels)
    except ExpressionError as exc:
        raise _expression_error(exc) from None
    return jsonify({"count": count, "expression": expression, "channel": channel, "channels": channels})


@bp.route("/segments", methods=["GET"])
@requires("audience.read")
def segments_list():
    """Saved segments with their counts.
    ---
    get:
      summary: Every saved segment with how many contacts it selects now
      responses:
        200: {description: "Every segment on one page (`next` is null)", content: {application/json: {schema: Page}}}
    """
    return list_json([segment_json(s) for s in Segment.select().order_by(Segment.name)])


def _save_segment(data: dict, segment: Segment | None):
    base = segment or Segment(name="", expression="", channel=None, description="")
    name = data.get("name", base.name)
    expression = data.get("expression", base.expression)
    channel = data.get("channel", base.channel)
    description = data.get("description", base.description)
    if not all(isinstance(v, str) for v in (name, expression, description)) or not (channel is None or isinstance(channel, str)):
        raise ApiError("name, expression, channel and description are text", 422)
    try:
        return services.save_segment(name, expression, channel, description, g.api_user, segment)
    except ExpressionError as exc:
        raise _expression_error(exc) from None
    except services.AudienceError as exc:
        raise ApiError(exc.message, 409 if "exists" in exc.message else 422, field=exc.field) from None


@bp.route("/segments", methods=["POST"])
@requires("audience.write")
def segments_create():
    """Save a segment.
    ---
    post:
      summary: Save an audience expression as a named segment
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                expression: {type: string}
                channel: {type: string, nullable: true}
                description: {type: string}
      responses:
        201: {description: The segment with its count}
        400: {description: The expression has an error at `position`}
        403: Forbidden
        409: {description: The name is taken}
    """
    segment = _save_segment(json_body(), None)
    record_audit(g.api_user, "created", segment, summary=f"{segment.name}: {segment.expression}")
    return jsonify(segment_json(segment)), 201


def _segment(segment_id: int) -> Segment:
    return found(Segment.get_or_none(Segment.id == segment_id), "no segment with this id")


@bp.route("/segments/<int:segment_id>", methods=["GET"])
@requires("audience.read")
def segments_get(segment_id: int):
    """One segment with its count.
    ---
    get:
      summary: A saved segment and how many contacts it selects now
      responses:
        200: {description: The segment}
        404: NotFound
    """
    return jsonify(segment_json(_segment(segment_id)))


@bp.route("/segments/<int:segment_id>", methods=["PATCH"])
@requires("audience.write")
def segments_update(segment_id: int):
    """Change a segment.
    ---
    patch:
      summary: Change a segment's name, expression, channel or description
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
      responses:
        200: {description: The segment}
        400: {description: The expression has an error at `position`}
        403: Forbidden
        404: NotFound
    """
    segment = _save_segment(json_body(), _segment(segment_id))
    record_audit(g.api_user, "changed", segment, summary=f"{segment.name}: {segment.expression}")
    return jsonify(segment_json(segment))


@bp.route("/segments/<int:segment_id>", methods=["DELETE"])
@requires("audience.write")
def segments_delete(segment_id: int):
    """Delete a segment.
    ---
    delete:
      summary: Delete a segment no campaign or calendar uses
      responses:
        204:
          description: Deleted
        403: Forbidden
        404: NotFound
        409: {description: A campaign or calendar uses it}
    """
    segment = _segment(segment_id)
    try:
        services.delete_segment(segment)
    except services.AudienceError as exc:
        raise ApiError(f"the segment is {exc.message}", 409) from None
    record_audit(g.api_user, "deleted", object_type="segment", object_id=segment_id, summary=segment.name)
    return "", 204


# ---------------------------------------------------------------- orders and RFM


def _order_contact(ref) -> Contact:
    if isinstance(ref, int) and not isinstance(ref, bool):
        contact = Contact.get_or_none(Contact.id == ref)
    elif isinstance(ref, dict):
        if ref.get("id") is not None:
            contact = Contact.get_or_none(Contact.id == ref["id"]) if isinstance(ref["id"], int) else None
        else:
            try:
                ident = services.clean_contact_fields({k: ref[k] for k in ("external_id", "phone", "email") if k in ref})
            except services.AudienceError as exc:
                raise _invalid(exc) from None
            contact = services.find_contact(**{k: v for k, v in ident.items() if v}) if any(ident.values()) else None
    else:
        raise ApiError("contact is an id or an object with id, external_id, phone or email", 422, field="contact")
    if contact is None:
        raise ApiError("no such contact", 422, field="contact")
    return contact


def _order_row(item) -> dict:
    if not isinstance(item, dict):
        raise ApiError("each order is an object", 422)
    contact = _order_contact(item.get("contact"))
    try:
        amount = importer.parse_amount(str(item.get("amount", "")))
        occurred = item.get("occurred_at")
        occurred_at = importer.parse_time(str(occurred)) if occurred else None
    except services.AudienceError as exc:
        raise _invalid(exc) from None
    if occurred_at is None:
        raise ApiError("occurred_at is required (ISO 8601; without an offset it is UTC)", 422, field="occurred_at")
    order_id = item.get("order_id")
    if order_id is not None and not isinstance(order_id, (str, int)):
        raise ApiError("order_id is text", 422, field="order_id")
    coupon = item.get("coupon")
    if coupon is not None and not isinstance(coupon, str):
        raise ApiError("coupon is a code (text)", 422, field="coupon")
    return {"contact": contact.id, "amount": amount, "occurred_at": occurred_at,
            "external_id": str(order_id)[:255] if order_id not in (None, "") else None,
            "source": str(item.get("source") or "api")[:255], "coupon": coupon or None}


@bp.route("/orders", methods=["POST"])
@requires("orders.write")
def orders_create():
    """Record orders.
    ---
    post:
      summary: 'Record one order, or many with {"orders": [...]} (all or nothing); an order id already recorded is skipped'
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                contact: {description: "a contact id, or {external_id | phone | email}"}
                amount: {type: string, example: "199.00"}
                occurred_at: {type: string, format: date-time}
                order_id: {type: string}
                source: {type: string}
                coupon: {type: string, description: "a coupon code the order used: redeemed with it"}
                orders: {type: array, items: {type: object}}
      responses:
        201: {description: The orders recorded}
        400: BadRequest
        403: Forbidden
        422: {description: An order is not valid (nothing was recorded)}
    """
    data = json_body()
    items = data["orders"] if "orders" in data else [data]
    if not isinstance(items, list) or not items:
        raise ApiError("orders is a non-empty list", 422)
    if len(items) > MAX_BULK:
        raise ApiError(f"at most {MAX_BULK} orders a request", 413)
    rows = []
    for index, item in enumerate(items):
        try:
            rows.append(_order_row(item))
        except ApiError as exc:
            if len(items) > 1:
                exc.extra["index"] = index
            raise
    ids = [r["external_id"] for r in rows if r["external_id"]]
    if len(ids) != len(set(ids)):
        raise ApiError("an order id appears twice", 422, field="order_id")
    existing = {o for (o,) in Order.select(Order.external_id).where(Order.external_id.in_(ids)).tuples()} if ids else set()
    created = []
    with collect_events() as events, database.atomic():
        for row in rows:
            coupon = row.pop("coupon")
            if row["external_id"] in existing:
                continue
            order = Order.create(**row)
            created.append(order)
            record_event("order_placed", order.contact_id, source=order.source or "api", at=order.occurred_at,
                         details={"order_id": order.external_id or "", "amount": str(order.amount)})
            if coupon:  # the order used a code: it counts for the campaign the code went out with
                try:
                    redeem_coupon(coupon, order=order)
                except OfferError as exc:
                    raise ApiError(str(exc), 422, field="coupon") from None
    emit_events(events)
    return jsonify({"created": [order_json(o) for o in created],
                    "skipped_existing": len(rows) - len(created)}), 201


@bp.route("/orders", methods=["GET"])
@requires("contacts.read_pii")
def orders_list():
    """List orders.
    ---
    get:
      summary: Orders, newest first, optionally of one contact
      parameters:
        - {name: contact_id, in: query, schema: {type: integer}}
        - cursor
        - limit
      responses:
        200: {description: One page of orders with the total, content: {application/json: {schema: Page}}}
        400: BadRequest
    """
    query = Order.select()
    if request.args.get("contact_id"):
        contact_id = request.args.get("contact_id", type=int)
        if contact_id is None:
            raise ApiError("contact_id is a whole number")
        query = query.where(Order.contact == contact_id)
    rows, next_cursor = keyset_page(query, [Order.occurred_at, Order.id], MAX_PER_PAGE)
    return list_json([order_json(o) for o in rows], next_cursor, total=query.count())


@bp.route("/rfm", methods=["GET"])
@requires("contacts.read_pii")
def rfm_get():
    """The last RFM report.
    ---
    get:
      summary: Each RFM class's size and GMV share, the super users and the thresholds used
      responses:
        200: {description: The report (null before the first computation)}
    """
    return jsonify({"report": rfm.last_report(), "configured_thresholds": rfm.configured_thresholds()})


@bp.route("/rfm/recompute", methods=["POST"])
@requires("audience.write")
def rfm_recompute():
    """Recompute RFM now.
    ---
    post:
      summary: Recompute RFM classes and super users now, optionally with new thresholds (null = the median)
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                thresholds:
                  type: object
                  properties:
                    recency_days: {type: number, nullable: true}
                    frequency: {type: number, nullable: true}
                    monetary: {type: number, nullable: true}
      responses:
        200: {description: The new report}
        403: Forbidden
        422: {description: A threshold is not a number of zero or more}
    """
    data = request.get_json(silent=True) or {}
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object")
    if "thresholds" in data:
        thresholds = data["thresholds"]
        if not isinstance(thresholds, dict):
            raise ApiError("thresholds is an object", 422)
        try:
            rfm.set_thresholds(**{k: thresholds.get(k) for k in ("recency_days", "frequency", "monetary")})
        except (ValueError, ArithmeticError):
            raise ApiError("thresholds are numbers of zero or more (null: the median)", 422) from None
    report = rfm.recompute_rfm()
    record_audit(g.api_user, "recomputed", object_type="rfm", summary=f"{report['contacts']} contacts")
    return jsonify({"report": report})

