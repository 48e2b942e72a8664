"""Campaign pages: the list, the builder with a live audience count and a dry run, status and progress."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from campaigner.audit.models import AuditLog
from campaigner.campaigns import services
from campaigner.campaigns.forms import DELIVERY_STATUS_LABELS, REASON_LABELS, STATUS_LABELS, CampaignForm
from campaigner.campaigns.forms import resolved as _resolved
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.permissions import can, requires
from campaigner.web import is_htmx, render_fragment, render_page

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


ERRORS = {
    "name_required": _l("A campaign needs a name."),
    "content_missing": _l("Choose a content item."),
    "content_not_approved": _l("The content must be approved before the campaign is scheduled."),
    "channels_required": _l("Choose at least one channel."),
    "unknown_channel": _l("No installed plugin provides the channel %(channel)s."),
    "bad_audience": _l("The audience expression is not valid: %(error)s"),
    "bad_timezone": _l("Unknown time zone: %(timezone)s."),
    "bad_cron": _l("Not a valid cron expression: %(cron)s."),
    "bad_throttle": _l("The throttle must be a whole number of messages a minute, at least 1."),
    "bad_caps": _l("Caps must be whole numbers of messages (0 for no cap)."),
    "bad_quiet_hours": _l("Quiet hours need a start and an end as HH:MM."),
    "bad_status": _l("A %(status)s campaign can't be %(action)s."),
    "past_send_time": _l("The send time has passed; choose a time in the future or send now."),
}


def error_message(exc: services.CampaignError) -> str:
    """The rule a CampaignError names, in the user's language."""
    message = ERRORS.get(exc.code)
    return str(message) % exc.params if message is not None else str(exc)


@bp.context_processor
def _labels():
    return {"status_labels": _resolved(STATUS_LABELS), "delivery_status_labels": _resolved(DELIVERY_STATUS_LABELS),
            "reason_labels": _resolved(REASON_LABELS),
            "can_build": can(current_user, "campaigns.write"),
            "can_operate": can(current_user, "campaigns.operate")}


def _campaign_or_404(campaign_id: int) -> Campaign:
    return Campaign.get_or_none(Campaign.id == campaign_id) or abort(404)


def _default_tz() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def _form(campaign: Campaign | None = None) -> CampaignForm:
    from campaigner.audience.models import Segment

    form = CampaignForm(obj=None)
    if request.method == "GET" and campaign is not None:
        form = CampaignForm(data=_form_data(campaign))
    contents = ContentItem.select().where(ContentItem.status == "approved").order_by(ContentItem.title)
    if campaign is not None and campaign.content.status != "approved":
        contents = list(contents) + [campaign.content]
    plugins = current_app.extensions["campaigner"].plugins
    return form.setup(list(contents), plugins.channels(), list(Segment.select().order_by(Segment.name)), _default_tz())


def _form_data(campaign: Campaign) -> dict:
    channels = list(campaign.channels) + ["", "", ""]
    tz = campaign.timezone or _default_tz()
    data = {"name": campaign.name, "content": campaign.content_id, "channel_1": channels[0], "channel_2": channels[1],
            "channel_3": channels[2], "audience": campaign.audience, "segment": campaign.segment_id,
            "audience_mode": "segment" if campaign.segment_id else "expression", "timezone": tz,
            "cron": campaign.cron or "", "throttle_per_minute": campaign.throttle_per_minute,
            "send_mode": "cron" if campaign.cron else ("at" if campaign.send_at else "now")}
    if campaign.send_at:
        data["send_at"] = services.utc_to_local(campaign.send_at, tz).replace(tzinfo=None)
    caps = campaign.caps or {}
    data.update(cap_day=caps.get("day"), cap_week=caps.get("week"))
    quiet = campaign.quiet_hours or {}
    data.update(quiet_off=quiet.get("enabled") is False, quiet_start=quiet.get("start", ""),
                quiet_end=quiet.get("end", ""))
    return data


