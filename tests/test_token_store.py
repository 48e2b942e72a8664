"""The token store every process shares: one fetch for all, refreshed before expiry and when the provider rejects it."""
from __future__ import annotations

import datetime as dt
import threading

from campaigner.db import database, utcnow
from campaigner.token_store import StoredToken, get_token, invalidate_token, refresh_token, store_value, stored_value
from tests.fixtures_plugins import configure_channel  # noqa: F401
from tests.fixtures_wecom import fake_wecom  # noqa: F401


def test_a_token_is_fetched_once_and_shared_until_it_is_due_for_refresh(app):
    fetched = []

    def fetch():
        fetched.append(1)
        return f"token-{len(fetched)}", 7200

    with database.connection_context():
        assert get_token("wecom:corp", fetch) == "token-1"
        assert get_token("wecom:corp", fetch) == "token-1"
        assert len(fetched) == 1
        # Another process sees the database's row: it expires within the margin, so it is refreshed.
        StoredToken.update(expires_at=utcnow() + dt.timedelta(seconds=100)).execute()
        from campaigner import token_store

        token_store._memo.clear()
        assert get_token("wecom:corp", fetch) == "token-2"
        assert len(fetched) == 2


def test_a_rejected_token_is_replaced_once_even_when_several_callers_report_it(app):
    fetched = []

    def fetch():
        fetched.append(1)
        return f"token-{len(fetched)}", 7200

    with database.connection_context():
        old = get_token("k", fetch)
        assert refresh_token("k", fetch, stale=old) == "token-2"
        # A second caller that got 40014 with the same old token takes the new one instead of fetching again.
        assert refresh_token("k", fetch, stale=old) == "token-2"
        assert len(fetched) == 2
        invalidate_token("k")
        assert get_token("k", fetch) == "token-3"


def test_concurrent_callers_fetch_one_token(app):
    fetched = []
    gate = threading.Barrier(4)

    def fetch():
        fetched.append(1)
        return "only-one", 7200

    results = []

    def worker():
        gate.wait()
        with database.connection_context():
            results.append(get_token("shared", fetch))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["only-one"] * 4 and len(fetched) == 1


def test_values_with_a_ttl(app):
    with database.connection_context():
        store_value("sms:session", "abc", ttl=60)
        assert stored_value("sms:session") == "abc"
        store_value("sms:session", "old", ttl=-1)
        assert stored_value("sms:session") is None


def test_the_wecom_client_shares_its_token_across_clients_and_refreshes_on_42001(app, fake_wecom, configure_channel):
    from campaigner.wecom.accounts import wecom_account
    from campaigner.wecom.client import WecomClient

    configure_channel("wecom", **fake_wecom.channel_config("main"))
    fake_wecom.add_staff("zhangsan")
    with database.connection_context():
        account = wecom_account("main")
        for _ in range(3):  # three "processes"' clients: one token
            assert WecomClient(account).external_contact.get_follow_user_list()["follow_user"] == ["zhangsan"]
        assert fake_wecom.token_fetches == 1
        fake_wecom.expire_tokens()
        assert WecomClient(account).external_contact.get_follow_user_list()["errcode"] == 0
        assert fake_wecom.token_fetches == 2
        from campaigner import token_store

        token_store._memo.clear()
        StoredToken.update(value="tok-forged").execute()  # 40014: invalid token
        assert WecomClient(account).external_contact.get_follow_user_list()["errcode"] == 0
        assert fake_wecom.token_fetches == 3

