"""Fixtures for the WeCom tests: a fake WeCom on loopback, the channel configured for it, callbacks posted to the app.

Import what a module needs: ``from tests.fixtures_wecom import fake_wecom, wecom, ...``.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from campaigner.db import database
from campaigner.testing_wecom import CallbackSender, FakeWecom
from tests.fixtures_plugins import configure_channel  # noqa: F401  (a fixture used here)


@pytest.fixture
def fake_wecom():
    """A fake WeCom on 127.0.0.1 (empty: tests add staff, customers and groups)."""
    with FakeWecom() as fake:
        yield fake


@pytest.fixture
def wecom(app, fake_wecom, configure_channel):
    """The `wecom` channel configured for the fake as account ``main``; gives the fake."""
    configure_channel("wecom", **fake_wecom.channel_config("main"))
    return fake_wecom


def populate(fake: FakeWecom, staff: int = 3, customers: int = 1000, groups: int = 20, per_group: int = 10) -> None:
    """`staff` staff accounts sharing `customers` customers (some have two staff), `groups` groups of members."""
    for s in range(staff):
        fake.add_staff(f"staff{s}", f"员工{s}", department=[1 + s])
    for c in range(customers):
        owner = f"staff{c % staff}"
        fake.add_customer(f"wm{c:05d}", f"客户{c}", staff=owner, unionid=f"ou-{c:05d}", state=f"code{c % 7}",
                          createtime=1_700_000_000 + c, remark=f"r{c}")
        if c % 10 == 0:  # a tenth of them also added a second staff account
            fake.add_customer(f"wm{c:05d}", f"客户{c}", staff=f"staff{(c + 1) % staff}", unionid=f"ou-{c:05d}",
                              createtime=1_700_100_000 + c)
    for g in range(groups):
        members = [{"userid": f"staff{g % staff}", "type": 1, "join_time": 1_700_000_000, "join_scene": 1}]
        members += [{"userid": f"wm{(g * per_group + m) % customers:05d}", "type": 2,
                     "join_time": 1_700_000_100 + m, "join_scene": 3} for m in range(per_group)]
        fake.add_group(f"wr{g:04d}", f"群{g}", f"staff{g % staff}", members=members, notice=f"公告{g}",
                       create_time=1_700_000_000)


@pytest.fixture
def post_callback(client, wecom):
    """``post_callback(fields, sign=True, timestamp=None, corp_id=None)`` posts an encrypted callback to /hooks/wecom/main."""
    sender = CallbackSender("/hooks/wecom/main", wecom.callback_token, wecom.encoding_aes_key, wecom.corp_id)

    def post(fields, **options):
        args, body = sender.encrypted(fields, **options)
        return client.post(f"/hooks/wecom/main?{urlencode(args)}", data=body, content_type="text/xml")

    post.sender = sender
    return post


def process_inbound():
    """Process every pending inbound event in this process (what the worker's task does)."""
    from campaigner.inbound.services import process_pending

    with database.connection_context():
        return process_pending()
