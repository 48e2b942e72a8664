"""Fixtures for short links, clicks and analytics: links, clicks by hand, a campaign that really ran."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from campaigner import hookimpl
from campaigner.db import database, utcnow

BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Mobile/15E148 MicroMessenger/8.0.44 NetType/WIFI Language/zh_CN")
OTHER_BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def code_of(short_url: str) -> str:
    return short_url.rsplit("/s/", 1)[1]


def follow(client, code: str, agent: str = BROWSER, address: str = "203.0.113.7"):
    """GET /s/<code> as a browser at `address` would."""
    return client.get(f"/s/{code}", headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address})


def flush_clicks(app) -> None:
    """Write the clicks the app still buffers (the background writer does this within a quarter second)."""
    from campaigner.links.redirect import click_recorder

    with database.connection_context():
        click_recorder(app).flush()


@pytest.fixture(autouse=True)
def clicks_written_before_teardown(app):
    """Write what the test's app still buffers before the next test empties the database.

    On PostgreSQL every test shares one database: a click left in a buffer
    would otherwise be written into the next test's tables by the writer thread.
    """
    yield
    flush_clicks(app)


@pytest.fixture
def manual_link(app):
    """``manual_link(target, **fields)`` -> a ShortLink made as the UI makes one."""
    from campaigner.links.services import create_manual_link

    def make(target: str = "https://shop.example.com/spring?ref=poster", **fields):
        from campaigner.links.services import update_link

        expires_at = fields.pop("expires_at", None)
        with database.connection_context():
            if expires_at is not None and expires_at <= utcnow():  # a new link can't start expired: end it after
                return update_link(create_manual_link(target, **fields), expires_at=expires_at)
            return create_manual_link(target, expires_at=expires_at, **fields)

    return make


class EventRecorder:
    """A plugin that keeps every delivery event it is told about."""

    def __init__(self):
        self.events: list[tuple[str, int, dict]] = []

    @hookimpl
    def delivery_event(self, event, delivery, details):
        self.events.append((event, delivery.id, details))


@pytest.fixture
def delivery_events(app):
    """The delivery events plugins are told about, recorded by a plugin registered for this test."""
    recorder = EventRecorder()
    app.extensions["campaigner"].plugins.pm.register(recorder, name=f"test-events-{uuid.uuid4().hex[:6]}")
    return recorder


def make_order(contact_id: int, amount: str, at: dt.datetime):
    from campaigner.audience.models import Order

    with database.connection_context():
        return Order.create(contact=contact_id, amount=amount, occurred_at=at, source="test")


def make_click(link, at: dt.datetime, agent: str = BROWSER, bot: bool = False):
    """A click row written directly (for attribution over days, which a test can't wait for)."""
    from campaigner.links.models import Click

    with database.connection_context():
        return Click.create(link=link.id, at=at, contact=link.contact_id, is_bot=bot, user_agent=agent,
                            visitor=f"c:{link.contact_id}" if link.contact_id else f"v:{uuid.uuid4().hex[:8]}",
                            process_token="-")


def links_of_delivery(delivery_id: int) -> list:
    from campaigner.links.models import ShortLink

    with database.connection_context():
        return list(ShortLink.select().where(ShortLink.delivery == delivery_id).order_by(ShortLink.id))


def days_ago(n: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=n)
