"""The weekly review: the week's numbers against the week before and the goals, the best and worst campaigns,
the calendars' weeks, and the days as a chart.

A week is Monday to Sunday in the instance's zone. Each figure is an indexed
query over the week's rows (joins, orders, clicks, codes), so the review costs
the same at a million contacts as at a thousand (bench/reports.py measures it).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from peewee import fn

from campaigner.analytics import services as analytics
from campaigner.analytics.models import KpiGoal
from campaigner.analytics.timeseries import days_between, local_day_counts, utc_bounds
from campaigner.audience.models import Contact, Order
from campaigner.audit import record_audit
from campaigner.calendars.models import Calendar, CalendarEntry
from campaigner.campaigns.models import Campaign
from campaigner.reports import kpis
from campaigner.reports.cohorts import week_start

# The figures of the review, in the order the page and the CSV show them; rates are percent.
FIGURES = ("joins", "losses", "net_growth", "active", "retention_rate", "buyers", "orders", "revenue",
           "repurchase_rate", "coupons_issued", "coupons_redeemed", "coupon_redemption")
RATES = ("retention_rate", "repurchase_rate", "coupon_redemption")
CAMPAIGNS_SHOWN = 3


@dataclass
class WeeklyReview:
    week: dt.date  # the Monday
    figures: dict[str, float | int | None]
    previous: dict[str, float | int | None]
    goals: list[dict] = field(default_factory=list)
    best: list[tuple[Campaign, analytics.Funnel]] = field(default_factory=list)
    worst: list[tuple[Campaign, analytics.Funnel]] = field(default_factory=list)
    calendars: list[dict] = field(default_factory=list)
    live_codes: list[dict] = field(default_factory=list)  # filled once WeCom live codes land
    days: list[dict] = field(default_factory=list)

    @property
    def last_day(self) -> dt.date:
        return self.week + dt.timedelta(days=6)

    def change(self, name: str) -> float | None:
        """This week minus last week (points for rates)."""
        now, before = self.figures.get(name), self.previous.get(name)
        if now is None or before is None:
            return None
        return round(float(now) - float(before), 2)


def week_figures(start: dt.datetime, end: dt.datetime) -> dict:
    """Every figure of FIGURES over [start, end) UTC."""
    buyer_count, order_count, revenue = kpis.buyers(start, end)
    issued, redeemed = kpis.coupons(start, end)
    joins, losses = kpis.joins(start, end), kpis.losses(start, end)
    return {"joins": joins, "losses": losses, "net_growth": joins - losses,
            "active": kpis.active_contacts(start, end), "retention_rate": kpis.retention_rate(start, end),
            "buyers": buyer_count, "orders": order_count, "revenue": round(revenue, 2),
            "repurchase_rate": kpis.repurchase_rate(start, end), "coupons_issued": issued,
            "coupons_redeemed": redeemed, "coupon_redemption": kpis._pct(redeemed, issued)}


def weekly_review(day: dt.date, tz: str, today: dt.date | None = None) -> WeeklyReview:
    """The review of the local week holding `day`."""
    monday = week_start(day)
    sunday = monday + dt.timedelta(days=6)
    start, end = utc_bounds(monday, sunday, tz)
    before_start, before_end = utc_bounds(monday - dt.timedelta(days=7), sunday - dt.timedelta(days=7), tz)
    review = WeeklyReview(monday, week_figures(start, end), week_figures(before_start, before_end))
    today = today or sunday
    review.goals = [analytics.kpi_progress(goal, tz, today) for goal in
                    KpiGoal.select().where(KpiGoal.period_start <= sunday, KpiGoal.period_end >= monday)
                    .order_by(KpiGoal.period_end, KpiGoal.id)]
    review.best, review.worst = _campaigns(start, end)
    review.calendars = _calendars(start, end)
    review.days = _days(monday, sunday, start, end, tz)
    return review


def _campaigns(start: dt.datetime, end: dt.datetime):
    """The week's campaigns (started in it) ranked by conversion of delivered, then revenue."""
    started = list(Campaign.select().where(Campaign.parent.is_null(), Campaign.started_at >= start,
                                           Campaign.started_at < end))
    funnels = analytics.campaign_funnels([c.id for c in started])
    ranked = sorted(((c, funnels.get(c.id, analytics.Funnel())) for c in started if funnels.get(c.id)
                     and funnels[c.id].delivered),
                    key=lambda cf: (cf[1].converted / cf[1].delivered, cf[1].revenue, -cf[0].id), reverse=True)
    best = ranked[:CAMPAIGNS_SHOWN]
    worst = [cf for cf in reversed(ranked[CAMPAIGNS_SHOWN:])][:CAMPAIGNS_SHOWN]
    return best, worst


