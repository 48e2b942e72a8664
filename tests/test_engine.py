"""The delivery engine, told as the stories of ops and editors: once, on time, never lost."""
from __future__ import annotations

import collections
import datetime as dt
import threading
import time

from campaigner import PermanentError, TransientError
from campaigner.db import database, utcnow
from tests.fixtures_engine import (  # noqa: F401  (fixtures)
    campaign_row, channels, claim_batch, deliveries_of, engine_settings, make_contacts, make_content, new_campaign,
    run_campaign,
)


def statuses(campaign_id):
    return collections.Counter(d.status for d in deliveries_of(campaign_id))


def test_campaign_reaches_each_contact_once_with_personalised_text_and_completes(app, channels):
    make_contacts(30)
    campaign = new_campaign()
    run_campaign(campaign.id)
    rows = deliveries_of(campaign.id)
    assert len(rows) == 30 and statuses(campaign.id) == {"sent": 30}
    rec = channels["rec"]
    assert len(rec.received) == 30 and len(set(rec.keys())) == 30
    assert all(body.startswith("Hello Contact ") for _to, _key, body in rec.received)
    assert all(d.provider_id == f"prov-{d.idempotency_key}" and d.sent_at and d.attempts == 1 for d in rows)
    assert campaign_row(campaign.id).status == "completed"


def test_fan_out_twice_writes_no_second_delivery(app, channels):
    from campaigner.deliveries import engine

    make_contacts(20)
    campaign = new_campaign(schedule=False)
    with database.connection_context():
        assert engine.fan_out(campaign) == 20
        assert engine.fan_out(campaign) == 20
    assert len(deliveries_of(campaign.id)) == 20


def test_fallback_gives_each_contact_the_first_channel_it_is_reachable_on(app, channels):
    from campaigner.audience.optouts import opt_out
    from campaigner.audience.models import Contact

    both = make_contacts(3)
    phone_only = make_contacts(2, email=None)
    nothing = make_contacts(1, email=None, phone=None)
    opted_out_of_email = make_contacts(2)
    opted_out_of_all = make_contacts(1)
    with database.connection_context():
        for cid in opted_out_of_email + opted_out_of_all:
            opt_out(Contact.get_by_id(cid), "rec", "test")
        opt_out(Contact.get_by_id(opted_out_of_all[0]), "rec_phone", "test")
    campaign = new_campaign(channels=("rec", "rec_phone"))
    run_campaign(campaign.id)
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert {rows[c].channel for c in both} == {"rec"}
    assert {rows[c].channel for c in phone_only + opted_out_of_email} == {"rec_phone"}
    assert rows[nothing[0]].status == "skipped" and rows[nothing[0]].reason == "no_address"
    assert rows[opted_out_of_all[0]].status == "skipped" and rows[opted_out_of_all[0]].reason == "opted_out"
    assert len(channels["rec"].received) == 3 and len(channels["rec_phone"].received) == 4


def test_opt_out_after_fan_out_is_checked_again_at_send_time(app, channels):
    from campaigner.audience.models import Contact
    from campaigner.audience.optouts import opt_out
    from campaigner.deliveries import engine

    ids = make_contacts(5)
    campaign = new_campaign()
    with database.connection_context():
        engine.start(campaign.id)
        engine.fan_out(campaign)
        opt_out(Contact.get_by_id(ids[0]), "rec", "unsubscribe link")
    run_campaign(campaign.id)
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert (rows[ids[0]].status, rows[ids[0]].reason) == ("skipped", "opted_out")
    assert len(channels["rec"].received) == 4


def test_transient_errors_retry_with_backoff_then_send_with_the_same_key(app, channels):
    make_contacts(1)
    failures = []

    def flaky(message, key):
        if len(failures) < 2:
            failures.append(key)
            raise TransientError("gateway timed out")

    channels["rec"].behaviour = flaky
    campaign = new_campaign()
    start = utcnow()
    run_campaign(campaign.id, now=start)
    [row] = deliveries_of(campaign.id)
    assert (row.status, row.attempts, row.error) == ("queued", 1, "TransientError: gateway timed out")
    first_wait = row.send_after - start
    assert dt.timedelta(seconds=59) <= first_wait <= dt.timedelta(seconds=62)
    run_campaign(campaign.id, now=row.send_after)
    [row] = deliveries_of(campaign.id)
    assert row.status == "queued" and row.attempts == 2
    assert row.send_after - utcnow() > dt.timedelta(seconds=110)  # 120 s: the wait doubles
    assert campaign_row(campaign.id).status == "running"  # not finished while a retry waits
    run_campaign(campaign.id, now=row.send_after)
    [row] = deliveries_of(campaign.id)
    assert (row.status, row.attempts) == ("sent", 3)
    assert failures == [row.idempotency_key] * 2 and channels["rec"].keys() == [row.idempotency_key]
    assert campaign_row(campaign.id).status == "completed"


