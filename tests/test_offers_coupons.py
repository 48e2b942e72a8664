"""Coupons: one code per delivery, reserved at render, released when the send fails, never over stock or limit."""
from __future__ import annotations

import collections
import re
import threading

from campaigner import PermanentError
from campaigner.db import database
from tests.fixtures_engine import (channels, deliveries_of, engine_settings, make_contacts,  # noqa: F401
                                   run_campaign)
from tests.fixtures_offers import coupon_batch, coupon_campaign  # noqa: F401

CODE = re.compile(r"your code: ([0-9A-Z]{10})\b")


def codes_of(batch_id):
    from campaigner.offers.models import CouponCode

    with database.connection_context():
        return list(CouponCode.select().where(CouponCode.batch == batch_id).order_by(CouponCode.id))


def test_four_workers_hand_out_a_batch_of_100_to_1000_contacts_exactly_once_each(app, channels, engine_settings,
                                                                                coupon_batch):
    from campaigner.offers.services import coupon_figures

    engine_settings(batch_size=20)
    contacts = make_contacts(1000)
    # Every fourth of the first 200 contacts has a dead mailbox: their sends fail and their codes must come back.
    dead = {f"c{i}-" for i in range(0, 200, 4)}

    bounced_bodies = []

    def bounce(message, key):
        if message.to.split("-")[0] + "-" in dead:
            bounced_bodies.append(message.body)
            raise PermanentError("mailbox does not exist")

    channels["rec"].behaviour = bounce
    batch = coupon_batch(codes=100)
    campaign = coupon_campaign(batch)
    errors = []

    def worker():
        try:
            run_campaign(campaign.id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors

    rows = deliveries_of(campaign.id)
    assert len(rows) == 1000 and collections.Counter(d.status for d in rows) == {"sent": 950, "failed": 50}
    failed_to = {d.contact_id for d in rows if d.status == "failed"}
    by_delivery = {d.id: d for d in rows}
    codes = codes_of(batch.id)
    held = [c for c in codes if c.status == "reserved"]
    assert len(codes) == 100
    assert len(held) == 100  # every code issued, those of failed sends included after their release
    assert all(by_delivery[c.delivery_id].status == "sent" for c in held)
    assert len({c.contact_id for c in held}) == 100 and not failed_to & {c.contact_id for c in held}
    # What went out: the channel's messages minus the bounced ones (whose codes went back to stock).
    went_out = [body for _to, _key, body in channels["rec"].received]
    handed = [m.group(1) for body in went_out if (m := CODE.search(body))]
    assert len(handed) == 100 and len(set(handed)) == 100  # none twice
    assert set(handed) == {c.code for c in held}
    bounced = [m.group(1) for body in bounced_bodies if (m := CODE.search(body))]
    assert bounced and set(bounced) <= set(handed)  # the failed sends' codes were released and issued again
    assert sum(1 for body in went_out if "SOLD-OUT" in body) == 850
    with database.connection_context():
        figures = coupon_figures([campaign.id])
    assert figures["issued"] == 100 and figures["redeemed"] == 0 and figures["awaiting_send"] == 0
    assert set(contacts) >= {c.contact_id for c in held}
