"""Lifecycle stages (new, active, silent, at risk, churned, won back) from joins, activity and losses, kept as tags.

For each contact, with its join, its latest two moments of activity (orders,
clicks; replies once WeCom lands) and its latest loss (a customer deleting the
staff account, once WeCom lands), at `now`:

- churned:  lost after its last activity, or idle at least `churned_days`;
- won back: active within `silent_days` after a gap of at least `churned_days`
            (since the activity before, or since joining);
- new:      joined less than `new_days` ago;
- active:   idle less than `silent_days`;
- silent:   idle less than `at_risk_days`;
- at risk:  idle less than `churned_days`.

"Idle" counts from the last activity, or from the join for a contact with none.
The stages are the tags ``lifecycle:new`` … in the tag group ``lifecycle``; a
change of stage is a line on the contact's timeline.
"""
from __future__ import annotations

import datetime as dt

from campaigner.audience.computed_tags import replace_computed_tags
from campaigner.audience.models import Contact
from campaigner.db import database, utcnow
from campaigner.reports.activity import ACTIVITY_SOURCES, LOSS_SOURCES, last_two
from campaigner.reports.fan_tiers import store_sizes
from campaigner.settings_store import get_value, set_value

STAGES = ("new", "active", "silent", "at_risk", "churned", "won_back")
GROUP = "lifecycle"
SETTINGS_KEY = "reports.lifecycle"
DEFAULTS = {"new_days": 14, "silent_days": 30, "at_risk_days": 60, "churned_days": 90}


def stage_tag(stage: str) -> str:
    return f"{GROUP}:{stage}"


def thresholds() -> dict:
    """The day thresholds in force."""
    return {**DEFAULTS, **(get_value(SETTINGS_KEY) or {})}


def set_thresholds(**days) -> dict:
    """Store new thresholds; they must grow: new ≥ 1, silent < at risk < churned. Raise ValueError otherwise."""
    merged = {**thresholds(), **{k: v for k, v in days.items() if k in DEFAULTS}}
    try:
        merged = {k: int(v) for k, v in merged.items()}
    except (TypeError, ValueError):
        raise ValueError("thresholds are whole numbers of days") from None
    if not (merged["new_days"] >= 1 and 1 <= merged["silent_days"] < merged["at_risk_days"] < merged["churned_days"]
            <= 3650):
        raise ValueError("the days must grow: silent < at risk < churned (at most 3650)")
    set_value(SETTINGS_KEY, merged)
    return merged


def stage_of(joined: dt.datetime, activity: list[dt.datetime], lost_at: dt.datetime | None, now: dt.datetime,
             days: dict) -> str:
    """The stage of one contact (see the module's rules); `activity` is newest first."""
    last = activity[0] if activity else None
    if lost_at is not None and (last is None or lost_at >= last):
        return "churned"
    idle = (now - (last or joined)).total_seconds() / 86400
    if last is not None and idle < days["silent_days"]:
        before = activity[1] if len(activity) > 1 else joined
        if (last - before).total_seconds() / 86400 >= days["churned_days"]:
            return "won_back"
    if (now - joined).total_seconds() / 86400 < days["new_days"]:
        return "new"
    if idle < days["silent_days"]:
        return "active"
    if idle < days["at_risk_days"]:
        return "silent"
    if idle < days["churned_days"]:
        return "at_risk"
    return "churned"


def compute_stages(now: dt.datetime | None = None) -> dict[int, str]:
    """contact id -> stage for every contact that had joined by `now`; writes nothing."""
    now = now or utcnow()
    days = thresholds()
    moments = last_two(ACTIVITY_SOURCES, now + dt.timedelta(microseconds=1))
    losses = {cid: moments_[0] for cid, moments_ in last_two(LOSS_SOURCES, now).items()} if LOSS_SOURCES else {}
    out = {}
    for contact_id, joined in Contact.select(Contact.id, Contact.created_at).where(Contact.created_at <= now).tuples():
        if isinstance(joined, str):
            joined = dt.datetime.fromisoformat(joined)
        activity = [m for m in moments.get(contact_id, []) if m <= now]
        out[contact_id] = stage_of(joined, activity, losses.get(contact_id), now, days)
    return out


def recompute_stages(now: dt.datetime | None = None) -> dict[str, int]:
    """Recompute every contact's stage, update the ``lifecycle:`` tags and store today's sizes; return them."""
    now = now or utcnow()
    stages = compute_stages(now)
    sizes = dict.fromkeys(STAGES, 0)
    for stage in stages.values():
        sizes[stage] += 1
    with database.atomic():
        replace_computed_tags([stage_tag(s) for s in STAGES], {c: {stage_tag(s)} for c, s in stages.items()}, now,
                              source="lifecycle", event_kind="lifecycle")
        store_sizes({stage_tag(s): n for s, n in sizes.items()}, now.date())
    return sizes
