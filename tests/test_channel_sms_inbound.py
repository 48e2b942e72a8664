"""SMS inbound: delivery receipts make a sent delivery delivered (the funnel counts those), T/TD/退订 replies opt out."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from campaigner.audience.models import OptOut
from campaigner.db import database, utcnow
from campaigner.deliveries.models import Delivery, DeliveryEvent
from campaigner.events.models import Event
from campaigner.inbound.models import InboundEvent
from tests.fixtures_plugins import configure_channel, make_contact_row, make_delivery_row  # noqa: F401
from tests.fixtures_wecom import process_inbound

SECRET = "receipt-secret-1"


@pytest.fixture
def sms(configure_channel):
    configure_channel("sms", mode="outbox", receipt_secret=SECRET)


def _post(client, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/hooks/sms/gateway", data=body, headers={"X-Signature": signature},
                       content_type="application/json")


def _sent(contact, provider_id, source_id=1):
    delivery = make_delivery_row(contact, channel="sms", source_type="campaign", source_id=source_id)
    with database.connection_context():
        Delivery.update(status="sent", sent_at=utcnow(), provider_id=provider_id).where(Delivery.id == delivery.id).execute()
    return delivery


def test_a_delivery_receipt_makes_a_sent_sms_delivered_once(client, sms):
    contact = make_contact_row(phone="+8613800138000")
    delivery = _sent(contact, "gw-77")
    for _ in range(3):  # the gateway repeats its receipt
        assert _post(client, {"type": "receipt", "id": "gw-77", "status": "delivered"}).status_code == 200
    process_inbound()
    with database.connection_context():
        row = Delivery.get_by_id(delivery.id)
        assert row.status == "sent" and row.delivered_at is not None and row.state == "delivered"
        assert DeliveryEvent.select().where(DeliveryEvent.delivery == delivery.id,
                                            DeliveryEvent.status == "delivered").count() == 1
        assert InboundEvent.select().count() == 1


def test_a_failed_receipt_fails_the_delivery_with_the_reason(client, sms):
    contact = make_contact_row(phone="+8613800138002")
    delivery = _sent(contact, "gw-78")
    _post(client, {"events": [{"type": "receipt", "id": "gw-78", "status": "failed", "error": "UNDELIV 空号"}]})
    process_inbound()
    with database.connection_context():
        row = Delivery.get_by_id(delivery.id)
        assert row.status == "failed" and "空号" in row.error


def test_the_funnel_counts_receipts_as_delivered_on_a_channel_that_sends_them(client, sms):
    from campaigner.analytics.services import funnel

    contacts = [make_contact_row(phone=f"+861380013810{n}") for n in range(3)]
    for n, contact in enumerate(contacts):
        _sent(contact, f"gw-f{n}", source_id=5)
    with database.connection_context():
        assert funnel([5]).delivered == 3  # no receipts for this channel yet: sent is the best we know
    _post(client, {"type": "receipt", "id": "gw-f0", "status": "delivered"})
    process_inbound()
    with database.connection_context():
        result = funnel([5])
        assert (result.sent, result.delivered) == (3, 1)


@pytest.mark.parametrize("text,opted_out", [("T", True), ("td", True), ("退订", True), (" T。", True),
                                            ("好的，谢谢", False), ("Tomorrow", False)])
def test_replies_are_recorded_and_t_td_tuiding_opt_out(client, sms, text, opted_out):
    contact = make_contact_row(phone="+8613800138009")
    assert _post(client, {"type": "reply", "id": "r1", "from": "+8613800138009", "text": text}).status_code == 200
    process_inbound()
    with database.connection_context():
        assert OptOut.select().where(OptOut.contact == contact.id, OptOut.channel == "sms").exists() is opted_out
        [event] = Event.select().where(Event.kind == "replied")
        assert event.contact_id == contact.id and event.details["text"] == text


def test_a_reply_from_an_unknown_number_creates_the_contact(client, sms):
    _post(client, {"type": "reply", "id": "r2", "from": "+8613900139000", "text": "退订"})
    process_inbound()
    from campaigner.audience.models import Contact

    with database.connection_context():
        contact = Contact.get(Contact.phone == "+8613900139000")
        assert OptOut.select().where(OptOut.contact == contact.id).exists()


@pytest.mark.parametrize("payload,secret,status", [
    ({"type": "receipt", "id": "x", "status": "delivered"}, "wrong-secret", 403),
    ({"type": "receipt", "id": "x", "status": "lost"}, SECRET, 400),
    ({"type": "reply", "from": "not a number", "text": "T"}, SECRET, 400),
    ({"type": "telegram"}, SECRET, 400),
    ({"events": []}, SECRET, 400),
])
def test_bad_sms_callbacks_are_refused_and_store_nothing(client, sms, payload, secret, status):
    assert _post(client, payload, secret=secret).status_code == status
    with database.connection_context():
        assert InboundEvent.select().count() == 0


def test_sms_callbacks_are_refused_until_a_receipt_secret_is_configured(client, configure_channel):
    configure_channel("sms", mode="outbox")
    assert _post(client, {"type": "receipt", "id": "x", "status": "delivered"}).status_code == 404


def test_ops_see_receipted_deliveries_as_delivered_in_the_log(client, sms, login_as):
    contact = make_contact_row(phone="+8613800138077")
    delivered = _sent(contact, "gw-log-1")
    other = _sent(make_contact_row(phone="+8613800138078"), "gw-log-2", source_id=2)
    _post(client, {"type": "receipt", "id": "gw-log-1", "status": "delivered"})
    process_inbound()
    ops = login_as("ops")
    page = ops.get("/deliveries/?status=delivered").get_data(as_text=True)
    assert f'/deliveries/{delivered.id}"' in page and f'/deliveries/{other.id}"' not in page
    assert "badge-delivered" in page
    detail = ops.get(f"/deliveries/{delivered.id}").get_data(as_text=True)
    assert "Delivered" in detail