def test_permanent_error_fails_the_delivery_with_the_reason(app, channels):
    ids = make_contacts(3)

    def reject_first(message, key):
        if message.to.startswith("c0-"):
            raise PermanentError("number is not in service")

    channels["rec"].behaviour = reject_first
    campaign = new_campaign()
    run_campaign(campaign.id)
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert rows[ids[0]].status == "failed" and rows[ids[0]].error == "PermanentError: number is not in service"
    assert [rows[i].status for i in ids[1:]] == ["sent", "sent"]
    assert campaign_row(campaign.id).status == "completed"


def test_a_plugin_that_raises_fails_only_its_delivery(app, channels):
    ids = make_contacts(4)

    def buggy(message, key):
        if message.to.startswith("c2-"):
            raise KeyError("oops")

    channels["rec"].behaviour = buggy
    campaign = new_campaign()
    run_campaign(campaign.id)
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert rows[ids[2]].status == "failed" and "KeyError" in rows[ids[2]].error
    assert sum(r.status == "sent" for r in rows.values()) == 3


def test_a_hung_plugin_is_cut_off_at_its_send_timeout_and_the_batch_goes_on(app, channels):
    ids = make_contacts(6)
    channel = channels["rec_nodedupe"]
    channel.send_timeout = 0.3

    def hang(message, key):
        if message.to.startswith("c1-"):
            time.sleep(1.5)

    channel.behaviour = hang
    campaign = new_campaign(channels=("rec_nodedupe",))
    started = time.monotonic()
    run_campaign(campaign.id)
    assert time.monotonic() - started < 1.4  # not held up by the hung send
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    # The provider may or may not have it: without dedupe it is `unknown`, never sent again.
    assert rows[ids[1]].status == "unknown" and "within 0.3 s" in rows[ids[1]].error
    assert sum(r.status == "sent" for r in rows.values()) == 5


def test_a_broken_gateway_pauses_the_campaign_and_says_why(app, channels, engine_settings):
    engine_settings(batch_size=5, pause_after_errors=8)
    make_contacts(40)

    def down(message, key):
        raise TransientError("connection refused")

    channels["rec"].behaviour = down
    campaign = new_campaign()
    run_campaign(campaign.id)
    row = campaign_row(campaign.id)
    assert row.status == "paused"
    assert "8 consecutive send errors" in row.status_reason and "connection refused" in row.status_reason
    counts = statuses(campaign.id)
    assert counts["queued"] == 40  # nothing burned: every one waits to be retried
    # It stopped at the threshold, in the middle of the second batch, not after it.
    assert sum(d.attempts for d in deliveries_of(campaign.id)) == 8


def test_pausing_a_running_campaign_stops_new_sends_within_one_batch_and_resume_finishes(app, channels, engine_settings):
    from campaigner.campaigns.services import pause_campaign, resume_campaign
    from campaigner.deliveries import engine

    engine_settings(batch_size=10)
    make_contacts(50)
    campaign = new_campaign()
    lock = threading.Lock()
    paused = []

    def pause_during_second_batch(message, key):
        with lock:
            if len(channels["rec"].received) >= 12 and not paused:
                paused.append(True)
                with database.connection_context():
                    pause_campaign(campaign_row(campaign.id), reason="wrong coupon code")

    channels["rec"].behaviour = pause_during_second_batch
    run_campaign(campaign.id)
    # The batch in flight when the pause came finished; no batch started after it.
    assert len(channels["rec"].received) == 20
    assert campaign_row(campaign.id).status == "paused"
    assert campaign_row(campaign.id).status_reason == "wrong coupon code"
    with database.connection_context():
        assert engine.pump(campaign.id) is None
    assert len(channels["rec"].received) == 20 and statuses(campaign.id) == {"sent": 20, "queued": 30}

    channels["rec"].behaviour = None
    with database.connection_context():
        resume_campaign(campaign_row(campaign.id))
    run_campaign(campaign.id)
    assert statuses(campaign.id) == {"sent": 50}
    keys = channels["rec"].keys()
    assert len(keys) == 50 and len(set(keys)) == 50  # no one twice after pause and resume
    assert campaign_row(campaign.id).status == "completed"


