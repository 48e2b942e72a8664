"""The analytics pages at /analytics: funnels, channels, days, RFM trends and KPI goals; each table as CSV."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from campaigner.analytics import services
from campaigner.analytics.charts import bar_chart, funnel_chart, line_chart, progress_bar
from campaigner.analytics.export import csv_filename, to_csv
from campaigner.analytics.timeseries import utc_bounds
from campaigner.analytics.forms import METRIC_LABELS, PERCENT_METRICS, ChannelCostForm, GoalForm
from campaigner.analytics.models import KpiGoal
from campaigner.audit import record_audit
from campaigner.campaigns.models import Campaign
from campaigner.links.models import Click, ShortLink
from campaigner.permissions import can, requires
from campaigner.web import render_page

bp = Blueprint("analytics", __name__, url_prefix="/analytics")

STAGE_LABELS = {"targeted": _l("Targeted"), "sent": _l("Sent"), "delivered": _l("Delivered"),
                "clicked": _l("Clicked (unique)"), "converted": _l("Converted")}
MAX_DAYS = 366


def _tz() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(_tz())).date()


def _range(default_days: int = 30) -> tuple[dt.date, dt.date, str | None]:
    """The page's local date range from ?start=&end= (default: the last `default_days` days)."""
    end, start = _today(), _today() - dt.timedelta(days=default_days - 1)
    error = None
    try:
        if request.args.get("end"):
            end = dt.date.fromisoformat(request.args["end"])
        if request.args.get("start"):
            start = dt.date.fromisoformat(request.args["start"])
        else:
            start = end - dt.timedelta(days=default_days - 1)
    except ValueError:
        return _today() - dt.timedelta(days=default_days - 1), _today(), _("Dates are written as YYYY-MM-DD.")
    if start > end:
        start, end, error = end, start, _("The range started after it ended; the dates were swapped.")
    if (end - start).days >= MAX_DAYS:
        start, error = end - dt.timedelta(days=MAX_DAYS - 1), _("At most a year at a time: the range was shortened.")
    return start, end, error


