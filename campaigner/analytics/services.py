"""The figures of the analytics pages: funnels, channels compared, days, RFM trends and KPI goals.

Funnel stages, per campaign (a recurring campaign together with its runs) or calendar:

- targeted: deliveries written at fan-out (one per contact);
- sent: handed to a channel, whatever came of it (sent, failed, unknown outcome);
- delivered: a receipt says it arrived; on a channel that sends no receipts (none of its deliveries
  here has one), the channel accepting it (status sent) is the best we know;
- clicked: unique human visitors of the campaign's short links (bots left out);
- converted: contacts with an order attributed to one of those clicks.

Everything is counted in SQL with GROUP BY; nothing loops over contacts.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from peewee import SQL, Case, fn

from campaigner.analytics.models import ChannelCost, KpiGoal, RfmSnapshot
from campaigner.analytics.timeseries import as_date, days_between, local_day_counts, utc_bounds
from campaigner.campaigns.models import Campaign
from campaigner.db import utcnow
from campaigner.deliveries.models import Delivery
from campaigner.links.models import Click, Conversion, ShortLink
from campaigner.reports import kpis as report_kpis

SOURCE = "campaign"  # the deliveries' source_type the campaign engine writes
ATTEMPTED = ("sent", "failed", "unknown")
STAGES = ("targeted", "sent", "delivered", "clicked", "converted")
RFM_SEGMENTS = ("A", "B", "C", "D", "E", "F", "G", "H", "super-user")


@dataclass
class Funnel:
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    converted: int = 0
    clicks: int = 0  # every human click, not only the first of each visitor
    orders: int = 0
    revenue: Decimal = Decimal("0")
    by_status: dict = field(default_factory=dict)

    def stages(self) -> list[tuple[str, int]]:
        return [(name, getattr(self, name)) for name in STAGES]

    def rates(self) -> dict[str, float | None]:
        """Each stage as a percentage of the stage before it, and converted of targeted ("overall")."""
        out = {}
        for previous, name in zip(STAGES, STAGES[1:]):
            out[name] = _pct(getattr(self, name), getattr(self, previous))
        out["overall"] = _pct(self.converted, self.targeted)
        return out

    def as_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in STAGES}, "clicks": self.clicks, "orders": self.orders,
                "revenue": str(self.revenue), "rates": self.rates()}


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _pct(part, whole) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _family():
    """A campaign's family id: a run counts for the recurring campaign it came from."""
    return fn.COALESCE(Campaign.parent, Campaign.id)


def campaign_family_ids(campaign_id: int) -> list[int]:
    """The campaign and, when it is recurring, each of its runs."""
    runs = [r for (r,) in Campaign.select(Campaign.id).where(Campaign.parent == campaign_id).tuples()]
    return [campaign_id, *runs]


def calendar_campaign_ids(calendar_id: int) -> list[int]:
    """The campaigns that published the entries of a calendar.

    An entry names its current campaign; one taken back and published again
    leaves an earlier campaign behind, found by its origin ``calendar_entry:<id>``.
    """
    from campaigner.calendars.models import CalendarEntry

    entries = CalendarEntry.select(CalendarEntry.id, CalendarEntry.campaign).where(CalendarEntry.calendar == calendar_id)
    ids = {c for _, c in entries.tuples() if c}
    origins = [f"calendar_entry:{e}" for e, _ in entries.tuples()]
    for start in range(0, len(origins), 500):
        ids.update(c for (c,) in Campaign.select(Campaign.id).where(Campaign.origin.in_(origins[start:start + 500])).tuples())
    return sorted(ids)