def test_a_batch_claimed_before_a_pause_is_handed_back_unsent(app, channels, engine_settings):
    from campaigner.campaigns.models import Campaign
    from campaigner.deliveries import engine

    make_contacts(5)
    campaign = new_campaign()
    with database.connection_context():
        token, rows = claim_batch(campaign, 5)
        Campaign.update(status="paused").where(Campaign.id == campaign.id).execute()
        outcome = engine.send_batch(campaign_row(campaign.id), engine.channel_for("rec"), token, rows, utcnow(),
                                    __import__("campaigner.deliveries.policy", fromlist=["x"]).engine_settings())
    assert outcome.released == 5 and channels["rec"].received == []
    assert statuses(campaign.id) == {"queued": 5}
    assert all(d.attempts == 0 for d in deliveries_of(campaign.id))


def test_cancelling_leaves_nothing_queued(app, channels, engine_settings):
    from campaigner.campaigns.services import cancel_campaign

    engine_settings(batch_size=10)
    make_contacts(35)
    campaign = new_campaign()
    with database.connection_context():
        from campaigner.deliveries import engine

        engine.start(campaign.id)
        engine.pump(campaign.id)
        cancel_campaign(campaign_row(campaign.id))
        assert engine.pump(campaign.id) is None
    counts = statuses(campaign.id)
    assert counts == {"sent": 10, "cancelled": 25}
    assert not {"queued", "deferred", "sending"} & set(counts)
    assert campaign_row(campaign.id).status == "cancelled"


def test_cancelling_while_a_batch_is_in_flight_lets_that_batch_record_what_it_sent(app, channels, engine_settings):
    """The claimed rows are the batch's: cancel takes only the unclaimed ones, and the stats add up throughout."""
    from campaigner.campaigns.models import Campaign
    from campaigner.campaigns.services import campaign_stats, cancel_campaign
    from campaigner.deliveries import engine, policy
    from campaigner.deliveries.models import DeliveryClaim

    make_contacts(6)
    campaign = new_campaign()
    with database.connection_context():
        token, rows = claim_batch(campaign, 4)
        # The batch has passed its checks and is sending when ops cancel.
        running = campaign_row(campaign.id)
        cancel_campaign(campaign_row(campaign.id))
        stats = campaign_stats(Campaign.get_by_id(campaign.id))
        assert (stats["sending"], stats["cancelled"], stats["queued"]) == (4, 2, 0)
        Campaign.update(status="running").where(Campaign.id == campaign.id).execute()  # as the batch saw it
        engine.send_batch(running, engine.channel_for("rec"), token, rows, utcnow(), policy.engine_settings())
        Campaign.update(status="cancelled").where(Campaign.id == campaign.id).execute()
        stats = campaign_stats(Campaign.get_by_id(campaign.id))
        assert DeliveryClaim.select().count() == 0
    assert statuses(campaign.id) == {"sent": 4, "cancelled": 2}
    assert (stats["sent"], stats["cancelled"], stats["sending"], stats["targeted"]) == (4, 2, 0, 6)
    assert len(channels["rec"].received) == 4


def test_with_a_cap_of_one_a_day_the_second_campaign_that_day_skips_the_contact_as_capped(app, channels):
    [contact] = make_contacts(1)
    first = new_campaign(name="Monday tips")
    run_campaign(first.id)
    second = new_campaign(name="Monday flash sale")
    run_campaign(second.id)
    [a], [b] = deliveries_of(first.id), deliveries_of(second.id)
    assert a.status == "sent"
    assert (b.status, b.reason) == ("skipped", "capped")
    assert len(channels["rec"].received) == 1
    from campaigner.campaigns.services import campaign_stats

    with database.connection_context():
        stats = campaign_stats(campaign_row(second.id))
    assert stats["skipped_by_reason"] == {"capped": 1} and stats["sent"] == 0
    assert campaign_row(second.id).status == "completed"