def _calendars(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per calendar with entries due in the week: entries planned, published, and their campaigns' funnel."""
    out = []
    entries = (CalendarEntry.select(CalendarEntry.calendar, fn.COUNT(CalendarEntry.id),
                                    fn.COUNT(CalendarEntry.campaign))
               .where(CalendarEntry.send_at >= start, CalendarEntry.send_at < end)
               .group_by(CalendarEntry.calendar).tuples())
    for calendar_id, planned, published in entries:
        campaign_ids = [c for (c,) in CalendarEntry.select(CalendarEntry.campaign)
                        .where(CalendarEntry.calendar == calendar_id, CalendarEntry.send_at >= start,
                               CalendarEntry.send_at < end, CalendarEntry.campaign.is_null(False)).tuples()]
        out.append({"calendar": Calendar.get_by_id(calendar_id), "planned": int(planned),
                    "published": int(published), "funnel": analytics.funnel(campaign_ids)})
    return sorted(out, key=lambda r: r["calendar"].name)


def _days(monday: dt.date, sunday: dt.date, start: dt.datetime, end: dt.datetime, tz: str) -> list[dict]:
    joined = local_day_counts(Contact.select().where(Contact.created_at >= start, Contact.created_at < end),
                              Contact.created_at, tz)
    ordered = local_day_counts(Order.select().where(Order.occurred_at >= start, Order.occurred_at < end),
                               Order.occurred_at, tz, distinct=Order.contact)
    return [{"day": d, "joins": joined.get(d, {}).get("count", 0), "orders": ordered.get(d, {}).get("count", 0),
             "buyers": ordered.get(d, {}).get("unique", 0)} for d in days_between(monday, sunday)]


def csv_rows(review: WeeklyReview) -> list[list]:
    """The review as rows of (section, name, this week, last week / target, change)."""
    rows = [["figure", name, review.figures[name], review.previous[name], review.change(name)] for name in FIGURES]
    for g in review.goals:
        rows.append(["goal", g["goal"].name, g["value"], g["target"], g["share"]])
        for note in ("plan_note", "outcome_note", "next_note"):
            if getattr(g["goal"], note):
                rows.append([note, g["goal"].name, getattr(g["goal"], note), "", ""])
    for section, pairs in (("best_campaign", review.best), ("worst_campaign", review.worst)):
        for campaign, f in pairs:
            rows.append([section, campaign.name, f.converted, f.delivered, str(f.revenue)])
    for c in review.calendars:
        rows.append(["calendar", c["calendar"].name, c["published"], c["planned"], c["funnel"].clicked])
    for d in review.days:
        rows.append(["day", d["day"].isoformat(), d["joins"], d["orders"], d["buyers"]])
    return rows


def save_goal_notes(goal: KpiGoal, *, plan: str, outcome: str, next_step: str, user=None) -> KpiGoal:
    """Store a goal's PDCA review: what was planned, what happened, what changes next period."""
    goal.plan_note, goal.outcome_note, goal.next_note = (str(v or "").strip()[:4000] for v in (plan, outcome, next_step))
    goal.save(only=[KpiGoal.plan_note, KpiGoal.outcome_note, KpiGoal.next_note])
    record_audit(user, "reviewed", goal, summary=goal.name)
    return goal