def funnel(campaign_ids: list[int]) -> Funnel:
    """The funnel of these campaigns taken together (unique counts are unique across them)."""
    result = Funnel()
    if not campaign_ids:
        return result
    receipted = Delivery.delivered_at.is_null(False)
    rows = list(Delivery.select(Delivery.channel, Delivery.status, receipted, fn.COUNT(SQL("*")))
                .where(Delivery.source_type == SOURCE, Delivery.source_id.in_(campaign_ids))
                .group_by(Delivery.channel, Delivery.status, receipted).tuples())
    for _channel, status, _receipt, count in rows:
        result.by_status[status] = result.by_status.get(status, 0) + count
    _fill_deliveries(result)
    result.delivered = delivered_count(rows)
    clicks = (Click.select(fn.COUNT(fn.DISTINCT(Click.visitor)), fn.COUNT(SQL("*"))).join(ShortLink)
              .where(ShortLink.campaign.in_(campaign_ids), Click.is_bot == False).tuples().first())  # noqa: E712
    result.clicked, result.clicks = (int(v or 0) for v in clicks)
    conv = (Conversion.select(fn.COUNT(fn.DISTINCT(Conversion.contact)), fn.COUNT(SQL("*")), fn.SUM(Conversion.amount))
            .where(Conversion.campaign.in_(campaign_ids)).tuples().first())
    result.converted, result.orders = int(conv[0] or 0), int(conv[1] or 0)
    result.revenue = _money(conv[2])
    return result


def _fill_deliveries(result: Funnel) -> None:
    result.targeted = sum(result.by_status.values())
    result.sent = sum(result.by_status.get(s, 0) for s in ATTEMPTED)
    result.delivered = result.by_status.get("sent", 0)


def delivered_count(rows) -> int:
    """Delivered among (channel, status, has receipt, count) rows: receipted ones, and sent ones on channels without receipts."""
    with_receipts = {channel for channel, _status, receipt, _count in rows if receipt}
    return sum(count for channel, status, receipt, count in rows
               if status == "sent" and (receipt or channel not in with_receipts))


def campaign_funnels(campaign_ids: list[int]) -> dict[int, Funnel]:
    """The funnel of each campaign family (id of the campaign or of the recurring one it ran from)."""
    out: dict[int, Funnel] = {}
    if not campaign_ids:
        return out
    family = _family()
    receipted = Delivery.delivered_at.is_null(False)
    delivery_rows = (Delivery.select(family, Delivery.channel, Delivery.status, receipted, fn.COUNT(SQL("*")))
                     .join(Campaign, on=(Delivery.source_id == Campaign.id))
                     .where(Delivery.source_type == SOURCE, family.in_(campaign_ids))
                     .group_by(family, Delivery.channel, Delivery.status, receipted).tuples())
    rows_of: dict[int, list] = {}
    for family_id, channel, status, receipt, count in delivery_rows:
        f = out.setdefault(family_id, Funnel())
        f.by_status[status] = f.by_status.get(status, 0) + count
        rows_of.setdefault(family_id, []).append((channel, status, receipt, count))
    for family_id, f in out.items():
        _fill_deliveries(f)
        f.delivered = delivered_count(rows_of[family_id])
    click_rows = (Click.select(family, fn.COUNT(fn.DISTINCT(Click.visitor)), fn.COUNT(SQL("*")))
                  .join(ShortLink).join(Campaign, on=(ShortLink.campaign == Campaign.id))
                  .where(family.in_(campaign_ids), Click.is_bot == False)  # noqa: E712
                  .group_by(family).tuples())
    for family_id, unique, total in click_rows:
        f = out.setdefault(family_id, Funnel())
        f.clicked, f.clicks = int(unique), int(total)
    conv_rows = (Conversion.select(family, fn.COUNT(fn.DISTINCT(Conversion.contact)), fn.COUNT(SQL("*")),
                                   fn.SUM(Conversion.amount))
                 .join(Campaign, on=(Conversion.campaign == Campaign.id))
                 .where(family.in_(campaign_ids)).group_by(family).tuples())
    for family_id, contacts, orders, revenue in conv_rows:
        f = out.setdefault(family_id, Funnel())
        f.converted, f.orders, f.revenue = int(contacts), int(orders), _money(revenue)
    return out


def top_level_campaigns(limit: int = 200) -> list[Campaign]:
    """Campaigns that are not runs of a recurring one, newest first."""
    return list(Campaign.select().where(Campaign.parent.is_null()).order_by(Campaign.id.desc()).limit(limit))