def _fields_from(form: CampaignForm) -> dict:
    segment = form.segment.data if form.audience_mode.data == "segment" else None
    fields = {"name": form.name.data, "content": form.content.data, "channels": form.channels(),
              "audience": "" if segment else (form.audience.data or ""), "segment": segment,
              "timezone": form.timezone.data, "cron": form.cron.data if form.send_mode.data == "cron" else None,
              "throttle_per_minute": form.throttle_per_minute.data, "caps": form.caps(),
              "quiet_hours": form.quiet_hours()}
    send_at = None
    if form.send_mode.data == "at":
        if form.send_at.data is None:
            form.send_at.errors = list(form.send_at.errors) + [_("Choose the date and time to send at.")]
            raise ValueError
        send_at = services.local_to_utc(form.send_at.data, form.timezone.data)
    fields["send_at"] = send_at
    return fields


# ---------------------------------------------------------------- pages


@bp.route("/")
@requires("campaigns.read")
def index():
    """Every campaign (recurring runs are listed under their parent)."""
    status = request.args.get("status", "")
    query = Campaign.select().where(Campaign.parent.is_null()).order_by(Campaign.id.desc())
    if status in STATUS_LABELS:
        query = query.where(Campaign.status == status)
    campaigns = list(query.limit(200))
    stats = {c.id: services.campaign_stats(c) for c in campaigns if c.status in ("running", "paused", "completed")}
    return render_page("campaigns/index.html", campaigns=campaigns, stats=stats, status=status)


