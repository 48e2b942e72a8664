"""RFM classes and super users, computed from orders and kept as tags.

For every contact with at least one order:

- R, recency: days since the last order; **recent** when fewer than the R threshold.
- F, frequency: number of orders; **frequent** when more than the F threshold.
- M, monetary: total spent; **high** when more than the M threshold.

Each threshold is configurable; by default it is the median over the contacts with
orders (so a contact exactly at the median counts as low, and "more than the median
of 1 order" means two or more). The eight combinations are the classes, lettered as
the seeds' table writes them: recency first (近 recent / 久 long ago), then frequency,
then monetary (高 high / 低 low):

    class  R F M   seed
    A      1 1 1   近高高  recent, frequent, high spend (the best)
    B      1 1 0   近高低  recent, frequent, low spend
    C      1 0 1   近低高  recent, infrequent, high spend
    D      1 0 0   近低低  recent, infrequent, low spend
    E      0 1 1   久高高  lapsed, frequent, high spend
    F      0 1 0   久高低  lapsed, frequent, low spend
    G      0 0 1   久低高  lapsed, infrequent, high spend
    H      0 0 0   久低低  lapsed, infrequent, low spend

(Before migration 0010 the letters ranked spend first; it moved every tag and snapshot.)

Super users are the smallest set of contacts bringing at least 80% of GMV: contacts by
total spend, largest first (ties by id), until the running total reaches 80%.
Classes are the tags ``rfm:A`` … ``rfm:H`` (group ``rfm``), super users the tag ``super-user``.
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import peewee

from campaigner.audience.computed_tags import replace_computed_tags
from campaigner.audience.models import Order
from campaigner.db import database, utcnow
from campaigner.settings_store import get_value, set_value

CLASSES = {  # (recent, frequent, high spend) -> class, in the seeds' order
    (True, True, True): "A", (True, True, False): "B", (True, False, True): "C", (True, False, False): "D",
    (False, True, True): "E", (False, True, False): "F", (False, False, True): "G", (False, False, False): "H",
}
CLASS_NAMES = {"A": "近高高", "B": "近高低", "C": "近低高", "D": "近低低",
               "E": "久高高", "F": "久高低", "G": "久低高", "H": "久低低"}
SUPER_USER_TAG = "super-user"
SUPER_USER_SHARE = Decimal("0.8")
THRESHOLDS_KEY = "audience.rfm.thresholds"
REPORT_KEY = "audience.rfm.report"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ContactRfm:
    contact_id: int
    recency_days: float
    frequency: int
    monetary: Decimal
    rfm_class: str


def class_tag(letter: str) -> str:
    """The tag key of an RFM class letter ("A" -> "rfm:A")."""
    return f"rfm:{letter}"


def for_people(value) -> str:
    """A threshold as a person reads it: 39.5399 -> "40", 1.5 -> "1.5", 88.333 -> "88"."""
    number = float(value)
    places = 0 if abs(number) >= 10 else 1 if abs(number) >= 1 else 2
    text = f"{round(number, places):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def configured_thresholds() -> dict:
    """The thresholds set by users: {"recency_days", "frequency", "monetary"}, None meaning the median."""
    stored = get_value(THRESHOLDS_KEY) or {}
    return {name: stored.get(name) for name in ("recency_days", "frequency", "monetary")}


def set_thresholds(recency_days=None, frequency=None, monetary=None) -> dict:
    """Store the thresholds (None for any: use the median); raise ValueError when one is negative."""
    values = {"recency_days": recency_days, "frequency": frequency, "monetary": monetary}
    clean = {}
    for name, value in values.items():
        if value in (None, ""):
            clean[name] = None
            continue
        number = Decimal(str(value))
        if not number.is_finite() or number < 0:
            raise ValueError(f"{name} must be zero or more")
        clean[name] = str(number)
    set_value(THRESHOLDS_KEY, clean)
    return clean


def order_totals(now: dt.datetime) -> list[tuple[int, float, int, Decimal]]:
    """(contact id, days since last order, order count, total spent) of every contact with orders."""
    rows = (Order.select(Order.contact, peewee.fn.MAX(Order.occurred_at), peewee.fn.COUNT(Order.id),
                         peewee.fn.SUM(Order.amount))
            .group_by(Order.contact).order_by(Order.contact).tuples())
    out = []
    for contact_id, last, count, total in rows:
        if isinstance(last, str):  # SQLite hands MAX() back as text
            last = dt.datetime.fromisoformat(last)
        days = (now - last).total_seconds() / 86400
        # SQLite sums DECIMAL as a float; two places are exact at any realistic total.
        spent = Decimal(str(total)).quantize(CENT, rounding=ROUND_HALF_UP)
        out.append((contact_id, days, int(count), spent))
    return out


def compute_rfm(now: dt.datetime | None = None, thresholds: dict | None = None):
    """(per-contact RFM, thresholds used, super-user ids) from the orders; writes nothing."""
    now = now or utcnow()
    totals = order_totals(now)
    chosen = configured_thresholds() if thresholds is None else thresholds
    used = {
        "recency_days": _threshold(chosen.get("recency_days"), [t[1] for t in totals], float),
        "frequency": _threshold(chosen.get("frequency"), [t[2] for t in totals], float),
        "monetary": _threshold(chosen.get("monetary"), [t[3] for t in totals], Decimal),
    }
    result = []
    for contact_id, days, count, spent in totals:
        key = (days < used["recency_days"], count > used["frequency"], spent > used["monetary"])
        result.append(ContactRfm(contact_id, days, count, spent, CLASSES[key]))
    return result, used, super_users([(r.contact_id, r.monetary) for r in result])


def _threshold(configured, values: list, kind):
    if configured not in (None, ""):
        return kind(str(configured)) if kind is Decimal else float(configured)
    if not values:
        return kind(0)
    median = statistics.median(values)
    return Decimal(str(median)) if kind is Decimal else float(median)


def super_users(spend: list[tuple[int, Decimal]]) -> set[int]:
    """The smallest set of contacts whose spend reaches 80% of the total (largest first, ties by id)."""
    total = sum((s for _, s in spend), Decimal(0))
    if total <= 0:
        return set()
    goal = total * SUPER_USER_SHARE
    chosen, running = set(), Decimal(0)
    for contact_id, spent in sorted(spend, key=lambda cs: (-cs[1], cs[0])):
        if running >= goal:
            break
        chosen.add(contact_id)
        running += spent
    return chosen


def recompute_rfm(now: dt.datetime | None = None) -> dict:
    """Recompute every contact's RFM class and the super users, update their tags, store and return the report."""
    now = now or utcnow()
    rows, used, supers = compute_rfm(now)
    wanted: dict[int, set[str]] = {}
    for row in rows:
        wanted.setdefault(row.contact_id, set()).add(class_tag(row.rfm_class))
    for contact_id in supers:
        wanted.setdefault(contact_id, set()).add(SUPER_USER_TAG)

    keys = [class_tag(letter) for letter in CLASSES.values()] + [SUPER_USER_TAG]
    with database.atomic():
        changed = replace_computed_tags(keys, wanted, now, source="rfm", event_kind="rfm")
        report = _report(rows, used, supers, now, changed=changed)
        set_value(REPORT_KEY, report)
    return report