def channel_funnels(campaign_ids: list[int]) -> dict[str, Funnel]:
    """The funnel of these campaigns split by channel."""
    out: dict[str, Funnel] = {}
    if not campaign_ids:
        return out
    for channel, status, count in (Delivery.select(Delivery.channel, Delivery.status, fn.COUNT(SQL("*")))
                                   .where(Delivery.source_type == SOURCE, Delivery.source_id.in_(campaign_ids))
                                   .group_by(Delivery.channel, Delivery.status).tuples()):
        out.setdefault(channel, Funnel()).by_status[status] = count
    for f in out.values():
        _fill_deliveries(f)
    for channel, unique, total in (Click.select(ShortLink.channel, fn.COUNT(fn.DISTINCT(Click.visitor)),
                                                fn.COUNT(SQL("*"))).join(ShortLink)
                                   .where(ShortLink.campaign.in_(campaign_ids), Click.is_bot == False)  # noqa: E712
                                   .group_by(ShortLink.channel).tuples()):
        f = out.setdefault(channel, Funnel())
        f.clicked, f.clicks = int(unique), int(total)
    for channel, contacts, orders, revenue in (Conversion.select(Conversion.channel,
                                                                 fn.COUNT(fn.DISTINCT(Conversion.contact)),
                                                                 fn.COUNT(SQL("*")), fn.SUM(Conversion.amount))
                                               .where(Conversion.campaign.in_(campaign_ids))
                                               .group_by(Conversion.channel).tuples()):
        f = out.setdefault(channel, Funnel())
        f.converted, f.orders, f.revenue = int(contacts), int(orders), _money(revenue)
    return out


# ---------------------------------------------------------------- channels compared


def channel_costs() -> dict[str, Decimal]:
    return {c.channel: Decimal(str(c.cost_per_message)) for c in ChannelCost.select()}


def set_channel_cost(channel: str, cost: Decimal | str | float) -> None:
    """Store what one message on `channel` costs."""
    cost = Decimal(str(cost))
    if cost < 0:
        raise ValueError("a cost can't be negative")
    (ChannelCost.insert(channel=channel, cost_per_message=cost, updated_at=utcnow())
     .on_conflict(conflict_target=[ChannelCost.channel],
                  update={ChannelCost.cost_per_message: cost, ChannelCost.updated_at: utcnow()}).execute())


