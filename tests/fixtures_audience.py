"""Fixtures and helpers of the audience tests: small contact worlds and a plain-Python expression evaluator."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from campaigner.db import database

TAG_POOL = ("vip", "渠道:门店", "渠道:线上", "rfm:A", "投诉", "super-user", "interest:coffee tea")
CHANNEL_FIELDS = {"email": "email", "sms": "phone"}


@dataclass
class Person:
    """One contact of a test world, as plain data the evaluator reads."""

    tags: set = field(default_factory=set)
    email: str | None = None
    phone: str | None = None
    opted_out: set = field(default_factory=set)
    city: str | None = None
    timezone: str | None = None
    id: int | None = None


def load_world(people: list[Person]) -> list[Person]:
    """Write the people as contacts (bulk, like an import would) and give each its id."""
    from campaigner.audience.models import Contact, ContactTag, OptOut
    from campaigner.audience.services import ensure_tags, refresh_tag_sizes

    with database.atomic():
        for number, person in enumerate(people):
            attributes = {"city": person.city} if person.city else {}
            person.id = Contact.insert(name=f"p{number}", email=person.email, phone=person.phone,
                                       timezone=person.timezone, attributes=attributes).execute()
        tags = ensure_tags(TAG_POOL)
        rows = [{"tag": tags[key].id, "contact": p.id} for p in people for key in sorted(p.tags)]
        if rows:
            ContactTag.insert_many(rows).execute()
        opt = [{"contact": p.id, "channel": ch, "source": "test"} for p in people for ch in sorted(p.opted_out)]
        if opt:
            OptOut.insert_many(opt).execute()
        refresh_tag_sizes()
    return people


def clear_world() -> None:
    from campaigner.audience.models import Contact, ContactEvent, ContactTag, OptOut, Tag, TagGroup

    with database.atomic():
        for model in (ContactTag, OptOut, ContactEvent, Contact, Tag, TagGroup):
            model.delete().execute()


# ---------------------------------------------------------------- a plain evaluator over a tiny AST of tuples
#
# ("tag", key) | ("channel", name) | ("attr", name, op, value) | ("tz", zone)
# ("not", x) | ("and", x, y) | ("or", x, y)
# Deliberately independent of campaigner.audience.expressions: it reads the tree the
# test generated, not the parser's, so a parser bug can't hide a compiler bug.


def evaluate(node, person: Person, default_tz: str = "UTC") -> bool:
    kind = node[0]
    if kind == "tag":
        return node[1] in person.tags
    if kind == "channel":
        address = getattr(person, CHANNEL_FIELDS[node[1]])
        return bool(address) and node[1] not in person.opted_out
    if kind == "attr":
        _, name, op, value = node
        have = person.city if name == "city" else None
        if op == "has":
            return bool(have)
        return (have == value) if op == "=" else (have != value)
    if kind == "tz":
        return (person.timezone or default_tz) == node[1]
    if kind == "not":
        return not evaluate(node[1], person, default_tz)
    if kind == "and":
        return evaluate(node[1], person, default_tz) and evaluate(node[2], person, default_tz)
    if kind == "or":
        return evaluate(node[1], person, default_tz) or evaluate(node[2], person, default_tz)
    raise ValueError(node)


def render(node, style: int = 0) -> str:
    """The expression text of a tuple tree; `style` varies keyword case and quoting."""
    kind = node[0]
    upper = style % 2 == 0
    AND, OR, NOT = ("AND", "OR", "NOT") if upper else ("and", "or", "not")
    if kind == "tag":
        key = node[1]
        if key.startswith("rfm:") and style % 3 == 0:
            return f"rfm:{key[4:]}"
        needs_quotes = any(c in key for c in ' ():"') or style % 3 == 1
        return f'tag:"{key}"' if needs_quotes else f"tag:{key}"
    if kind == "channel":
        return f"channel:{node[1]}"
    if kind == "attr":
        _, name, op, value = node
        return f"attr:{name}" if op == "has" else f'attr:{name}{op}"{value}"'
    if kind == "tz":
        return f"tz:{node[1]}"
    if kind == "not":
        return f"{NOT} ({render(node[1], style)})"
    word = AND if kind == "and" else OR
    return f"({render(node[1], style)} {word} {render(node[2], style)})"


# ---------------------------------------------------------------- RFM: a fixture computed by hand

NOW = dt.datetime(2024, 6, 1, 12, 0)


def day(n: int) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


# external id -> orders as (days ago, amount). Worked out by hand in test_audience_rfm.py.
RFM_ORDERS = {
    "anna": [(1, "300.00"), (5, "200.00"), (9, "100.00")],   # R 1d,  F 3, M 600
    "ben": [(2, "150.00")],                                  # R 2d,  F 1, M 150
    "chen": [(60, "90.00"), (70, "90.00"), (80, "120.00")],  # R 60d, F 3, M 300
    "dai": [(90, "400.00")],                                 # R 90d, F 1, M 400
    "emma": [(3, "20.00"), (4, "20.00"), (6, "10.00")],      # R 3d,  F 3, M 50
    "fang": [(7, "30.00")],                                  # R 7d,  F 1, M 30
    "gao": [(100, "10.00"), (110, "15.00")],                 # R 100d, F 2, M 25
    "hui": [(200, "5.00")],                                  # R 200d, F 1, M 5
}


@pytest.fixture
def rfm_orders(app):
    """Eight contacts with the hand-computed orders of RFM_ORDERS, and one contact without orders."""
    from campaigner.audience.models import Contact, Order

    ids = {}
    with database.connection_context():
        for name, orders in RFM_ORDERS.items():
            contact = Contact.create(external_id=name, name=name)
            ids[name] = contact.id
            for days, amount in orders:
                Order.create(contact=contact, amount=Decimal(amount), occurred_at=day(days), source="test")
        ids["nobody"] = Contact.create(external_id="nobody", name="nobody").id
    return ids
