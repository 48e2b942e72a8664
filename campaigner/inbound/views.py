"""Inbound callbacks (``/hooks/<provider>/<account>``, public, verified by each receiver) and the ops' inbound log."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from campaigner.inbound import services
from campaigner.inbound.models import STATUSES, InboundEvent
from campaigner.inbound.receivers import InboundRejected, InboundRequest
from campaigner.inbound.tasks import schedule_processing
from campaigner.permissions import can, requires
from campaigner.web import public, render_page

hooks = Blueprint("inbound_hooks", __name__, url_prefix="/hooks")
bp = Blueprint("inbound", __name__, url_prefix="/inbound")

STATUS_LABELS = {"pending": _l("Pending"), "processing": _l("Processing"), "done": _l("Done"), "failed": _l("Failed")}


def _body(limit: int) -> bytes:
    """The request body, refused with 413 beyond `limit` bytes (a missing Content-Length is read up to it)."""
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    # A JSON body the NUL check before every view has read already is cached, not left in the stream
    # (MAX_CONTENT_LENGTH bounds it when it came without a length).
    data = request.get_data(cache=True) if request.is_json else request.stream.read(limit + 1)
    if len(data) > limit:
        abort(413)
    return data


@hooks.route("/<provider>/<account>", methods=["GET", "POST"])
@public
def callback(provider: str, account: str):
    """A provider's callback: checked by its receiver, stored, then acknowledged."""
    receiver = current_app.extensions["campaigner"].plugins.receivers().get(provider) or abort(404)
    if len(account) > 64 or not account.replace("_", "").replace("-", "").isalnum():
        abort(404)
    inbound = InboundRequest(account=account, method=request.method, args=request.args.to_dict(),
                             headers={k: v for k, v in request.headers.items()},
                             body=_body(receiver.max_body) if request.method == "POST" else b"")
    try:
        reply, new = services.accept_callback(receiver, inbound)
    except InboundRejected as exc:
        return Response(exc.reason, status=exc.status, mimetype="text/plain")
    if new:
        schedule_processing()
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


@bp.route("/")
@requires("inbound.read")
def index():
    """The inbound log: every event received, filtered by provider, kind and status."""
    filters, errors = services.InboundFilter.from_args(request.args)
    before = request.args.get("before", "")
    before = int(before) if before.isdigit() else None
    rows, next_cursor = services.log_page(filters, before=before) if not errors else ([], None)
    providers = sorted(current_app.extensions["campaigner"].plugins.receivers())
    return render_page("inbound/index.html", block="log", rows=rows, next_cursor=next_cursor, filters=filters,
                       errors=errors, before=before, providers=providers, statuses=STATUSES,
                       status_labels=STATUS_LABELS, counts=services.status_counts(),
                       rejected=sorted(services.rejected_counts.items()),
                       can_operate=can(current_user, "inbound.operate"))


@bp.route("/<int:event_id>")
@requires("contacts.read_pii")  # the payload holds what providers send of contacts (numbers, replies)
def detail(event_id: int):
    """One inbound event with its payload and error."""
    event = InboundEvent.get_or_none(InboundEvent.id == event_id) or abort(404)
    return render_page("inbound/detail.html", event=event, status_labels=STATUS_LABELS,
                       can_operate=can(current_user, "inbound.operate"))


@bp.route("/<int:event_id>/retry", methods=["POST"])
@requires("inbound.operate")
def retry(event_id: int):
    """Process a failed event again."""
    if services.retry_events([event_id], user=current_user):
        schedule_processing()
        flash(_("The event will be processed again."), "success")
    else:
        flash(_("Only a failed event can be retried."), "warning")
    return redirect(url_for("inbound.detail", event_id=event_id))


@bp.route("/retry-failed", methods=["POST"])
@requires("inbound.operate")
def retry_failed():
    """Process again every failed event of the filtered log."""
    filters, errors = services.InboundFilter.from_args(request.form)
    if errors:
        abort(400)
    filters.status = "failed"
    count = services.retry_events(services.matching_ids(filters), user=current_user)
    if count:
        schedule_processing()
    flash(_("%(count)d failed events queued again.", count=count), "success")
    return redirect(url_for("inbound.index", **filters.as_args()))