def compare_channels(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per channel over [start, end) UTC: messages, clicks, conversions, cost per message, click and conversion."""
    rows: dict[str, dict] = {}

    def row(channel: str) -> dict:
        return rows.setdefault(channel, {"channel": channel, "sent": 0, "delivered": 0, "clicked": 0, "clicks": 0,
                                         "converted": 0, "orders": 0, "revenue": Decimal("0")})

    delivered = Case(None, [(Delivery.status == "sent", 1)], 0)
    for channel, sent, ok in (Delivery.select(Delivery.channel, fn.COUNT(SQL("*")), fn.SUM(delivered))
                              .where(Delivery.status.in_(ATTEMPTED), Delivery.updated_at >= start,
                                     Delivery.updated_at < end)
                              .group_by(Delivery.channel).tuples()):
        r = row(channel)
        r["sent"], r["delivered"] = int(sent), int(ok or 0)
    for channel, unique, total in (Click.select(ShortLink.channel, fn.COUNT(fn.DISTINCT(Click.visitor)),
                                                fn.COUNT(SQL("*"))).join(ShortLink)
                                   .where(Click.at >= start, Click.at < end, Click.is_bot == False,  # noqa: E712
                                          ShortLink.kind != "manual")
                                   .group_by(ShortLink.channel).tuples()):
        r = row(channel)
        r["clicked"], r["clicks"] = int(unique), int(total)
    for channel, contacts, orders, revenue in (Conversion.select(Conversion.channel,
                                                                 fn.COUNT(fn.DISTINCT(Conversion.contact)),
                                                                 fn.COUNT(SQL("*")), fn.SUM(Conversion.amount))
                                               .where(Conversion.at >= start, Conversion.at < end)
                                               .group_by(Conversion.channel).tuples()):
        r = row(channel or "")
        r["converted"], r["orders"], r["revenue"] = int(contacts), int(orders), _money(revenue)
    costs = channel_costs()
    for r in rows.values():
        unit = costs.get(r["channel"])
        r["cost_per_message"] = unit
        r["cost"] = None if unit is None else (unit * r["delivered"]).quantize(Decimal("0.01"))
        r["cost_per_click"] = _per(r["cost"], r["clicked"])
        r["cost_per_conversion"] = _per(r["cost"], r["orders"])
        r["click_rate"] = _pct(r["clicked"], r["delivered"])
        r["conversion_rate"] = _pct(r["converted"], r["delivered"])
    return sorted(rows.values(), key=lambda r: r["channel"])


def _per(cost: Decimal | None, count: int) -> Decimal | None:
    if cost is None or not count:
        return None
    return (cost / count).quantize(Decimal("0.01"))


# ---------------------------------------------------------------- over time


def daily_activity(start_day: dt.date, end_day: dt.date, tz: str) -> list[dict]:
    """Per local day: messages delivered, human clicks and unique visitors, opt-outs, conversions."""
    from campaigner.audience.models import OptOut

    start, end = utc_bounds(start_day, end_day, tz)
    sent = local_day_counts(Delivery.select().where(Delivery.status == "sent", Delivery.sent_at >= start,
                                                    Delivery.sent_at < end), Delivery.sent_at, tz)
    clicks = local_day_counts(Click.select().where(Click.at >= start, Click.at < end,
                                                   Click.is_bot == False), Click.at, tz,  # noqa: E712
                              distinct=Click.visitor)
    opt_outs = local_day_counts(OptOut.select().where(OptOut.at >= start, OptOut.at < end), OptOut.at, tz)
    conversions = local_day_counts(Conversion.select().where(Conversion.at >= start, Conversion.at < end),
                                   Conversion.at, tz)
    return [{"day": day, "sent": sent.get(day, {}).get("count", 0), "clicks": clicks.get(day, {}).get("count", 0),
             "unique_clicks": clicks.get(day, {}).get("unique", 0),
             "opt_outs": opt_outs.get(day, {}).get("count", 0),
             "conversions": conversions.get(day, {}).get("count", 0)}
            for day in days_between(start_day, end_day)]


# ---------------------------------------------------------------- RFM and super users


def snapshot_rfm(day: dt.date) -> dict[str, int]:
    """Store today's size of each RFM class and of the super users (a later snapshot the same day replaces it)."""
    from campaigner.audience.models import ContactTag, Tag

    keys = {f"rfm:{c}": c for c in RFM_SEGMENTS if c != "super-user"}
    keys["super-user"] = "super-user"
    sizes = dict.fromkeys(RFM_SEGMENTS, 0)
    for key, count in (Tag.select(Tag.key, fn.COUNT(ContactTag.contact)).join(ContactTag)
                       .where(Tag.key.in_(list(keys))).group_by(Tag.key).tuples()):
        sizes[keys[key]] = int(count)
    now = utcnow()
    for segment, size in sizes.items():
        (RfmSnapshot.insert(day=day, segment=segment, size=size, taken_at=now)
         .on_conflict(conflict_target=[RfmSnapshot.day, RfmSnapshot.segment],
                      update={RfmSnapshot.size: size, RfmSnapshot.taken_at: now}).execute())
    return sizes


def rfm_trend(start_day: dt.date, end_day: dt.date) -> tuple[list[dt.date], dict[str, list[int | None]]]:
    """Days with a snapshot in the range, and each segment's size on those days."""
    rows = list(RfmSnapshot.select(RfmSnapshot.day, RfmSnapshot.segment, RfmSnapshot.size)
                .where(RfmSnapshot.day >= start_day, RfmSnapshot.day <= end_day).tuples())
    days = sorted({as_date(d) for d, _, _ in rows})
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[int | None]] = {s: [None] * len(days) for s in RFM_SEGMENTS}
    for day, segment, size in rows:
        if segment in series:
            series[segment][index[as_date(day)]] = size
    return days, series


# ---------------------------------------------------------------- KPI goals


