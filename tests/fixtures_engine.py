"""Fixtures for the campaign and delivery engine tests: recording channels, contacts, content, a pump loop."""
from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid

import pytest

from campaigner import Capabilities, Channel, Message, SendResult, hookimpl
from campaigner.db import database, utcnow


class RecordingChannel(Channel):
    """A channel that keeps what it is asked to send; `behaviour(message, key)` may raise or sleep first."""

    label = "Recording"

    def __init__(self, name: str, contact_field: str = "email", dedupes: bool = True, **capabilities):
        super().__init__()
        self.name = name
        self.contact_field = contact_field
        self.capabilities = Capabilities(provider_dedupes=dedupes, **capabilities)
        self.received: list[tuple[str, str, str]] = []  # (to, idempotency key, body)
        self.behaviour = None
        self._lock = threading.Lock()

    def render(self, content, contact, context) -> Message:
        from campaigner.content.rendering import personalize, text_for_channel

        return Message(to=self.address(contact), body=personalize(text_for_channel(content, self.name), contact),
                       data={"delivery_id": context.get("delivery_id")})

    def send(self, message, idempotency_key):
        if self.behaviour is not None:
            self.behaviour(message, idempotency_key)
        with self._lock:
            self.received.append((message.to, idempotency_key, message.body))
        return SendResult(provider_id=f"prov-{idempotency_key}")

    def keys(self) -> list[str]:
        return [key for _to, key, _body in self.received]


class _Plugin:
    def __init__(self, channels):
        self.channels = channels

    @hookimpl
    def register_channels(self, register):
        for channel in self.channels:
            register(channel)


@pytest.fixture
def channels(app):
    """Recording channels on the app's plugin manager: `rec` (email, provider dedupes),
    `rec_phone` (phone, dedupes) and `rec_nodedupe` (email, no dedupe)."""
    made = {
        "rec": RecordingChannel("rec"),
        "rec_phone": RecordingChannel("rec_phone", contact_field="phone"),
        "rec_nodedupe": RecordingChannel("rec_nodedupe", dedupes=False),
    }
    plugins = app.extensions["campaigner"].plugins
    plugins.pm.register(_Plugin(list(made.values())), name=f"test-recording-{uuid.uuid4().hex[:6]}")
    plugins._channels = None
    return made


@pytest.fixture
def engine_settings(app):
    """``engine_settings(**overrides)`` stores delivery engine settings (batch size, caps, ...)."""
    from campaigner.settings_store import set_value

    def store(**overrides):
        with database.connection_context():
            set_value("delivery_engine", overrides)

    return store


_PHONES = itertools.count()


def make_contacts(n: int, **fields) -> list[int]:
    """`n` contacts with an email and a phone each (override any field); return their ids."""
    from campaigner.audience.models import Contact

    tag = uuid.uuid4().hex[:6]
    rows = []
    for i in range(n):
        # Each contact a number of its own across calls: a campaign sends one address once.
        row = {"name": f"Contact {i}", "email": f"c{i}-{tag}@example.com", "phone": f"+86138{next(_PHONES):08d}",
               "external_id": f"ext-{tag}-{i}", "attributes": {}}
        row.update({k: (v(i) if callable(v) else v) for k, v in fields.items()})
        rows.append(row)
    with database.connection_context():
        with database.atomic():
            for start in range(0, n, 500):
                Contact.insert_many(rows[start:start + 500]).execute()
        return [c.id for c in Contact.select(Contact.id).where(Contact.external_id.startswith(f"ext-{tag}-"))
                .order_by(Contact.id)]


def make_content(status: str = "approved", body: str = "Hello {{ name }}, see https://example.com/sale") -> int:
    from campaigner.content.models import ContentItem

    with database.connection_context():
        return ContentItem.create(title="Weekly offer", slug=f"offer-{uuid.uuid4().hex[:8]}", body=body,
                                  status=status).id


def new_campaign(channels=("rec",), audience: str = "", schedule: bool = True, **fields):
    """A campaign on `channels` to `audience`, scheduled to start now unless told otherwise."""
    from campaigner.campaigns.services import create_campaign, schedule_campaign

    with database.connection_context():
        content = fields.pop("content", None) or make_content()
        campaign = create_campaign(name=fields.pop("name", "Campaign"), content=content, channels=list(channels),
                                   audience=audience, **fields)
        if schedule:
            schedule_campaign(campaign)
        return campaign


def run_campaign(campaign_id: int, now: dt.datetime | None = None, max_batches: int = 1000) -> int:
    """Start (if due) and pump a campaign in this process until nothing is due at `now`; return batches run."""
    from campaigner.deliveries import engine

    batches = 0
    with database.connection_context():
        engine.start(campaign_id, now)
        while batches < max_batches:
            moment = now or utcnow()
            when = engine.pump(campaign_id, moment)
            batches += 1
            if when is None or when > moment:
                break
    return batches


def claim_batch(campaign, size: int, channel: str = "rec", lease_seconds: float = 60):
    """Start and fan out `campaign`, then claim `size` of its deliveries as a batch would: (token, rows).

    Call inside a connection context; the batch is then "in flight" until the test records or drops it.
    """
    from campaigner.deliveries import engine

    engine.start(campaign.id)
    engine.fan_out(campaign)
    return engine.claim(campaign.id, channel, size, lease_seconds, utcnow())


def deliveries_of(campaign_id: int) -> list:
    from campaigner.deliveries.engine import SOURCE
    from campaigner.deliveries.models import Delivery

    with database.connection_context():
        return list(Delivery.select().where(Delivery.source_type == SOURCE, Delivery.source_id == campaign_id)
                    .order_by(Delivery.id))


def campaign_row(campaign_id: int):
    from campaigner.campaigns.models import Campaign

    with database.connection_context():
        return Campaign.get_by_id(campaign_id)
