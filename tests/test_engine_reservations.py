"""Caps and provider rates as reservations: campaigns running at once never send a contact more than the cap,
nor a robot more than its rate, and the log says which limit held a message back and why."""
from __future__ import annotations

import collections
import datetime as dt
import threading
import uuid

import pytest

from campaigner.db import database, utcnow
from tests.test_migrations import empty_database  # noqa: F401  (fixture)
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    RecordingChannel, _Plugin, campaign_row, channels, deliveries_of, engine_settings, make_contacts, new_campaign,
    run_campaign,
)


def run_together(campaign_ids: list[int], chains: int = 2, now: dt.datetime | None = None) -> None:
    """Pump every campaign with `chains` threads each, all released at once (send chains on parallel workers)."""
    from campaigner.deliveries import engine

    barrier = threading.Barrier(len(campaign_ids) * chains)
    errors = []

    def chain(campaign_id):
        try:
            with database.connection_context():
                engine.start(campaign_id, now)
                barrier.wait()
                while True:
                    moment = now or utcnow()
                    when = engine.pump(campaign_id, moment)
                    if when is None or when > moment:
                        return
        except Exception as exc:  # noqa: BLE001 - handed to the test, which fails on it
            errors.append(exc)

    threads = [threading.Thread(target=chain, args=(c,)) for c in campaign_ids for _ in range(chains)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("cap", [1, 2])
def test_campaigns_started_together_send_each_contact_exactly_the_cap(app, channels, engine_settings, cap):
    engine_settings(batch_size=40, handover_size=8, caps={"day": cap, "week": 5})
    contacts = make_contacts(150)

    def provider_latency(message, key):
        threading.Event().wait(0.001)

    channels["rec"].behaviour = provider_latency
    campaigns = [new_campaign(name=f"Flash sale {n}") for n in range(3)]
    run_together([c.id for c in campaigns])

    per_contact = collections.Counter(to for to, _key, _body in channels["rec"].received)
    assert len(per_contact) == len(contacts)  # nobody left out
    assert set(per_contact.values()) == {cap}  # and nobody over the cap
    rows = [d for c in campaigns for d in deliveries_of(c.id)]
    statuses = collections.Counter((d.status, d.reason) for d in rows)
    assert statuses == {("sent", ""): cap * len(contacts), ("skipped", "capped"): (3 - cap) * len(contacts)}
    assert all(campaign_row(c.id).status == "completed" for c in campaigns)


def test_the_log_names_the_cap_that_skipped_a_message_and_the_message_that_used_it_up(app, channels):
    from campaigner.deliveries.models import DeliveryEvent

    [contact] = make_contacts(1)
    first, second = new_campaign(name="Monday tips"), new_campaign(name="Monday flash sale")
    run_campaign(first.id)
    run_campaign(second.id)
    [sent], [capped] = deliveries_of(first.id), deliveries_of(second.id)
    assert (sent.status, capped.status, capped.reason) == ("sent", "skipped", "capped")
    assert capped.error == f"the day cap of 1 is used up by delivery {sent.id}"
    with database.connection_context():
        [event] = DeliveryEvent.select().where(DeliveryEvent.delivery == capped.id)
    assert event.status == "skipped"
    assert (event.details["cap"], event.details["limit"], event.details["used_by"]) == ("day", 1, [sent.id])
    assert event.details["frees_at"].startswith(str((sent.sent_at + dt.timedelta(days=1)).date()))


def test_a_failed_send_gives_its_place_back_so_a_later_campaign_reaches_the_contact(app, channels):
    from campaigner import PermanentError

    [contact] = make_contacts(1)

    def refuse(message, key):
        raise PermanentError("mailbox full")

    channels["rec"].behaviour = refuse
    first = new_campaign(name="Bounced")
    run_campaign(first.id)
    channels["rec"].behaviour = None
    second = new_campaign(name="Second try")
    run_campaign(second.id)
    assert [d.status for d in deliveries_of(first.id)] == ["failed"]
    assert [d.status for d in deliveries_of(second.id)] == ["sent"]


def test_the_caps_count_messages_sent_before_the_upgrade(empty_database):
    """The migration gives each marketing message of the last 30 days its place, so the caps still count it."""
    from campaigner.deliveries import reservations
    from campaigner.migrations import upgrade

    empty_database()
    with database.connection_context():
        upgrade(until="0004_delivery_claims_in_place")
        now = utcnow()
        database.execute_sql(
            "INSERT INTO contact (name, email, attributes, created_at, updated_at) "
            f"VALUES ('王芳', 'wf@example.com', '{{}}', {database.param}, {database.param})", (now, now))
        contact_id = database.execute_sql("SELECT id FROM contact").fetchone()[0]
        for n, (status, hours_ago) in enumerate((("sent", 3), ("sent", 24 * 40), ("failed", 1))):
            sent_at = now - dt.timedelta(hours=hours_ago)
            database.execute_sql(
                "INSERT INTO delivery (source_type, source_id, contact_id, channel, status, reason, attempts, "
                "idempotency_key, marketing, send_after, created_at, updated_at, sent_at) VALUES "
                f"('campaign', {n + 1}, {database.param}, 'sms', {database.param}, '', 1, {database.param}, "
                f"{database.param}, {database.param}, {database.param}, {database.param}, {database.param})",
                (contact_id, status, f"k{n}", True, sent_at, sent_at, sent_at, sent_at))
        upgrade()
        request = reservations.Request(reservations.cap_key("sms", contact_id), 999,
                                       (("day", 1, dt.timedelta(days=1)),), dt.timedelta(days=30))
        [refusal] = reservations.reserve([request], utcnow())
    assert refusal is not None and refusal.name == "day" and len(refusal.holders) == 1


@pytest.fixture
def robot_channel(app):
    """A chat channel whose provider takes 20... here 3 messages a minute per robot (the contact's chat id)."""
    channel = RecordingChannel("robot", contact_field="chat_id", dedupes=False, rate_limit_per_address_per_minute=3)
    plugins = app.extensions["campaigner"].plugins
    plugins.pm.register(_Plugin([channel]), name=f"test-robot-{uuid.uuid4().hex[:6]}")
    plugins._channels = None
    return channel


def test_a_robots_rate_holds_across_campaigns_and_workers_and_deferring_is_no_error(app, robot_channel,
                                                                                    engine_settings):
    engine_settings(caps={"day": 0, "week": 0}, pause_after_errors=2, quiet_hours={"enabled": False})
    # Several contacts behind one robot get one message a campaign (one address, one message), so the
    # robot's rate is tested across five campaigns sent at once.
    make_contacts(10, chat_id="robot-a")
    make_contacts(2, chat_id=lambda i: f"robot-b{i}")
    campaigns = [new_campaign(channels=("robot",), name=f"Group notice {n}") for n in range(5)]
    start = utcnow()
    run_together([c.id for c in campaigns], now=start)

    per_robot = collections.Counter(to for to, _key, _body in robot_channel.received)
    assert per_robot == {"robot-a": 3, "robot-b0": 3, "robot-b1": 3}  # five campaigns, two chains each: still 3
    rows = [d for c in campaigns for d in deliveries_of(c.id)]
    deferred = [d for d in rows if d.status == "deferred"]
    assert len(deferred) == 6 and {d.reason for d in deferred} == {"rate_limited"}
    assert all(start + dt.timedelta(seconds=59) <= d.send_after <= start + dt.timedelta(seconds=61) for d in deferred)
    assert all(d.attempts == 0 and d.error is None for d in deferred)  # not an attempt, not an error
    waiting = {d.source_id for d in deferred}
    for campaign in campaigns:  # six deferrals, far past pause_after_errors=2, yet none paused
        row = campaign_row(campaign.id)
        assert (row.status, row.consecutive_errors) == ("running" if campaign.id in waiting else "completed", 0)

    later = start + dt.timedelta(seconds=61)
    run_together([c.id for c in campaigns], now=later)
    per_robot = collections.Counter(to for to, _key, _body in robot_channel.received)
    assert per_robot == {"robot-a": 5, "robot-b0": 5, "robot-b1": 5}


def test_the_provider_details_of_a_send_are_kept_on_the_delivery(app, engine_settings, api_token, client):
    from campaigner.deliveries.models import Delivery

    engine_settings(quiet_hours={"enabled": False})
    make_contacts(2)
    campaign = new_campaign(channels=("sms",))  # the bundled SMS channel in outbox mode: details = segments
    run_campaign(campaign.id)
    rows = deliveries_of(campaign.id)
    assert [d.status for d in rows] == ["sent", "sent"] and all(d.details == {"segments": 1} for d in rows)
    with database.connection_context():
        assert Delivery.get_by_id(rows[0].id).details == {"segments": 1}
    answer = client.get(f"/api/v1/deliveries/{rows[0].id}", headers=api_token("ops"))
    assert answer.status_code == 200 and answer.get_json()["details"] == {"segments": 1}