def _report(rows: list[ContactRfm], used: dict, supers: set[int], now: dt.datetime, changed: int) -> dict:
    total = sum((r.monetary for r in rows), Decimal(0))
    classes = {}
    for letter in sorted(CLASS_NAMES):
        members = [r for r in rows if r.rfm_class == letter]
        gmv = sum((r.monetary for r in members), Decimal(0))
        classes[letter] = {"contacts": len(members), "gmv": str(gmv.quantize(CENT)),
                           "share": float(gmv / total) if total else 0.0}
    super_gmv = sum((r.monetary for r in rows if r.contact_id in supers), Decimal(0))
    return {
        "computed_at": now.isoformat(sep=" ", timespec="seconds"),
        "contacts": len(rows),
        "total_gmv": str(total.quantize(CENT)),
        "thresholds": {"recency_days": used["recency_days"], "frequency": used["frequency"],
                       "monetary": str(used["monetary"])},
        "classes": classes,
        "super_users": {"contacts": len(supers), "gmv": str(super_gmv.quantize(CENT)),
                        "share": float(super_gmv / total) if total else 0.0,
                        "contact_share": len(supers) / len(rows) if rows else 0.0},
        "changed": changed,
    }


def last_report() -> dict | None:
    """The report of the last recompute (None before the first)."""
    return get_value(REPORT_KEY)