def test_weekly_cap_and_campaign_override(app, channels, engine_settings):
    engine_settings(caps={"day": 0, "week": 2})
    make_contacts(1)
    results = []
    for i in range(3):
        campaign = new_campaign(name=f"c{i}")
        run_campaign(campaign.id)
        results.append(deliveries_of(campaign.id)[0].status)
    assert results == ["sent", "sent", "skipped"]
    override = new_campaign(name="service notice", caps={"day": 0, "week": 0})
    run_campaign(override.id)
    assert deliveries_of(override.id)[0].status == "sent"


def test_a_contact_in_quiet_hours_is_deferred_to_nine_in_their_time_zone_then_sent(app, channels, engine_settings):
    engine_settings(quiet_hours={"channels": ["rec"]})
    shanghai = make_contacts(1, timezone="Asia/Shanghai")[0]
    new_york = make_contacts(1, timezone="America/New_York")[0]
    campaign = new_campaign()
    # 14:00 UTC on 10 January: 22:00 in Shanghai (quiet), 09:00 in New York (allowed).
    now = dt.datetime(2026, 1, 10, 14, 0)
    with database.connection_context():
        from campaigner.campaigns.models import Campaign

        Campaign.update(send_at=now).where(Campaign.id == campaign.id).execute()
    run_campaign(campaign.id, now=now)
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert rows[new_york].status == "sent"
    assert (rows[shanghai].status, rows[shanghai].reason) == ("deferred", "quiet_hours")
    assert rows[shanghai].send_after == dt.datetime(2026, 1, 11, 1, 0)  # 09:00 in Shanghai
    assert campaign_row(campaign.id).status == "running"
    run_campaign(campaign.id, now=dt.datetime(2026, 1, 11, 0, 59))  # a minute early: still waits
    assert {d.contact_id: d.status for d in deliveries_of(campaign.id)}[shanghai] == "deferred"
    run_campaign(campaign.id, now=dt.datetime(2026, 1, 11, 1, 0))
    rows = {d.contact_id: d for d in deliveries_of(campaign.id)}
    assert rows[shanghai].status == "sent"
    assert campaign_row(campaign.id).status == "completed"


def test_quiet_hours_end_at_nine_local_across_a_daylight_saving_change():
    from campaigner.deliveries.policy import quiet_until, zone

    window = (dt.time(21), dt.time(9))
    # 22:30 in New York on Saturday 7 March 2026 (EST, UTC-5); clocks go forward that night.
    until = quiet_until(dt.datetime(2026, 3, 8, 3, 30), zone("America/New_York", "UTC"), window)
    assert until == dt.datetime(2026, 3, 8, 13, 0)  # 09:00 EDT (UTC-4), not 14:00
    assert quiet_until(dt.datetime(2026, 3, 8, 14, 0), zone("America/New_York", "UTC"), window) is None
    # Early morning is quiet too, until 09:00 the same day.
    assert quiet_until(dt.datetime(2026, 1, 10, 22, 0), zone("Asia/Shanghai", "UTC"), window) == \
        dt.datetime(2026, 1, 11, 1, 0)


def test_a_campaign_is_not_marked_completed_while_any_delivery_is_undelivered(app, channels):
    from campaigner.deliveries import engine

    make_contacts(3)
    campaign = new_campaign()
    with database.connection_context():
        token, rows = claim_batch(campaign, 1)
        assert not engine.complete_if_done(campaign.id)  # two queued, one in flight
    run_campaign(campaign.id)
    assert campaign_row(campaign.id).status == "running"  # the claimed one is still in flight
    with database.connection_context():
        # Its worker died: when the lease expires it is replayed (the provider dedupes) and sent.
        later = utcnow() + dt.timedelta(seconds=61)
        assert engine.recover_expired(later) == 1
    run_campaign(campaign.id, now=later)
    assert statuses(campaign.id) == {"sent": 3}
    assert campaign_row(campaign.id).status == "completed"


