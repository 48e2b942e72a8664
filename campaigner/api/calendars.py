"""Calendar endpoints: calendars, weekly template slots, applying a template, entries and their publishing.

Reading needs any valid token; planning and publishing need the editor role
(admin passes). Times go in and out as wall-clock date + time in the
calendar's zone, plus ``send_at`` in UTC (ISO 8601 with ``Z``).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, g, jsonify, request

from campaigner.api import ApiError, bp, found, iso_utc, json_body, list_json, reject_unknown_fields
from campaigner.audit import record_audit
from campaigner.calendars import publishing, services
from campaigner.calendars.conflicts import find_conflicts
from campaigner.calendars.models import Calendar, CalendarEntry, WeeklySlot
from campaigner.content.models import ContentItem
from campaigner.calendars.services import CalendarData, CalendarError, SlotData
from campaigner.permissions import can, requires

CALENDAR_FIELDS = {"name", "kind", "channel", "audience", "segment_id", "groups", "timezone", "min_gap_minutes"}


def _refused(exc: CalendarError, status: int = 409) -> ApiError:
    return ApiError(str(exc), status)


def calendar_json(calendar: Calendar, full: bool = False) -> dict:
    data = {"id": calendar.id, "name": calendar.name, "kind": calendar.kind, "channel": calendar.channel,
            "audience": calendar.audience, "segment_id": calendar.segment_id, "groups": list(calendar.groups or []),
            "timezone": calendar.timezone, "min_gap_minutes": calendar.min_gap_minutes,
            "effective_audience": services.effective_audience(calendar)}
    if full:
        data["slots"] = [slot_json(s) for s in services.template_slots(calendar)]
        if can(g.api_user, "calendars.write"):
            base = current_app.config["CAMPAIGNER"]["BASE_URL"].rstrip("/")
            data["feed_url"] = f"{base}/calendars/{calendar.id}/feed/{calendar.feed_token}.ics"
    return data


def slot_json(slot: WeeklySlot) -> dict:
    return {"id": slot.id, "weekday": slot.weekday, "time": slot.time.strftime("%H:%M"), "theme": slot.theme,
            "content_kind": slot.content_kind, "content_id": slot.content_id, "rotation_tag": slot.rotation_tag}


def entry_json(entry: CalendarEntry, status: str | None = None, conflicts=None) -> dict:
    local = services.utc_to_local(entry.send_at, entry.calendar.timezone)
    data = {"id": entry.id, "calendar_id": entry.calendar_id, "slot_id": entry.slot_id,
            "slot_date": entry.slot_date.isoformat() if entry.slot_date else None,
            "date": local.date().isoformat(), "time": local.strftime("%H:%M"), "timezone": entry.calendar.timezone,
            "send_at": iso_utc(entry.send_at), "theme": entry.theme, "notes": entry.notes,
            "content_id": entry.content_id, "content_kind": entry.content_kind,
            "status": status or publishing.entry_status(entry), "campaign_id": entry.campaign_id}
    if entry.campaign_id:
        data["deliveries_url"] = f"/deliveries/?campaign={entry.campaign_id}"
    if conflicts is not None:
        data["conflicts"] = [{"kind": c.kind, "message": c.message % c.values if c.params else c.message,
                              "other_entry_id": c.other_entry_id, "other_campaign_id": c.other_campaign_id}
                             for c in conflicts]
    return data


def _calendar(calendar_id: int) -> Calendar:
    return found(Calendar.get_or_none(Calendar.id == calendar_id), "no calendar with this id")


def _entry(entry_id: int) -> CalendarEntry:
    return found(CalendarEntry.get_or_none(CalendarEntry.id == entry_id), "no calendar entry with this id")


def _int(data: dict, key: str, default=None):
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > services.MAX_ID:
        raise ApiError(f"{key} must be a whole number")
    return value


def _str(data: dict, key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(f"{key} must be a string")
    return value


def _calendar_data(data: dict, current: Calendar | None = None) -> CalendarData:
    reject_unknown_fields(data, CALENDAR_FIELDS)
    base = CalendarData(name="") if current is None else CalendarData(
        name=current.name, kind=current.kind, channel=current.channel, audience=current.audience,
        segment_id=current.segment_id, groups=list(current.groups or []), timezone=current.timezone,
        min_gap_minutes=current.min_gap_minutes)
    groups = data.get("groups", base.groups)
    if not isinstance(groups, list) or not all(isinstance(x, str) for x in groups):
        raise ApiError("groups must be a list of tag keys (strings)")
    return CalendarData(
        name=_str(data, "name", base.name), kind=_str(data, "kind", base.kind),
        channel=_str(data, "channel", base.channel), audience=_str(data, "audience", base.audience),
        segment_id=_int(data, "segment_id") if "segment_id" in data else base.segment_id, groups=groups,
        timezone=_str(data, "timezone", base.timezone),
        min_gap_minutes=_int(data, "min_gap_minutes", base.min_gap_minutes))


def _save_calendar(data: CalendarData, calendar: Calendar | None):
    errors = services.validate_calendar(data)
    if errors:
        raise ApiError("the calendar is not valid", 422, fields={k: str(v) for k, v in errors.items()})
    return services.save_calendar(data, calendar, user=g.api_user)


def _day_and_time(data: dict) -> tuple[dt.date, dt.time]:
    try:
        return services.parse_day(_str(data, "date")), services.parse_time(_str(data, "time"))
    except CalendarError as exc:
        raise ApiError(str(exc)) from None


@bp.route("/calendars", methods=["GET"])
@requires("calendars.read")
def calendars_list():
    """Every calendar.
    ---
    get:
      summary: List calendars (moments and community)
      responses:
        200:
          description: Every calendar, by name, on one page (`next` is null)
          content:
            application/json:
              schema: Page
    """
    return list_json([calendar_json(c) for c in Calendar.select().order_by(Calendar.name)])


@bp.route("/calendars", methods=["POST"])
@requires("calendars.write")
def calendars_create():
    """Create a calendar.
    ---
    post:
      summary: Create a moments or community calendar
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                kind: {type: string, enum: [moments, community]}
                channel: {type: string}
                audience: {type: string, description: an audience expression}
                segment_id: {type: integer, description: "a saved segment, used when audience is empty"}
                groups: {type: array, items: {type: string}, description: tag keys of the chat groups (community)}
                timezone: {type: string, example: Asia/Shanghai}
                min_gap_minutes: {type: integer, description: touches to one audience closer than this are flagged}
      responses:
        201: {description: The calendar}
        400: BadRequest
        403: Forbidden
        422: Invalid
    """
    calendar = _save_calendar(_calendar_data(json_body()), None)
    record_audit(g.api_user, "created", calendar, summary=calendar.name)
    return jsonify(calendar_json(calendar, full=True)), 201


@bp.route("/calendars/<int:calendar_id>", methods=["GET"])
@requires("calendars.read")
def calendars_get(calendar_id: int):
    """One calendar with its weekly template.
    ---
    get:
      summary: A calendar, its slots and (for editors) its feed address
      responses:
        200: {description: The calendar}
        404: NotFound
    """
    return jsonify(calendar_json(_calendar(calendar_id), full=True))


@bp.route("/calendars/<int:calendar_id>", methods=["PATCH"])
@requires("calendars.write")
def calendars_update(calendar_id: int):
    """Change a calendar.
    ---
    patch:
      summary: Change some of a calendar's fields
      requestBody: {required: true, content: {application/json: {schema: {type: object}}}}
      responses:
        200: {description: The calendar}
        400: BadRequest
        403: Forbidden
        404: NotFound
        422: Invalid
    """
    calendar = _calendar(calendar_id)
    calendar = _save_calendar(_calendar_data(json_body(), calendar), calendar)
    record_audit(g.api_user, "changed", calendar, summary=calendar.name)
    return jsonify(calendar_json(calendar, full=True))


@bp.route("/calendars/<int:calendar_id>/feed-token", methods=["POST"])
@requires("calendars.write")
def calendars_rotate_feed(calendar_id: int):
    """Retire the feed address and make a new one.
    ---
    post:
      summary: Rotate the calendar's secret feed token
      responses:
        200: {description: The new feed address, content: {application/json: {schema: {type: object, properties: {feed_url: {type: string}}}}}}
        403: Forbidden
        404: NotFound
    """
    calendar = _calendar(calendar_id)
    services.rotate_feed_token(calendar)
    record_audit(g.api_user, "rotated_feed_token", calendar, summary=calendar.name)
    return jsonify({"feed_url": calendar_json(calendar, full=True)["feed_url"]})


@bp.route("/calendars/<int:calendar_id>/slots", methods=["POST"])
@requires("calendars.write")
def calendars_add_slot(calendar_id: int):
    """Add a slot to the weekly template.
    ---
    post:
      summary: Add a weekly slot (weekday 0 = Monday, time HH:MM in the calendar's zone)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [weekday, time]
              properties:
                weekday: {type: integer, minimum: 0, maximum: 6}
                time: {type: string, example: "09:30"}
                theme: {type: string}
                content_kind: {type: string}
                content_id: {type: integer, description: fixed content}
                rotation_tag: {type: string, description: or rotate through approved content with this tag}
      responses:
        201: {description: The slot}
        400: BadRequest
        403: Forbidden
        404: NotFound
    """
    calendar = _calendar(calendar_id)
    data = json_body()
    try:
        slot = services.save_slot(calendar, SlotData(
            weekday=_int(data, "weekday", -1), time=services.parse_time(_str(data, "time")),
            theme=_str(data, "theme"), content_kind=_str(data, "content_kind"),
            content_id=_int(data, "content_id"), rotation_tag=_str(data, "rotation_tag") or None))
    except CalendarError as exc:
        raise ApiError(str(exc)) from None
    record_audit(g.api_user, "added_slot", calendar, summary=f"{slot.weekday} {slot.time} {slot.theme}")
    return jsonify(slot_json(slot)), 201


@bp.route("/calendars/<int:calendar_id>/slots/<int:slot_id>", methods=["DELETE"])
@requires("calendars.write")
def calendars_delete_slot(calendar_id: int, slot_id: int):
    """Remove a slot (entries made from it stay).
    ---
    delete:
      summary: Remove a weekly slot
      responses:
        204: {description: Removed}
        403: Forbidden
        404: NotFound
    """
    slot = found(WeeklySlot.get_or_none(WeeklySlot.id == slot_id, WeeklySlot.calendar == _calendar(calendar_id)),
                 "no such slot in this calendar")
    slot.delete_instance()
    return "", 204


@bp.route("/calendars/<int:calendar_id>/apply", methods=["POST"])
@requires("calendars.write")
def calendars_apply(calendar_id: int):
    """Apply the weekly template to a range of weeks.
    ---
    post:
      summary: Create draft entries for every slot in `weeks` weeks from the week of `start`; existing ones are kept
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [start]
              properties:
                start: {type: string, format: date}
                weeks: {type: integer, minimum: 1, maximum: 53, default: 1}
      responses:
        200:
          description: What was created
          content:
            application/json:
              schema: {type: object, properties: {created: {type: integer}, existing: {type: integer}, entry_ids: {type: array, items: {type: integer}}}}
        400: {description: A bad range or an empty template}
        403: Forbidden
        404: NotFound
    """
    calendar = _calendar(calendar_id)
    data = json_body()
    try:
        applied = services.apply_weekly_template(calendar, services.parse_day(_str(data, "start")),
                                                 _int(data, "weeks", 1), user=g.api_user)
    except CalendarError as exc:
        raise ApiError(str(exc)) from None
    record_audit(g.api_user, "applied_template", calendar, summary=f"{data.get('start')}: {applied.created} created")
    return jsonify({"created": applied.created, "existing": applied.existing, "entry_ids": applied.entry_ids})


@bp.route("/calendars/<int:calendar_id>/entries", methods=["GET"])
@requires("calendars.read")
def calendars_entries(calendar_id: int):
    """Entries of a calendar between two local dates, with status and conflicts.
    ---
    get:
      summary: Entries from `start` (inclusive) to `end` (exclusive), local dates; default the current week
      parameters:
        - {name: start, in: query, schema: {type: string, format: date}}
        - {name: end, in: query, schema: {type: string, format: date}}
      responses:
        200: {description: "The entries of the range, on one page (`next` is null)", content: {application/json: {schema: Page}}}
        400: BadRequest
        404: NotFound
    """
    calendar = _calendar(calendar_id)
    try:
        start = services.parse_day(request.args["start"]) if request.args.get("start") else \
            services.week_start(services.today_in(calendar.timezone))
        end = services.parse_day(request.args["end"]) if request.args.get("end") else start + dt.timedelta(days=7)
    except CalendarError as exc:
        raise ApiError(str(exc)) from None
    if not start < end <= start + dt.timedelta(days=400):
        raise ApiError("end must be after start, at most 400 days later")
    start_utc = services.local_to_utc(start, dt.time(0), calendar.timezone)
    end_utc = services.local_to_utc(end, dt.time(0), calendar.timezone)
    entries = list(CalendarEntry.select().where(CalendarEntry.calendar == calendar, CalendarEntry.send_at >= start_utc,
                                                CalendarEntry.send_at < end_utc).order_by(CalendarEntry.send_at))
    statuses = publishing.entry_statuses((e.id, e.status, e.campaign_id) for e in entries)
    conflicts = find_conflicts(start_utc, end_utc, [calendar.id])
    return list_json([entry_json(e, statuses[e.id], conflicts.get(e.id, [])) for e in entries])


@bp.route("/calendars/<int:calendar_id>/entries", methods=["POST"])
@requires("calendars.write")
def calendars_create_entry(calendar_id: int):
    """Add a one-off entry.
    ---
    post:
      summary: Add a draft entry at a local date and time
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [date, time]
              properties:
                date: {type: string, format: date}
                time: {type: string, example: "20:00"}
                theme: {type: string}
                content_id: {type: integer}
                notes: {type: string}
      responses:
        201: {description: The entry}
        400: BadRequest
        403: Forbidden
        404: NotFound
    """
    calendar = _calendar(calendar_id)
    data = json_body()
    day, at = _day_and_time(data)
    try:
        entry = services.create_entry(calendar, day=day, at=at, theme=_str(data, "theme"),
                                      content=_int(data, "content_id"), notes=_str(data, "notes"), user=g.api_user)
    except CalendarError as exc:
        raise ApiError(str(exc)) from None
    record_audit(g.api_user, "created", entry, summary=entry.theme)
    return jsonify(entry_json(entry)), 201


@bp.route("/calendar-entries/<int:entry_id>", methods=["GET"])
@requires("calendars.read")
def entries_get(entry_id: int):
    """One entry.
    ---
    get:
      summary: An entry with its status, campaign and conflicts
      responses:
        200: {description: The entry}
        404: NotFound
    """
    entry = _entry(entry_id)
    found = find_conflicts(entry.send_at, entry.send_at + dt.timedelta(seconds=1), [entry.calendar_id])
    data = entry_json(entry, conflicts=found.get(entry.id, []))
    if entry.campaign_id:
        data["stats"] = publishing.entry_report(entry)
    return jsonify(data)


@bp.route("/calendar-entries/<int:entry_id>", methods=["PATCH"])
@requires("calendars.write")
def entries_update(entry_id: int):
    """Edit, give content to, or move an entry.
    ---
    patch:
      summary: Change theme/notes, content_id (null for none), or date+time (a move; reschedules its campaign)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                theme: {type: string}
                notes: {type: string}
                content_id: {type: integer, nullable: true}
                date: {type: string, format: date}
                time: {type: string}
      responses:
        200: {description: The entry}
        400: BadRequest
        403: Forbidden
        404: NotFound
        409: {description: "The entry's state forbids it (scheduled, started)"}
    """
    entry = _entry(entry_id)
    data = json_body()
    reject_unknown_fields(data, {"theme", "notes", "content_id", "date", "time"})
    if ("date" in data) != ("time" in data):
        raise ApiError("a move needs both date and time")
    moving = _day_and_time(data) if "date" in data else None
    content = None
    if data.get("content_id") is not None:
        content = ContentItem.get_or_none(ContentItem.id == _int(data, "content_id"))
        if content is None:
            raise ApiError("no content item with this id")
    try:
        if "content_id" in data:
            services.assign_content(entry, content)
        if "theme" in data or "notes" in data:
            services.edit_entry(entry, theme=_str(data, "theme", entry.theme), notes=_str(data, "notes", entry.notes))
        if moving:
            publishing.move_entry(entry, *moving, user=g.api_user)
    except CalendarError as exc:
        raise _refused(exc) from None
    record_audit(g.api_user, "changed", entry, summary=", ".join(sorted(data)))
    return jsonify(entry_json(CalendarEntry.get_by_id(entry.id)))


@bp.route("/calendar-entries/<int:entry_id>", methods=["DELETE"])
@requires("calendars.write")
def entries_delete(entry_id: int):
    """Delete a draft entry.
    ---
    delete:
      summary: Delete a draft entry
      responses:
        204: {description: Deleted}
        403: Forbidden
        404: NotFound
        409: {description: It is scheduled}
    """
    entry = _entry(entry_id)
    try:
        services.delete_entry(entry)
    except CalendarError as exc:
        raise _refused(exc) from None
    record_audit(g.api_user, "deleted", object_type="calendarentry", object_id=entry_id)
    return "", 204


def _action(entry_id: int, action, audit: str):
    entry = _entry(entry_id)
    try:
        action(entry)
    except CalendarError as exc:
        raise _refused(exc) from None
    record_audit(g.api_user, audit, entry, summary=f"campaign {entry.campaign_id}")
    return jsonify(entry_json(CalendarEntry.get_by_id(entry.id)))


@bp.route("/calendar-entries/<int:entry_id>/approve", methods=["POST"])
@requires("calendars.write")
def entries_approve(entry_id: int):
    """Approve an entry: it becomes a scheduled campaign.
    ---
    post:
      summary: Publish an entry through the campaign engine (its content must be approved)
      responses:
        200: {description: "The scheduled entry with its campaign_id, `reachable` (contacts its calendar reaches on its channel now) and `warnings` (when that is none)"}
        403: Forbidden
        404: NotFound
        409: {description: "It can't be scheduled (no approved content, time passed, already scheduled)"}
    """
    answer = _action(entry_id, lambda e: publishing.approve_entry(e, user=g.api_user), "scheduled")
    calendar = CalendarEntry.get_by_id(entry_id).calendar
    reachable = services.reachable_count(calendar)
    warnings = [f"it will reach nobody: no contact in the calendar's audience is reachable on {calendar.channel} now"
                ] if reachable == 0 else []
    return jsonify({**answer.get_json(), "reachable": reachable, "warnings": warnings})


@bp.route("/calendar-entries/<int:entry_id>/unschedule", methods=["POST"])
@requires("calendars.write")
def entries_unschedule(entry_id: int):
    """Take a scheduled entry back to draft.
    ---
    post:
      summary: Cancel the entry's campaign before it sends; the entry is a draft again
      responses:
        200: {description: The draft entry}
        403: Forbidden
        404: NotFound
        409: {description: It is not scheduled or has started sending}
    """
    return _action(entry_id, lambda e: publishing.unschedule_entry(e, user=g.api_user), "unscheduled")


@bp.route("/calendar-entries/<int:entry_id>/swap", methods=["POST"])
@requires("calendars.write")
def entries_swap(entry_id: int):
    """Swap the times of two entries.
    ---
    post:
      summary: Exchange this entry's time with another's
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, required: [other_id], properties: {other_id: {type: integer}}}}}
      responses:
        200: {description: This entry after the swap}
        400: BadRequest
        403: Forbidden
        404: NotFound
        409: {description: One of them can no longer move}
    """
    other = _entry(_int(json_body(), "other_id", 0) or 0)
    return _action(entry_id, lambda e: publishing.swap_entries(e, other, user=g.api_user), "swapped")