def _csv(name: str, header: list[str], rows) -> Response:
    return Response(to_csv(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _flush_clicks() -> None:
    from campaigner.links.redirect import click_recorder

    click_recorder().flush()  # this process's clicks of the last moments, so the page is current


def _funnel_rows(f: services.Funnel) -> list[list]:
    rates = f.rates()
    first = f.targeted
    return [[STAGE_LABELS[name], value, rates.get(name), services._pct(value, first)] for name, value in f.stages()]


FUNNEL_HEADER = ["stage", "count", "rate_of_previous_pct", "rate_of_targeted_pct"]


# ---------------------------------------------------------------- overview


@bp.route("/")
@requires("analytics.read")
def index():
    _flush_clicks()
    start, end, range_error = _range()
    tz = _tz()
    days = services.daily_activity(start, end, tz)
    utc_start, utc_end = utc_bounds(start, end, tz)
    channels = services.compare_channels(utc_start, utc_end)
    campaigns = services.top_level_campaigns()
    funnels = services.campaign_funnels([c.id for c in campaigns])
    calendars = _calendars()
    export = request.args.get("export")
    if export == "daily":
        return _csv(csv_filename("daily", start, end), ["day", "delivered", "clicks", "unique_clicks", "opt_outs",
                                                        "conversions"],
                    ([d["day"].isoformat(), d["sent"], d["clicks"], d["unique_clicks"], d["opt_outs"],
                      d["conversions"]] for d in days))
    if export == "channels":
        return _csv(csv_filename("channels", start, end), CHANNEL_HEADER, (_channel_row(r) for r in channels))
    if export == "campaigns":
        return _csv("campaigns.csv", ["campaign_id", "campaign", "status", *services.STAGES, "clicks", "orders",
                                      "revenue", "overall_conversion_pct"],
                    ([c.id, c.name, c.status, *(getattr(funnels.get(c.id, services.Funnel()), s) for s in services.STAGES),
                      funnels.get(c.id, services.Funnel()).clicks, funnels.get(c.id, services.Funnel()).orders,
                      funnels.get(c.id, services.Funnel()).revenue,
                      funnels.get(c.id, services.Funnel()).rates()["overall"]] for c in campaigns))
    if export == "calendars":
        return _csv("calendars.csv", ["calendar_id", "calendar", *services.STAGES],
                    ([c["id"], c["name"], *(getattr(c["funnel"], s) for s in services.STAGES)] for c in calendars))
    labels = [d["day"].strftime("%m-%d") for d in days]
    daily_chart = line_chart(labels, [(_("Delivered"), [d["sent"] for d in days]),
                                      (_("Clicks"), [d["clicks"] for d in days]),
                                      (_("Opt-outs"), [d["opt_outs"] for d in days]),
                                      (_("Conversions"), [d["conversions"] for d in days])],
                             _("Daily activity"), x_label=_("Day"), y_label=_("Count per day"))
    ctr_chart = bar_chart([(r["channel"], r["click_rate"] or 0) for r in channels], _("Click rate by channel"), "%",
                          x_label=_("Channel"), y_label=_("Click rate (%)"))
    return render_page("analytics/index.html", start=start, end=end, range_error=range_error, days=days,
                       daily_chart=daily_chart, channels=channels, ctr_chart=ctr_chart, campaigns=campaigns,
                       funnels=funnels, empty=services.Funnel(), calendars=calendars,
                       cost_form=ChannelCostForm(formdata=None), can_configure=can(current_user, "analytics.write"))


CHANNEL_HEADER = ["channel", "sent", "delivered", "unique_clicks", "clicks", "converted_contacts", "orders", "revenue",
                  "cost_per_message", "cost", "cost_per_click", "cost_per_conversion", "click_rate_pct",
                  "conversion_rate_pct"]


def _channel_row(r: dict) -> list:
    return [r["channel"], r["sent"], r["delivered"], r["clicked"], r["clicks"], r["converted"], r["orders"],
            r["revenue"], r["cost_per_message"], r["cost"], r["cost_per_click"], r["cost_per_conversion"],
            r["click_rate"], r["conversion_rate"]]


def _calendars() -> list[dict]:
    from campaigner.calendars.models import Calendar

    out = []
    for calendar in Calendar.select().order_by(Calendar.name):
        out.append({"id": calendar.id, "name": calendar.name, "kind": calendar.kind,
                    "funnel": services.funnel(services.calendar_campaign_ids(calendar.id))})
    return out


@bp.route("/costs", methods=["POST"])
@requires("analytics.write")
def costs():
    form = ChannelCostForm()
    if form.validate_on_submit():
        services.set_channel_cost(form.channel.data.strip(), form.cost.data)
        record_audit(current_user, "changed", object_type="channel_cost", object_id=form.channel.data.strip(),
                     summary=f"{form.channel.data.strip()}: {form.cost.data} per message")
        flash(_("Cost per message saved for %(channel)s.", channel=form.channel.data.strip()), "success")
    else:
        for name, errors in form.errors.items():
            for error in errors:
                flash(f"{getattr(form, name).label.text}: {error}", "error")
    return redirect(url_for(".index", start=request.form.get("start") or None, end=request.form.get("end") or None))


@bp.route("/attribution", methods=["POST"])
@requires("analytics.write")
def attribution():
    """Attribute every order again, in the background."""
    from campaigner.links.tasks import reattribute_all_conversions

    reattribute_all_conversions()
    record_audit(current_user, "recomputed", object_type="attribution", summary="all orders")
    flash(_("Conversions are being attributed again; the figures update in a moment."), "info")
    return redirect(url_for(".index"))


# ---------------------------------------------------------------- one campaign, one calendar


@bp.route("/campaigns/<int:campaign_id>")
@requires("analytics.read")
def campaign(campaign_id: int):
    campaign = Campaign.get_or_none(Campaign.id == campaign_id)
    if campaign is None:
        abort(404)
    _flush_clicks()
    ids = services.campaign_family_ids(campaign.id)
    f = services.funnel(ids)
    by_channel = services.channel_funnels(ids)
    links = _top_links(ids)
    export = request.args.get("export")
    if export == "funnel":
        return _csv(csv_filename("campaign", campaign.id, "funnel"), FUNNEL_HEADER, _funnel_rows(f))
    if export == "channels":
        return _csv(csv_filename("campaign", campaign.id, "channels"), ["channel", *services.STAGES, "clicks"],
                    ([ch, *(getattr(cf, s) for s in services.STAGES), cf.clicks] for ch, cf in sorted(by_channel.items())))
    if export == "links":
        return _csv(csv_filename("campaign", campaign.id, "links"), ["url", "unique_clicks", "clicks"],
                    ([r["url"], r["unique"], r["clicks"]] for r in links))
    chart = funnel_chart([(str(STAGE_LABELS[name]), value) for name, value in f.stages()],
                         _("Funnel of %(name)s", name=campaign.name))
    from campaigner.links.forms import CampaignExpiryForm
    from campaigner.links.options import link_options

    expiry_form = CampaignExpiryForm(formdata=None, data={"days": campaign.link_expiry_days})
    return render_page("analytics/campaign.html", campaign=campaign, funnel=f, rows=_funnel_rows(f), chart=chart,
                       by_channel=sorted(by_channel.items()), links=links, runs=len(ids) - 1,
                       stage_labels=STAGE_LABELS, stages=services.STAGES, expiry_form=expiry_form,
                       default_expiry=link_options()["default_expiry_days"],
                       can_edit_links=can(current_user, "links.write"))


def _top_links(campaign_ids: list[int], limit: int = 50) -> list[dict]:
    """The campaign's links by address, with unique and total human clicks: what people read."""
    from peewee import SQL, fn

    rows = (ShortLink.select(ShortLink.original_url, fn.COUNT(fn.DISTINCT(Click.visitor)), fn.COUNT(Click.id))
            .join(Click, on=((Click.link == ShortLink.id) & (Click.is_bot == False)))  # noqa: E712
            .where(ShortLink.campaign.in_(campaign_ids))
            .group_by(ShortLink.original_url).order_by(SQL("2 DESC")).limit(limit).tuples())
    return [{"url": url, "unique": int(unique), "clicks": int(total)} for url, unique, total in rows]


@bp.route("/calendars/<int:calendar_id>")
@requires("analytics.read")
def calendar(calendar_id: int):
    from campaigner.calendars.models import Calendar, CalendarEntry

    cal = Calendar.get_or_none(Calendar.id == calendar_id)
    if cal is None:
        abort(404)
    _flush_clicks()
    ids = services.calendar_campaign_ids(cal.id)
    f = services.funnel(ids)
    per_campaign = services.campaign_funnels(ids)
    entries = list(CalendarEntry.select().where(CalendarEntry.calendar == cal.id, CalendarEntry.campaign.is_null(False))
                   .order_by(CalendarEntry.send_at))
    export = request.args.get("export")
    if export == "funnel":
        return _csv(csv_filename("calendar", cal.id, "funnel"), FUNNEL_HEADER, _funnel_rows(f))
    if export == "entries":
        return _csv(csv_filename("calendar", cal.id, "entries"), ["entry_id", "send_at_utc", "theme", "campaign_id",
                                                                   *services.STAGES],
                    ([e.id, e.send_at, e.theme, e.campaign_id,
                      *(getattr(per_campaign.get(e.campaign_id, services.Funnel()), s) for s in services.STAGES)]
                     for e in entries))
    chart = funnel_chart([(str(STAGE_LABELS[name]), value) for name, value in f.stages()],
                         _("Funnel of %(name)s", name=cal.name))
    return render_page("analytics/calendar.html", calendar=cal, funnel=f, rows=_funnel_rows(f), chart=chart,
                       entries=entries, per_campaign=per_campaign, empty=services.Funnel(), stages=services.STAGES,
                       stage_labels=STAGE_LABELS)


# ---------------------------------------------------------------- RFM and super users


@bp.route("/rfm")
@requires("analytics.read")
def rfm():
    start, end, range_error = _range(90)
    days, series = services.rfm_trend(start, end)
    if request.args.get("export") == "rfm":
        return _csv(csv_filename("rfm", start, end), ["day", *services.RFM_SEGMENTS],
                    ([d.isoformat(), *(series[s][i] for s in services.RFM_SEGMENTS)] for i, d in enumerate(days)))
    labels = [d.strftime("%m-%d") for d in days]
    classes_chart = line_chart(labels, [(f"rfm:{s}", [v or 0 for v in series[s]]) for s in services.RFM_SEGMENTS
                                        if s != "super-user"], _("Contacts per RFM class"),
                               x_label=_("Day"), y_label=_("Contacts"))
    super_chart = line_chart(labels, [(_("Super users"), [v or 0 for v in series["super-user"]])],
                             _("Super users"), x_label=_("Day"), y_label=_("Contacts"))
    return render_page("analytics/rfm.html", start=start, end=end, range_error=range_error, days=days,
                       series=series, segments=services.RFM_SEGMENTS, classes_chart=classes_chart,
                       super_chart=super_chart, can_configure=can(current_user, "analytics.write"))


@bp.route("/rfm/snapshot", methods=["POST"])
@requires("analytics.write")
def rfm_snapshot():
    services.snapshot_rfm(_today())
    flash(_("Today's RFM class sizes were recorded."), "success")
    return redirect(url_for(".rfm"))


# ---------------------------------------------------------------- KPI goals


def _goal_rows() -> list[dict]:
    tz, today = _tz(), _today()
    rows = []
    for goal in KpiGoal.select().order_by(KpiGoal.period_end.desc(), KpiGoal.id.desc()):
        progress = services.kpi_progress(goal, tz, today)
        progress["percent"] = goal.metric in PERCENT_METRICS
        progress["label"] = METRIC_LABELS.get(goal.metric, goal.metric)
        progress["bar"] = progress_bar(progress["value"] or 0, progress["target"], goal.name)
        rows.append(progress)
    return rows


@bp.route("/goals")
@requires("analytics.read")
def goals():
    _flush_clicks()
    rows = _goal_rows()
    if request.args.get("export") == "goals":
        return _csv("kpi-goals.csv", ["goal", "metric", "from", "to", "target", "value", "share_of_target_pct",
                                      "share_of_time_pct", "reached"],
                    ([r["goal"].name, r["goal"].metric, r["goal"].period_start, r["goal"].period_end, r["target"],
                      r["value"], r["share"], r["time_share"], "yes" if r["reached"] else "no"] for r in rows))
    form = GoalForm(formdata=None)
    first = _today().replace(day=1)
    form.period_start.data = first
    form.period_end.data = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return render_page("analytics/goals.html", rows=rows, form=form, can_configure=can(current_user, "analytics.write"))


@bp.route("/goals", methods=["POST"])
@requires("analytics.write")
def goals_create():
    form = GoalForm()
    if form.validate_on_submit():
        try:
            services.create_goal(name=form.name.data, metric=form.metric.data, target=form.target.data,
                                 period_start=form.period_start.data, period_end=form.period_end.data,
                                 user=current_user._get_current_object())
        except ValueError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("Goal added."), "success")
            return redirect(url_for(".goals"))
    return render_page("analytics/goals.html", rows=_goal_rows(), form=form, can_configure=True), 400


@bp.route("/goals/<int:goal_id>/delete", methods=["POST"])
@requires("analytics.write")
def goals_delete(goal_id: int):
    goal = KpiGoal.get_or_none(KpiGoal.id == goal_id)
    if goal is None:
        abort(404)
    record_audit(current_user, "deleted", goal, summary=goal.name)
    goal.delete_instance()
    flash(_("Goal deleted."), "success")
    return redirect(url_for(".goals"))