def test_an_expired_lease_on_a_channel_without_dedupe_ends_unknown_only_for_what_was_handed_over(app, channels):
    """The dead batch had handed its first message to the channel, not its second: one unknown, one sent later."""
    from campaigner.deliveries import engine
    from campaigner.deliveries.models import DeliveryEvent

    make_contacts(3)
    campaign = new_campaign(channels=("rec_nodedupe",))
    with database.connection_context():
        token, rows = claim_batch(campaign, 2, "rec_nodedupe")
        assert engine._hand_over(token, rows[0][0], 60)  # as the batch does before handing a group over
        assert engine.recover_expired(utcnow()) == 0  # lease still valid
        assert engine.recover_expired(utcnow() + dt.timedelta(seconds=61)) == 2
    never_handed = {d.id: d for d in deliveries_of(campaign.id)}[rows[1][0]]
    assert (never_handed.status, never_handed.lease_token, never_handed.attempts) == ("queued", None, 0)
    run_campaign(campaign.id)
    counts = statuses(campaign.id)
    assert counts == {"unknown": 1, "sent": 2}
    assert len(channels["rec_nodedupe"].received) == 2
    unknown = [d for d in deliveries_of(campaign.id) if d.status == "unknown"][0]
    assert "outcome is unknown" in unknown.error
    with database.connection_context():
        assert DeliveryEvent.select().where(DeliveryEvent.delivery == unknown.id,
                                            DeliveryEvent.status == "unknown").count() == 1
    assert campaign_row(campaign.id).status == "completed"


def test_retrying_failed_deliveries_never_resends_the_ones_already_sent(app, channels):
    from campaigner.deliveries import engine

    make_contacts(4)
    broken = {"on": True}

    def reject_some(message, key):
        if broken["on"] and message.to.startswith(("c1-", "c3-")):
            raise PermanentError("mailbox full")

    channels["rec"].behaviour = reject_some
    campaign = new_campaign()
    run_campaign(campaign.id)
    assert statuses(campaign.id) == {"sent": 2, "failed": 2}
    assert campaign_row(campaign.id).status == "completed"
    broken["on"] = False
    with database.connection_context():
        assert engine.retry_deliveries(campaign_id=campaign.id) == [campaign.id]
        assert engine.retry_deliveries(campaign_id=campaign.id) == []  # nothing failed left to queue
    assert campaign_row(campaign.id).status == "running"
    run_campaign(campaign.id)
    assert statuses(campaign.id) == {"sent": 4}
    keys = channels["rec"].keys()
    assert len(keys) == 4 and len(set(keys)) == 4


def test_archived_content_pauses_the_campaign_at_send_time(app, channels, engine_settings):
    from campaigner.content.models import ContentItem
    from campaigner.deliveries import engine

    engine_settings(batch_size=2)
    make_contacts(6)
    campaign = new_campaign()
    with database.connection_context():
        engine.start(campaign.id)
        engine.pump(campaign.id)
        ContentItem.update(status="archived").where(ContentItem.id == campaign.content_id).execute()
        assert engine.pump(campaign.id) is None
    row = campaign_row(campaign.id)
    assert row.status == "paused" and "no longer approved" in row.status_reason
    assert statuses(campaign.id) == {"sent": 2, "queued": 4}


def test_campaign_throttle_limits_messages_a_minute(app, channels):
    make_contacts(12)
    campaign = new_campaign(throttle_per_minute=5)
    now = dt.datetime.combine(utcnow().date(), dt.time(10, 0, 5))
    with database.connection_context():
        from campaigner.campaigns.models import Campaign

        Campaign.update(send_at=now).where(Campaign.id == campaign.id).execute()
    run_campaign(campaign.id, now=now)
    assert len(channels["rec"].received) == 5
    from campaigner.deliveries import engine

    with database.connection_context():
        assert engine.pump(campaign.id, now) == dt.datetime.combine(now.date(), dt.time(10, 1))
    run_campaign(campaign.id, now=now + dt.timedelta(minutes=1))
    assert len(channels["rec"].received) == 10


def test_channel_rate_limit_is_shared_by_every_campaign(app, channels):
    from campaigner import Capabilities

    channels["rec"].capabilities = Capabilities(provider_dedupes=True, rate_limit_per_minute=3)
    make_contacts(4)
    now = dt.datetime.combine(utcnow().date(), dt.time(11, 0, 1))
    first, second = new_campaign(name="a"), new_campaign(name="b", caps={"day": 0, "week": 0})
    with database.connection_context():
        from campaigner.campaigns.models import Campaign

        Campaign.update(send_at=now).where(Campaign.id.in_([first.id, second.id])).execute()
    run_campaign(first.id, now=now)
    run_campaign(second.id, now=now)
    assert len(channels["rec"].received) == 3


