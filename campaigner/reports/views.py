"""Report pages at /reports: the weekly review (and its CSV), cohorts and source value, fan tiers and lifecycle."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from campaigner.analytics.charts import line_chart
from campaigner.analytics.export import csv_filename, to_csv
from campaigner.analytics.forms import METRIC_LABELS, PERCENT_METRICS
from campaigner.analytics.models import KpiGoal
from campaigner.analytics.timeseries import utc_bounds
from campaigner.audit import record_audit
from campaigner.db import utcnow
from campaigner.reports import cohorts, fan_tiers, lifecycle, weekly
from campaigner.reports.forms import STAGE_LABELS, TIER_LABELS, GoalNotesForm, LifecycleForm, TierRulesForm
from campaigner.permissions import can, requires
from campaigner.web import render_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

FIGURE_LABELS = {
    "joins": _l("New contacts"), "losses": _l("Contacts lost"), "net_growth": _l("Net contact growth"),
    "active": _l("Active contacts"), "retention_rate": _l("Retention rate"), "buyers": _l("Buyers"),
    "orders": _l("Orders"), "revenue": _l("Revenue"), "repurchase_rate": _l("Repurchase rate"),
    "coupons_issued": _l("Coupons issued"), "coupons_redeemed": _l("Coupons redeemed"),
    "coupon_redemption": _l("Coupon redemption rate"),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_WEEKS = 26


def _tz() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(_tz())).date()


def _can_review() -> bool:
    return can(current_user, "reports.write")


def formula_safe(cell):
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def _csv(name: str, header: list[str], rows) -> Response:
    safe = ([formula_safe(cell) for cell in row] for row in rows)
    return Response(to_csv(header, safe), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _day_arg(name: str, default: dt.date) -> dt.date:
    value = request.args.get(name)
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        abort(400, description=_("Dates are written as YYYY-MM-DD."))


@bp.context_processor
def _context():
    return {"figure_labels": FIGURE_LABELS, "metric_labels": METRIC_LABELS, "percent_metrics": PERCENT_METRICS,
            "tier_labels": TIER_LABELS, "stage_labels": STAGE_LABELS, "can_review": _can_review(),
            "rates": weekly.RATES}


# ---------------------------------------------------------------- the weekly review


@bp.route("/weekly")
@requires("reports.read")
def weekly_page():
    today = _today()
    day = _day_arg("week", today - dt.timedelta(days=7))
    review = weekly.weekly_review(day, _tz(), today)
    if request.args.get("export") == "csv":
        return _csv(csv_filename("weekly-review", review.week), ["section", "name", "this_week", "last_week_or_target",
                                                                 "change"], weekly.csv_rows(review))
    chart = line_chart([d["day"].strftime("%m-%d") for d in review.days],
                       [(_("New contacts"), [d["joins"] for d in review.days]),
                        (_("Orders"), [d["orders"] for d in review.days]),
                        (_("Buyers"), [d["buyers"] for d in review.days])], _("The week by day"))
    notes = {g["goal"].id: GoalNotesForm(obj=g["goal"], prefix=f"g{g['goal'].id}") for g in review.goals}
    return render_page("reports/weekly.html", block="review", review=review, chart=chart, notes=notes,
                       previous_week=review.week - dt.timedelta(days=7), next_week=review.week + dt.timedelta(days=7))


@bp.route("/goals/<int:goal_id>/notes", methods=["POST"])
@requires("reports.write")
def goal_notes(goal_id: int):
    goal = KpiGoal.get_or_none(KpiGoal.id == goal_id) or abort(404)
    form = GoalNotesForm(prefix=f"g{goal.id}")
    if not form.validate():
        abort(422, description=_("A note is at most 4000 characters."))
    weekly.save_goal_notes(goal, plan=form.plan_note.data, outcome=form.outcome_note.data,
                           next_step=form.next_note.data, user=current_user)
    flash(_("Review notes saved."), "success")
    return redirect(url_for("reports.weekly_page", week=request.args.get("week") or None))


# ---------------------------------------------------------------- cohorts and sources


@bp.route("/cohorts")
@requires("reports.read")
def cohorts_page():
    tz, today = _tz(), _today()
    last = _day_arg("end", today)
    try:
        weeks = int(request.args.get("weeks", 12))
    except ValueError:
        weeks = 0
    if not 1 <= weeks <= MAX_WEEKS:
        abort(400, description=_("Weeks is a whole number from 1 to %(n)d.", n=MAX_WEEKS))
    rows = cohorts.cohort_triangle(last, weeks, tz)
    start, end = utc_bounds(rows[0].week, rows[-1].week + dt.timedelta(days=6), tz)
    sources = cohorts.value_by_source(start, end, utcnow())
    export = request.args.get("export")
    if export == "cohorts":
        return _csv(csv_filename("cohorts", rows[0].week, weeks), ["join_week", "size", "week", "active",
                                                                    "retention_pct", "value_per_member"],
                    ([r.week.isoformat(), r.size, k, r.active[k], r.rates[k], r.value_per_member[k]]
                     for r in rows for k in range(len(r.active))))
    if export == "sources":
        return _csv(csv_filename("sources", rows[0].week, weeks), ["source", "adds", "retained_30d", "eligible_30d",
                                                                    "retention_pct", "buyers", "revenue",
                                                                    "revenue_per_add"],
                    ([s["source"], s["adds"], s["retained"], s["eligible"], s["retention_rate"], s["buyers"],
                      s["revenue"], s["revenue_per_add"]] for s in sources))
    return render_page("reports/cohorts.html", rows=rows, weeks=weeks, last=last, sources=sources,
                       ltv=cohorts.lifetime_value(start, end), source_group=cohorts.source_group())


# ---------------------------------------------------------------- fan tiers and lifecycle


@bp.route("/segments")
@requires("reports.read")
def segments_page():
    end = _today()
    start = end - dt.timedelta(days=89)
    tier_keys = [fan_tiers.tier_tag(t) for t in fan_tiers.TIERS]
    stage_keys = [lifecycle.stage_tag(s) for s in lifecycle.STAGES]
    tier_days, tier_series = fan_tiers.size_history(tier_keys, start, end)
    stage_days, stage_series = fan_tiers.size_history(stage_keys, start, end)
    tier_chart = line_chart([d.strftime("%m-%d") for d in tier_days],
                            [(str(TIER_LABELS[k.split(":")[1]]), [v or 0 for v in tier_series[k]]) for k in tier_keys],
                            _("Fan tiers over time"))
    stage_chart = line_chart([d.strftime("%m-%d") for d in stage_days],
                             [(str(STAGE_LABELS[k.split(":")[1]]), [v or 0 for v in stage_series[k]])
                              for k in stage_keys], _("Lifecycle stages over time"))
    rules = fan_tiers.rules()
    rows = [{**r, "min_spend": Decimal(str(r["min_spend"]))} for r in rules["rules"]]
    rules_form = TierRulesForm(formdata=None, data={"engagement_days": rules["engagement_days"], "rules": rows})
    life_form = LifecycleForm(formdata=None, data=lifecycle.thresholds())
    return render_page("reports/segments.html", tier_days=tier_days, tier_series=tier_series, tier_keys=tier_keys,
                       stage_days=stage_days, stage_series=stage_series, stage_keys=stage_keys,
                       tier_chart=tier_chart, stage_chart=stage_chart, rules_form=rules_form, life_form=life_form)


@bp.route("/segments/rules", methods=["POST"])
@requires("reports.write")
def tier_rules():
    form = TierRulesForm()
    if not form.validate():
        abort(422, description=_("Each minimum is a number of zero or more."))
    try:
        stored = fan_tiers.set_rules(form.engagement_days.data,
                                     [{"tier": row.tier.data, "min_spend": row.min_spend.data,
                                       "min_orders": row.min_orders.data, "min_engagement": row.min_engagement.data}
                                      for row in form.rules])
    except fan_tiers.TierRuleError as exc:
        abort(422, description=str(exc))
    record_audit(current_user, "changed", object_type="fan_tiers", summary=str(stored["rules"])[:500])
    fan_tiers.recompute_tiers()
    flash(_("Fan tier rules saved and tiers recomputed."), "success")
    return redirect(url_for("reports.segments_page"))


@bp.route("/segments/lifecycle", methods=["POST"])
@requires("reports.write")
def lifecycle_settings():
    form = LifecycleForm()
    if not form.validate():
        abort(422, description=_("Each threshold is a whole number of days."))
    try:
        stored = lifecycle.set_thresholds(**{k: getattr(form, k).data for k in lifecycle.DEFAULTS})
    except ValueError as exc:
        abort(422, description=str(exc))
    record_audit(current_user, "changed", object_type="lifecycle", summary=str(stored))
    lifecycle.recompute_stages()
    flash(_("Lifecycle thresholds saved and stages recomputed."), "success")
    return redirect(url_for("reports.segments_page"))


@bp.route("/segments/recompute", methods=["POST"])
@requires("reports.write")
def recompute():
    fan_tiers.recompute_tiers()
    lifecycle.recompute_stages()
    flash(_("Fan tiers and lifecycle stages recomputed."), "success")
    return redirect(url_for("reports.segments_page"))
