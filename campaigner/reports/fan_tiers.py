"""Fan tiers (铁杆 / 真爱 / 实力 / 普通 / 潜力 粉丝): editable rules over spend, orders and engagement, kept as tags.

Each rule names a tier and three minimums: money spent, orders placed (both over
all time) and engagement (clicks now, replies once WeCom lands) over the last
`engagement_days`. Rules are tried in order and a contact gets the first tier
whose minimums it meets all of; a contact meeting none has no tier. The tiers are
the tags ``fan:iron`` … ``fan:potential`` in the tag group ``fan``, recomputed
with RFM every night; each recompute stores the tier sizes, for the page that
shows them over time.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import peewee

from campaigner.analytics.models import RfmSnapshot
from campaigner.audience.computed_tags import replace_computed_tags
from campaigner.audience.models import Order
from campaigner.db import database, utcnow
from campaigner.reports.activity import ENGAGEMENT_SOURCES, union
from campaigner.settings_store import get_value, set_value

TIERS = ("iron", "devoted", "strong", "regular", "potential")
TIER_NAMES = {"iron": "铁杆粉丝", "devoted": "真爱粉丝", "strong": "实力粉丝", "regular": "普通粉丝",
              "potential": "潜力粉丝"}
GROUP = "fan"
RULES_KEY = "reports.fan_tiers"
DEFAULT_RULES = {
    "engagement_days": 90,
    "rules": [
        {"tier": "iron", "min_spend": "3000", "min_orders": 6, "min_engagement": 3},
        {"tier": "devoted", "min_spend": "1000", "min_orders": 3, "min_engagement": 1},
        {"tier": "strong", "min_spend": "1000", "min_orders": 1, "min_engagement": 0},
        {"tier": "regular", "min_spend": "0", "min_orders": 1, "min_engagement": 0},
        {"tier": "potential", "min_spend": "0", "min_orders": 0, "min_engagement": 1},
    ],
}


class TierRuleError(ValueError):
    """A tier rule is not valid; the message says which and why."""


def tier_tag(tier: str) -> str:
    return f"{GROUP}:{tier}"


def rules() -> dict:
    """The rules in force: the stored ones, else the defaults."""
    return get_value(RULES_KEY) or DEFAULT_RULES


def set_rules(engagement_days, rule_rows: list[dict]) -> dict:
    """Check and store the rules (one per tier, in the order given); raise TierRuleError naming what is wrong."""
    try:
        days = int(engagement_days)
    except (TypeError, ValueError):
        raise TierRuleError("engagement_days is a whole number of days") from None
    if not 1 <= days <= 3650:
        raise TierRuleError("engagement_days is 1 to 3650")
    clean = []
    for row in rule_rows:
        tier = row.get("tier")
        if tier not in TIERS:
            raise TierRuleError(f"unknown tier {tier!r}")
        try:
            spend = Decimal(str(row.get("min_spend") or 0))
            orders, engagement = int(row.get("min_orders") or 0), int(row.get("min_engagement") or 0)
        except (InvalidOperation, TypeError, ValueError):
            raise TierRuleError(f"{tier}: the minimums are numbers") from None
        if not spend.is_finite() or spend < 0 or orders < 0 or engagement < 0 or spend > Decimal("1e12"):
            raise TierRuleError(f"{tier}: the minimums are zero or more")
        if spend == 0 and orders == 0 and engagement == 0:
            raise TierRuleError(f"{tier}: a rule every contact meets would leave the tiers after it empty")
        clean.append({"tier": tier, "min_spend": str(spend), "min_orders": orders, "min_engagement": engagement})
    if sorted(r["tier"] for r in clean) != sorted(TIERS):
        raise TierRuleError("give one rule for each tier")
    stored = {"engagement_days": days, "rules": clean}
    set_value(RULES_KEY, stored)
    return stored


def tier_for(spend: Decimal, orders: int, engagement: int, rule_rows: list[dict]) -> str | None:
    """The first tier whose minimums a contact meets (None: no tier)."""
    for rule in rule_rows:
        if (spend >= Decimal(str(rule["min_spend"])) and orders >= int(rule["min_orders"])
                and engagement >= int(rule["min_engagement"])):
            return rule["tier"]
    return None


def compute_tiers(now: dt.datetime | None = None, chosen: dict | None = None) -> dict[int, str]:
    """contact id -> tier, from the orders and the engagement of the last `engagement_days`; writes nothing."""
    now = now or utcnow()
    chosen = chosen or rules()
    spent: dict[int, tuple[Decimal, int]] = {}
    for contact_id, total, count in (Order.select(Order.contact, peewee.fn.SUM(Order.amount), peewee.fn.COUNT(Order.id))
                                     .where(Order.occurred_at <= now).group_by(Order.contact).tuples().iterator()):
        spent[contact_id] = (Decimal(str(total or 0)), int(count))
    engaged: dict[int, int] = {}
    since = now - dt.timedelta(days=int(chosen["engagement_days"]))
    rows = union(ENGAGEMENT_SOURCES, since, now)
    if rows is not None:
        for contact_id, count in (Order.select(peewee.SQL("e.contact_id"), peewee.fn.COUNT(peewee.SQL("*")))
                                  .from_(rows.alias("e")).group_by(peewee.SQL("e.contact_id")).tuples().iterator()):
            engaged[contact_id] = int(count)
    out = {}
    for contact_id in set(spent) | set(engaged):
        spend, orders = spent.get(contact_id, (Decimal(0), 0))
        tier = tier_for(spend, orders, engaged.get(contact_id, 0), chosen["rules"])
        if tier:
            out[contact_id] = tier
    return out


def recompute_tiers(now: dt.datetime | None = None) -> dict[str, int]:
    """Recompute every contact's tier, update the ``fan:`` tags and store today's sizes; return the sizes."""
    now = now or utcnow()
    tiers = compute_tiers(now)
    sizes = dict.fromkeys(TIERS, 0)
    for tier in tiers.values():
        sizes[tier] += 1
    with database.atomic():
        replace_computed_tags([tier_tag(t) for t in TIERS], {c: {tier_tag(t)} for c, t in tiers.items()}, now,
                              source="fan_tiers", event_kind="fan_tier")
        store_sizes({tier_tag(t): n for t, n in sizes.items()}, now.date())
    return sizes


def store_sizes(sizes: dict[str, int], day: dt.date) -> None:
    """Keep one day's sizes of computed segments (fan tiers, lifecycle stages) beside the RFM snapshots."""
    for segment, size in sizes.items():
        (RfmSnapshot.insert(day=day, segment=segment, size=size, taken_at=utcnow())
         .on_conflict(conflict_target=[RfmSnapshot.day, RfmSnapshot.segment],
                      update={RfmSnapshot.size: size, RfmSnapshot.taken_at: utcnow()}).execute())


def size_history(segments: list[str], start_day: dt.date, end_day: dt.date) -> tuple[list[dt.date], dict]:
    """Days with stored sizes in the range, and each segment's size on those days (None where not stored)."""
    rows = list(RfmSnapshot.select(RfmSnapshot.day, RfmSnapshot.segment, RfmSnapshot.size)
                .where(RfmSnapshot.day >= start_day, RfmSnapshot.day <= end_day,
                       RfmSnapshot.segment.in_(segments)).tuples())
    days = sorted({_day(d) for d, _s, _n in rows})
    index = {d: i for i, d in enumerate(days)}
    series = {s: [None] * len(days) for s in segments}
    for day, segment, size in rows:
        series[segment][index[_day(day)]] = size
    return days, series


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