def test_a_missing_channel_plugin_pauses_the_campaign_with_the_reason(app, channels):
    from campaigner.campaigns.models import Campaign

    make_contacts(2)
    campaign = new_campaign()
    with database.connection_context():
        Campaign.update(channels=["gone"]).where(Campaign.id == campaign.id).execute()
    run_campaign(campaign.id)
    row = campaign_row(campaign.id)
    assert row.status == "paused" and "gone" in row.status_reason


def test_sweeper_starts_a_due_campaign_whose_task_was_lost_and_recovers_leases(app, channels):
    from campaigner.deliveries import engine

    make_contacts(2)
    campaign = new_campaign()
    with database.connection_context():
        report = engine.sweep()
    assert campaign.id in report.dispatch
    with database.connection_context():
        engine.start(campaign.id)
        engine.fan_out(campaign)
        engine.claim(campaign.id, "rec", 1, 1, utcnow())
        report = engine.sweep(utcnow() + dt.timedelta(seconds=5), revive_all=True)
    assert report.recovered == 1 and campaign.id in report.pump


def test_delivery_event_plugins_hear_of_each_send_even_when_one_raises(app, channels):
    from campaigner import hookimpl

    heard = []

    class Good:
        @hookimpl
        def delivery_event(self, event, delivery, details):
            heard.append((event, delivery.id))

    class Bad:
        @hookimpl
        def delivery_event(self, event, delivery, details):
            raise RuntimeError("analytics down")

    pm = app.extensions["campaigner"].plugins.pm
    pm.register(Bad(), name="bad-listener")
    pm.register(Good(), name="good-listener")
    make_contacts(3)
    campaign = new_campaign()
    run_campaign(campaign.id)
    assert statuses(campaign.id) == {"sent": 3}
    assert sorted(heard) == sorted(("sent", d.id) for d in deliveries_of(campaign.id))


def test_links_in_each_message_go_through_the_shortener(app, channels, monkeypatch):
    import campaigner.links.shortener as shortener

    calls = []

    def fake_shorten(text, *, delivery_id, campaign_id, channel, fmt="text"):
        calls.append((delivery_id, campaign_id, channel))
        return text.replace("https://example.com/sale", f"https://s.example/{delivery_id}")

    monkeypatch.setattr(shortener, "shorten_links", fake_shorten)
    make_contacts(2)
    campaign = new_campaign()
    run_campaign(campaign.id)
    rows = deliveries_of(campaign.id)
    assert sorted(c[0] for c in calls) == sorted(d.id for d in rows)
    assert all("https://s.example/" in body for _to, _key, body in channels["rec"].received)


def test_a_platform_cap_holds_even_when_the_campaign_lifts_the_instance_caps(app, channels):
    from campaigner import Capabilities

    channels["rec"].capabilities = Capabilities(provider_dedupes=True, caps_per_contact={"month": 2})
    make_contacts(1)
    results = []
    for i in range(3):
        campaign = new_campaign(name=f"m{i}", caps={"day": 0, "week": 0})
        run_campaign(campaign.id)
        results.append((deliveries_of(campaign.id)[0].status, deliveries_of(campaign.id)[0].reason))
    assert results == [("sent", ""), ("sent", ""), ("skipped", "capped")]


def test_a_transient_error_with_retry_after_is_not_retried_sooner(app, channels):
    make_contacts(1)

    def throttled(message, key):
        raise TransientError("429 too many requests", retry_after=600)

    channels["rec"].behaviour = throttled
    campaign = new_campaign()
    start = utcnow()
    run_campaign(campaign.id, now=start)
    [row] = deliveries_of(campaign.id)
    assert row.status == "queued" and row.send_after - start >= dt.timedelta(seconds=599)


def test_a_replayed_batch_gets_a_send_chain_even_when_the_campaign_sent_a_moment_ago(app, channels):
    from campaigner.deliveries import engine

    make_contacts(3)
    campaign = new_campaign()
    with database.connection_context():
        engine.start(campaign.id)
        engine.fan_out(campaign)
        engine.claim(campaign.id, "rec", 1, 1, utcnow())  # a worker that will die with this claim
    run_campaign(campaign.id)  # the other two are sent; this chain ends, the claim still in flight
    assert campaign_row(campaign.id).status == "running"
    later = utcnow() + dt.timedelta(seconds=5)
    with database.connection_context():
        report = engine.sweep(later)
    assert report.recovered == 1 and report.pump == [campaign.id]
    run_campaign(campaign.id, now=later)
    assert statuses(campaign.id) == {"sent": 3} and campaign_row(campaign.id).status == "completed"
