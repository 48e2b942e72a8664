"""The delivery log for ops: filters, keyset pages, live progress, error details, retry, CSV export; the audit log."""
from __future__ import annotations

import io

from flask import Blueprint, Response, abort, flash, redirect, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from campaigner.audit.models import AuditLog
from campaigner.campaigns.forms import DELIVERY_STATUS_LABELS, REASON_LABELS, STATUS_LABELS, resolved as _resolved
from campaigner.campaigns.services import campaign_stats
from campaigner.db import database
from campaigner.deliveries import log as delivery_log
from campaigner.deliveries.models import STATUSES, Delivery, DeliveryEvent
from campaigner.deliveries.services import retry_failed
from campaigner.permissions import can, requires
from campaigner.spreadsheet_csv import csv_writer
from campaigner.web import render_fragment, render_page

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")



@bp.context_processor
def _labels():
    # Resolved once per request: a lazy string translates again at every use, and the log uses them per row.
    return {"delivery_status_labels": _resolved(DELIVERY_STATUS_LABELS), "reason_labels": _resolved(REASON_LABELS),
            "status_labels": _resolved(STATUS_LABELS), "statuses": STATUSES,
            "can_operate": can(current_user, "deliveries.operate")}


def _channel_names() -> list[str]:
    from flask import current_app

    return sorted(current_app.extensions["campaigner"].plugins.channels())


@bp.route("/")
@requires("deliveries.read")
def index():
    """The delivery log: running campaigns, filters and one keyset page."""
    filters, errors = delivery_log.LogFilter.from_args(request.args)
    before = request.args.get("before", "")
    before = int(before) if before.isdigit() else None
    rows, next_cursor = delivery_log.log_page(filters, before=before) if not errors else ([], None)
    from campaigner.calendars.models import Calendar

    return render_page("deliveries/index.html", block="log", rows=rows, next_cursor=next_cursor, filters=filters,
                       errors=errors, before=before, channels=_channel_names(),
                       campaign_choices=delivery_log.campaign_choices(filters.campaign),
                       calendars=list(Calendar.select(Calendar.id, Calendar.name).order_by(Calendar.name)),
                       running=[(c, campaign_stats(c)) for c in delivery_log.active_campaigns()])


@bp.route("/running")
@requires("deliveries.read")
def running():
    """The progress bars of running campaigns (htmx polls it every 2 s; it stops when none is running)."""
    return render_fragment("deliveries/index.html", block="running",
                       running=[(c, campaign_stats(c)) for c in delivery_log.active_campaigns()])


@bp.route("/<int:delivery_id>")
@requires("deliveries.read")
def detail(delivery_id: int):
    """One delivery with its error and its history."""
    delivery = Delivery.get_or_none(Delivery.id == delivery_id) or abort(404)
    [row] = delivery_log.describe([delivery])
    events = list(DeliveryEvent.select().where(DeliveryEvent.delivery == delivery.id).order_by(DeliveryEvent.id))
    return render_page("deliveries/detail.html", row=row, delivery=delivery, events=events)


@bp.route("/<int:delivery_id>/retry", methods=["POST"])
@requires("deliveries.operate")
def retry_one(delivery_id: int):
    """Queue one failed delivery again (an unknown one only when ops confirm)."""
    delivery = Delivery.get_or_none(Delivery.id == delivery_id) or abort(404)
    include_unknown = delivery.status == "unknown" and request.form.get("confirm_unknown") == "1"
    if retry_failed(ids=[delivery.id], user=current_user, include_unknown=include_unknown):
        flash(_("Delivery queued again with the same idempotency key."), "success")
    else:
        flash(_("Only a failed delivery can be retried (an unknown one after confirming)."), "warning")
    return redirect(url_for("deliveries.detail", delivery_id=delivery.id))


@bp.route("/retry-failed", methods=["POST"])
@requires("deliveries.operate")
def retry_all():
    """Queue every failed delivery of a campaign again."""
    campaign = request.form.get("campaign", "")
    if not campaign.isdigit():
        flash(_("Choose the campaign whose failed deliveries to retry."), "warning")
        return redirect(url_for("deliveries.index"))
    count = retry_failed(campaign_id=int(campaign), user=current_user)
    flash(_("%(count)d failed deliveries queued again.", count=count), "success")
    return redirect(url_for("deliveries.index", campaign=campaign, status="queued"))


@bp.route("/export.csv")
@requires("deliveries.export")
def export():
    """The filtered log as CSV, streamed in keyset chunks (a million rows never sit in memory)."""
    filters, errors = delivery_log.LogFilter.from_args(request.args)
    if errors:
        abort(400)

    def generate():
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow(delivery_log.CSV_COLUMNS)
        # A streamed response outlives the request's connection handling: hold our own.
        with database.connection_context():
            for n, row in enumerate(delivery_log.export_rows(filters), 1):
                writer.writerow(row)
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=deliveries.csv"
    return response


@bp.route("/audit")
@requires("audit.read")
def audit():
    """Who created, changed, scheduled, paused or cancelled what (admins and ops)."""
    query = AuditLog.select().order_by(AuditLog.id.desc())
    object_type = request.args.get("type", "").strip()
    action = request.args.get("action", "").strip()
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if action:
        query = query.where(AuditLog.action == action)
    before = request.args.get("before", "")
    if before.isdigit():
        query = query.where(AuditLog.id < int(before))
    entries = list(query.limit(51))
    next_cursor = entries[49].id if len(entries) > 50 else None
    types = [t for (t,) in AuditLog.select(AuditLog.object_type).distinct().order_by(AuditLog.object_type).tuples()]
    actions = [a for (a,) in AuditLog.select(AuditLog.action).distinct().order_by(AuditLog.action).tuples()]
    return render_page("deliveries/audit.html", block="entries", entries=entries[:50], next_cursor=next_cursor,
                       object_type=object_type, action=action, types=types, actions=actions)
