"""RFM as the seeds write it: A 近高高 … H 久低低 (recency, frequency, monetary), old tags moved by migration 0010."""
from __future__ import annotations

import datetime as dt
import itertools

from campaigner.audience import rfm
from campaigner.db import database
from campaigner.migrations import upgrade
from tests.test_migrations import empty_database  # noqa: F401

# The seeds' table, verbatim: 近 recent / 久 long ago, then 高/低 frequency, then 高/低 monetary.
SEED_TABLE = {"A": "近高高", "B": "近高低", "C": "近低高", "D": "近低低",
              "E": "久高高", "F": "久高低", "G": "久低高", "H": "久低低"}
WORDS = {"近": True, "久": False, "高": True, "低": False}


def test_every_combination_gets_the_seeds_letter():
    for recent, frequent, high in itertools.product((True, False), repeat=3):
        letter = rfm.CLASSES[(recent, frequent, high)]
        r, f, m = SEED_TABLE[letter]
        assert (WORDS[r], WORDS[f], WORDS[m]) == (recent, frequent, high), letter
    assert rfm.CLASS_NAMES == SEED_TABLE


def test_thresholds_are_printed_rounded_for_people():
    assert rfm.for_people(39.5399) == "40"
    assert rfm.for_people(1.5) == "1.5" and rfm.for_people(2.0) == "2"
    assert rfm.for_people("100.00") == "100" and rfm.for_people(0.4567) == "0.46"


def test_the_rfm_page_prints_rounded_thresholds(logged_in_ops):
    from campaigner.audience.models import Contact, Order

    with database.connection_context():
        now = dt.datetime(2026, 11, 30, 12)
        for i, (days, amount) in enumerate(((3.2, "10"), (75.8599, "20.50"))):
            contact = Contact.create(name=f"c{i}")
            Order.create(contact=contact, amount=amount, occurred_at=now - dt.timedelta(days=days))
        rfm.recompute_rfm(now)
    page = logged_in_ops.get("/audience/rfm").get_data(as_text=True)
    # Medians: (3.2 + 75.8599) / 2 = 39.53 days, (10 + 20.50) / 2 = 15.25 spent.
    assert "fewer than 40 days ago" in page and "high spend if more than 15." in page and "39.5" not in page


def test_migration_moves_old_rfm_tags_snapshots_and_expressions_to_the_seeds_letters(empty_database):  # noqa: F811
    from campaigner.analytics.models import RfmSnapshot
    from campaigner.audience.models import Contact, ContactTag, Segment, Tag

    empty_database()
    with database.connection_context():
        upgrade(until="0004_delivery_claims_in_place")
        old = {"rfm:B": "recent-infrequent-high", "rfm:E": "recent-frequent-low", "rfm:D": "lapsed-infrequent-high"}
        for key, who in old.items():
            tag = Tag.create(key=key, name=key[4:])
            ContactTag.create(tag=tag, contact=Contact.create(name=who))
        RfmSnapshot.create(day=dt.date(2026, 11, 1), segment="B", size=7)
        RfmSnapshot.create(day=dt.date(2026, 11, 1), segment="C", size=3)
        Segment.create(name="high spenders", expression="rfm:B OR tag:rfm:D AND NOT tag:vip")
        upgrade()
        holders = {t.key: [c.contact.name for c in ContactTag.select().where(ContactTag.tag == t.id)]
                   for t in Tag.select()}
        assert holders == {"rfm:C": ["recent-infrequent-high"], "rfm:B": ["recent-frequent-low"],
                           "rfm:G": ["lapsed-infrequent-high"]}
        assert {t.key: t.name for t in Tag.select()} == {"rfm:C": "C", "rfm:B": "B", "rfm:G": "G"}
        assert {s.segment: s.size for s in RfmSnapshot.select()} == {"C": 7, "E": 3}
        assert Segment.get().expression == "rfm:C OR tag:rfm:G AND NOT tag:vip"