def kpi_value(metric: str, start_day: dt.date, end_day: dt.date, tz: str) -> float | None:
    """The metric's value over the local days `start_day`..`end_day` (rates and growth in percent)."""
    from campaigner.audience.models import Contact, Order

    start, end = utc_bounds(start_day, end_day, tz)
    human = (Click.is_bot == False) & (Click.at >= start) & (Click.at < end)  # noqa: E712
    if metric == "active_rate":
        clickers = Click.select(Click.contact.alias("cid")).where(human, Click.contact.is_null(False))
        buyers = Order.select(Order.contact.alias("cid")).where(Order.occurred_at >= start, Order.occurred_at < end)
        active = (clickers | buyers)  # UNION: each contact once
        total = Contact.select().count()
        return _pct(active.count(), total)
    if metric == "interaction_rate":
        reached = (Delivery.select(fn.COUNT(fn.DISTINCT(Delivery.contact)))
                   .where(Delivery.status == "sent", Delivery.sent_at >= start, Delivery.sent_at < end).scalar())
        clicked = (Click.select(fn.COUNT(fn.DISTINCT(Click.contact)))
                   .where(human, Click.contact.is_null(False)).scalar())
        return _pct(clicked or 0, reached or 0)
    if metric == "conversions":
        return float(Conversion.select().where(Conversion.at >= start, Conversion.at < end).count())
    if metric == "revenue":
        total = Conversion.select(fn.SUM(Conversion.amount)).where(Conversion.at >= start, Conversion.at < end).scalar()
        return float(total or 0)
    if metric == "unique_clicks":
        return float(Click.select(fn.COUNT(fn.DISTINCT(Click.visitor))).where(human).scalar() or 0)
    if metric == "conversions_growth":
        length = (end_day - start_day).days + 1
        now = Conversion.select().where(Conversion.at >= start, Conversion.at < end).count()
        p_start, p_end = utc_bounds(start_day - dt.timedelta(days=length), start_day - dt.timedelta(days=1), tz)
        before = Conversion.select().where(Conversion.at >= p_start, Conversion.at < p_end).count()
        return None if not before else round(100.0 * (now - before) / before, 1)
    if metric in report_kpis.REPORT_METRICS:
        return report_kpis.metric_value(metric, start, end)
    raise ValueError(f"unknown KPI metric {metric!r}")


def kpi_progress(goal: KpiGoal, tz: str, today: dt.date) -> dict:
    """Where a goal stands: its value so far, the share of the target reached, the share of time gone."""
    value = kpi_value(goal.metric, goal.period_start, min(goal.period_end, today), tz)
    target = float(goal.target)
    length = (goal.period_end - goal.period_start).days + 1
    elapsed = min(length, max(0, (today - goal.period_start).days + 1))
    reached = value is not None and value >= target
    return {"goal": goal, "value": value, "target": target,
            "share": None if value is None or not target else round(100.0 * value / target, 1),
            "time_share": round(100.0 * elapsed / length, 1), "reached": reached,
            "finished": today > goal.period_end}


# Days a goal may cover: a date outside them is a typo (0177 for 2017), and date arithmetic
# near year 1 or 9999 overflows every page that shows the goal.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def create_goal(*, name: str, metric: str, target, period_start: dt.date, period_end: dt.date, user=None) -> KpiGoal:
    """A new KPI goal; raises ValueError naming what is wrong."""
    from campaigner.analytics.models import KPI_METRICS
    from campaigner.audit import record_audit

    if metric not in KPI_METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if not (FIRST_DAY <= period_start <= LAST_DAY and FIRST_DAY <= period_end <= LAST_DAY):
        raise ValueError(f"a goal's days are from {FIRST_DAY} to {LAST_DAY}")
    if period_end < period_start:
        raise ValueError("the period ends before it starts")
    if not Decimal(str(target)).is_finite() or not -1000 <= Decimal(str(target)) <= 10 ** 12:
        raise ValueError("the target is a number from -1,000 to 1,000,000,000,000")
    if not (name or "").strip():
        raise ValueError("a goal needs a name")
    goal = KpiGoal.create(name=name.strip()[:200], metric=metric, target=Decimal(str(target)),
                          period_start=period_start, period_end=period_end, created_by=getattr(user, "id", None))
    record_audit(user, "created", goal, summary=f"{goal.name}: {metric} {target}")
    return goal
