"""Fan tiers and lifecycle stages: rules applied to hand-made contacts, kept as tags, sizes over time."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigner.audience.models import Contact, Order
from campaigner.audience.services import contact_tag_keys
from campaigner.db import database
from campaigner.reports import fan_tiers, lifecycle

NOW = dt.datetime(2026, 11, 30, 12, 0)


def day(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


def contact(name: str, joined_days_ago: float = 400, orders=(), clicks=()) -> int:
    """A contact who joined `joined_days_ago`, with orders [(days ago, amount)] and clicks [days ago]."""
    from campaigner.links.models import Click, ShortLink

    c = Contact.create(name=name, created_at=day(joined_days_ago))
    for days_ago, amount in orders:
        Order.create(contact=c, amount=Decimal(str(amount)), occurred_at=day(days_ago))
    if clicks:
        link = ShortLink.create(code=f"l-{name}", target="https://example.com", kind="delivery", contact=c)
        for days_ago in clicks:
            Click.create(link=link, contact=c, visitor=f"c:{c.id}", at=day(days_ago))
    return c.id


def test_fan_tiers_follow_the_rules_in_order_and_become_tags(db):
    people = {
        "iron": contact("iron", orders=[(d, 600) for d in range(1, 7)], clicks=[1, 2, 3]),  # 3600, 6 orders, 3 clicks
        "devoted": contact("devoted", orders=[(5, 400), (10, 400), (20, 400)], clicks=[4]),  # 1200, 3, 1
        "strong": contact("strong", orders=[(100, 1500)]),  # 1500 in one order, no clicks
        "regular": contact("regular", orders=[(30, 99)]),
        "potential": contact("potential", clicks=[10]),
        "stale clicks": contact("stale clicks", clicks=[200]),  # engagement older than 90 days doesn't count
        "nobody": contact("nobody"),
        # Would be iron on spend and orders, but without three clicks in 90 days it is devoted.
        "quiet whale": contact("quiet whale", orders=[(d, 1000) for d in range(1, 8)], clicks=[1]),
    }
    sizes = fan_tiers.recompute_tiers(NOW)
    got = {name: contact_tag_keys(cid) for name, cid in people.items()}
    assert got == {"iron": ["fan:iron"], "devoted": ["fan:devoted"], "strong": ["fan:strong"],
                   "regular": ["fan:regular"], "potential": ["fan:potential"], "stale clicks": [], "nobody": [],
                   "quiet whale": ["fan:devoted"]}
    assert sizes == {"iron": 1, "devoted": 2, "strong": 1, "regular": 1, "potential": 1}
    from campaigner.audience.models import Tag

    assert Tag.get(Tag.key == "fan:iron").group.name == "fan"


def test_edited_tier_rules_move_contacts(db):
    whale = contact("whale", orders=[(d, 1000) for d in range(1, 8)], clicks=[1])
    rules = fan_tiers.rules()["rules"]
    edited = [{**r, "min_engagement": 1} if r["tier"] == "iron" else r for r in rules]
    fan_tiers.set_rules(90, edited)
    fan_tiers.recompute_tiers(NOW)
    assert contact_tag_keys(whale) == ["fan:iron"]
    for bad in ([{**edited[0], "min_spend": "-1"}, *edited[1:]], edited[1:], [{**edited[0], "tier": "vip"}, *edited[1:]],
                [{"tier": "iron", "min_spend": "0", "min_orders": 0, "min_engagement": 0}, *edited[1:]]):
        with pytest.raises(fan_tiers.TierRuleError):
            fan_tiers.set_rules(90, bad)
    with pytest.raises(fan_tiers.TierRuleError):
        fan_tiers.set_rules("soon", edited)


def test_tier_sizes_are_kept_per_day_for_the_page_over_time(db):
    contact("regular", orders=[(3, 50)])
    fan_tiers.recompute_tiers(NOW - dt.timedelta(days=1))
    contact("potential", clicks=[0.5])
    fan_tiers.recompute_tiers(NOW)
    days, series = fan_tiers.size_history([fan_tiers.tier_tag(t) for t in fan_tiers.TIERS], NOW.date() - dt.timedelta(days=7),
                                          NOW.date())
    assert days == [NOW.date() - dt.timedelta(days=1), NOW.date()]
    assert series["fan:regular"] == [1, 1] and series["fan:potential"] == [0, 1]


def test_one_contact_walks_through_every_lifecycle_stage(db):
    joined = dt.datetime(2026, 1, 1, 9)
    c = Contact.create(name="walker", created_at=joined)

    def at(days_after_join: float) -> str:
        now = joined + dt.timedelta(days=days_after_join)
        lifecycle.recompute_stages(now)
        return contact_tag_keys(c.id)[0].split(":", 1)[1]

    assert at(1) == "new"
    Order.create(contact=c, amount=Decimal("10"), occurred_at=joined + dt.timedelta(days=20))
    assert at(21) == "active"
    assert at(20 + 30) == "silent"
    assert at(20 + 60) == "at_risk"
    assert at(20 + 90) == "churned"
    Order.create(contact=c, amount=Decimal("10"), occurred_at=joined + dt.timedelta(days=200))
    assert at(201) == "won_back"
    assert at(200 + 30) == "silent"  # won back, then quiet again
    from campaigner.audience.timeline import contact_timeline

    changes = [e.summary for e in contact_timeline(c.id) if e.kind == "lifecycle"]
    assert "+lifecycle:won_back, -lifecycle:churned" in changes and len(changes) == 7


def test_a_lost_contact_is_churned_until_it_is_active_again(db, monkeypatch):
    c = contact("leaver", joined_days_ago=50, orders=[(5, 10)])
    assert lifecycle.compute_stages(NOW)[c] == "active"
    Contact.update(updated_at=day(2)).where(Contact.id == c).execute()

    def deleted_staff(start=None, end=None):
        """What the WeCom work plugs in: when a customer deleted the staff account (here: updated_at)."""
        query = Contact.select(Contact.id.alias("contact_id"), Contact.updated_at.alias("at")).where(Contact.id == c)
        return query.where(Contact.updated_at < end) if end is not None else query

    monkeypatch.setattr(lifecycle, "LOSS_SOURCES", [deleted_staff])
    assert lifecycle.compute_stages(NOW)[c] == "churned"
    Order.create(contact=c, amount=Decimal("10"), occurred_at=day(1))  # came back and bought
    assert lifecycle.compute_stages(NOW)[c] == "active"


def test_lifecycle_thresholds_must_grow(db):
    with pytest.raises(ValueError):
        lifecycle.set_thresholds(silent_days=70)  # after at risk (60)
    assert lifecycle.set_thresholds(new_days=7)["new_days"] == 7


def test_the_nightly_task_recomputes_tiers_and_stages(app):
    from campaigner.reports import tasks

    with database.connection_context():
        contact("buyer", joined_days_ago=20, orders=[(2, 120)])
    result = tasks.nightly_tiers_and_lifecycle.call_local()
    assert result["tiers"]["regular"] == 1 and result["stages"]["active"] == 1


def test_an_editor_saves_tier_rules_from_the_page(logged_in_editor):
    data = {"engagement_days": "30"}
    for i, rule in enumerate(fan_tiers.DEFAULT_RULES["rules"]):
        for key, value in rule.items():
            data[f"rules-{i}-{key}"] = str(value)
    data["rules-0-min_orders"] = "10"
    assert logged_in_editor.post("/reports/segments/rules", data=data).status_code == 302
    with database.connection_context():
        saved = fan_tiers.rules()
    assert saved["engagement_days"] == 30 and saved["rules"][0] == {"tier": "iron", "min_spend": "3000",
                                                                    "min_orders": 10, "min_engagement": 3}