@bp.route("/new", methods=["GET", "POST"])
@requires("campaigns.write")
def new():
    """Build a campaign; it is saved as a draft."""
    form = _form()
    if form.validate_on_submit():
        try:
            fields = _fields_from(form)
            send_at = fields.pop("send_at")
            campaign = services.create_campaign(**fields, send_at=send_at, created_by=current_user, origin="ui")
        except services.CampaignError as exc:
            flash(error_message(exc), "error")
        except ValueError:
            pass  # _fields_from put the reason on the form field, which the page shows
        else:
            flash(_("Campaign saved as a draft. Check the dry run, then schedule it."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_page("campaigns/form.html", form=form, campaign=None)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@requires("campaigns.write")
def edit(campaign_id: int):
    """Change a campaign that has not started."""
    campaign = _campaign_or_404(campaign_id)
    if campaign.status not in ("draft", "scheduled"):
        flash(_("Only a campaign that has not started can be changed."), "warning")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    form = _form(campaign)
    if form.validate_on_submit():
        try:
            fields = _fields_from(form)
            services.update_campaign(campaign, current_user, **fields)
        except services.CampaignError as exc:
            flash(error_message(exc), "error")
        except ValueError:
            pass  # _fields_from put the reason on the form field, which the page shows
        else:
            flash(_("Campaign saved."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_page("campaigns/form.html", form=form, campaign=campaign)


@bp.route("/<int:campaign_id>")
@requires("campaigns.read")
def detail(campaign_id: int):
    """A campaign: its plan, live progress, runs and history."""
    campaign = _campaign_or_404(campaign_id)
    stats = services.campaign_stats(campaign)
    runs = list(Campaign.select().where(Campaign.parent == campaign.id).order_by(Campaign.id.desc()).limit(20))
    audit = list(AuditLog.select().where(AuditLog.object_type == "campaign", AuditLog.object_id == str(campaign.id))
                 .order_by(AuditLog.id.desc()).limit(20))
    tz = campaign.timezone or _default_tz()
    local_send_at = services.utc_to_local(campaign.send_at, tz) if campaign.send_at else None
    return render_page("campaigns/detail.html", block="progress" if is_htmx() else None, campaign=campaign,
                       stats=stats, runs=runs, audit=audit, tz=tz, local_send_at=local_send_at)


@bp.route("/<int:campaign_id>/progress")
@requires("campaigns.read")
def progress(campaign_id: int):
    """The progress block alone (htmx polls it every 2 s while the campaign runs)."""
    campaign = _campaign_or_404(campaign_id)
    return render_page("campaigns/detail.html", block="progress", campaign=campaign,
                       stats=services.campaign_stats(campaign))


@bp.route("/<int:campaign_id>/dry-run")
@requires("contacts.read_pii")
def dry_run(campaign_id: int):
    """Who would get what on which channel, and who would be skipped and why."""
    campaign = _campaign_or_404(campaign_id)
    result = services.dry_run(campaign, limit=50)
    return render_page("campaigns/dry_run.html", block="dry_run", campaign=campaign, result=result)


@bp.route("/audience-count")
@requires("campaigns.read")
def audience_count():
    """The live count under the audience field of the builder."""
    from campaigner.audience.expressions import ExpressionError
    from campaigner.audience.models import Segment
    from campaigner.audience.reach import count_reachable

    expression, segment_channel = request.args.get("audience", ""), None
    mode = request.args.get("audience_mode", "expression")
    segment_id = request.args.get("segment", "")
    if mode == "segment" and segment_id.isdigit():
        segment = Segment.get_or_none(Segment.id == int(segment_id))
        if segment is not None:
            expression, segment_channel = segment.expression, segment.channel
    # The channels chosen so far, in fallback order: a contact counts when one of them reaches it.
    channels = [name for name in (request.args.get(f"channel_{n}", "") for n in (1, 2, 3)) if name]
    try:
        count, error = count_reachable(expression, channels, segment_channel), None
    except ExpressionError as exc:
        count, error = None, str(exc)
    return render_fragment("campaigns/form.html", block="audience_count", count=count, error=error, channels=channels)


# ---------------------------------------------------------------- actions


def _act(campaign_id: int, action):
    campaign = _campaign_or_404(campaign_id)
    try:
        message = action(campaign)
    except services.CampaignError as exc:
        flash(error_message(exc), "error")
    else:
        flash(message, "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/schedule", methods=["POST"])
@requires("campaigns.write")
def schedule(campaign_id: int):
    """draft -> scheduled (editors)."""
    def act(campaign):
        services.schedule_campaign(campaign, current_user)
        return _("Campaign scheduled.")
    return _act(campaign_id, act)


@bp.route("/<int:campaign_id>/pause", methods=["POST"])
@requires("campaigns.operate")
def pause(campaign_id: int):
    """Pause with an optional reason (ops)."""
    def act(campaign):
        services.pause_campaign(campaign, current_user, reason=request.form.get("reason", "").strip()[:500])
        return _("Campaign paused: batches already handed to a channel finish, no new batch starts.")
    return _act(campaign_id, act)


@bp.route("/<int:campaign_id>/resume", methods=["POST"])
@requires("campaigns.operate")
def resume(campaign_id: int):
    """Resume a paused campaign (ops)."""
    def act(campaign):
        services.resume_campaign(campaign, current_user)
        return _("Campaign resumed.")
    return _act(campaign_id, act)


@bp.route("/<int:campaign_id>/cancel", methods=["POST"])
@requires("campaigns.operate")
def cancel(campaign_id: int):
    """Cancel: nothing not yet handed to a channel is sent (ops)."""
    def act(campaign):
        services.cancel_campaign(campaign, current_user)
        return _("Campaign cancelled: nothing more of it will be sent.")
    return _act(campaign_id, act)


@bp.route("/<int:campaign_id>/retry-failed", methods=["POST"])
@requires("campaigns.operate")
def retry_failed(campaign_id: int):
    """Queue the campaign's failed deliveries again (ops)."""
    from campaigner.deliveries.services import retry_failed as retry

    def act(campaign):
        count = retry(campaign_id=campaign.id, user=current_user)
        return _("%(count)d failed deliveries queued again.", count=count)
    return _act(campaign_id, act)
