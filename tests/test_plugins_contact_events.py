"""The core event record: what contacts did, the contact_event hook plugins subscribe to, the timeline."""
from __future__ import annotations

import pytest

from campaigner.db import database
from campaigner.events.models import Event
from campaigner.events.services import EVENT_KINDS, UnknownEventKind, collect_events, emit_events, record_event
from tests.fixtures_plugins import app_with_plugins, make_contact_row  # noqa: F401

LISTENER = '''
import json, os
from campaigner import hookimpl

@hookimpl
def contact_event(event):
    with open(os.environ["EVENTS_SEEN"], "a") as f:
        f.write(json.dumps({"kind": event.kind, "contact": event.contact_id, "source": event.source}) + "\\n")

'''
BROKEN = '''
from campaigner import hookimpl

@hookimpl
def contact_event(event):
    raise RuntimeError("this plugin is broken")
'''


@pytest.fixture
def seen(tmp_path, monkeypatch):
    path = tmp_path / "seen.jsonl"
    monkeypatch.setenv("EVENTS_SEEN", str(path))

    def read():
        import json

        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read


def test_contact_event_reaches_every_plugin_even_when_one_raises(app_with_plugins, seen):
    app = app_with_plugins({"campaigner_broken_listener": BROKEN, "campaigner_listener": LISTENER})
    contact = make_contact_row()
    with database.connection_context():
        record_event("replied", contact, source="sms", details={"text": "好的"})
    assert seen() == [{"kind": "replied", "contact": contact.id, "source": "sms"}]
    failures = list(app.extensions["campaigner"].plugins.hook_failures)
    assert failures and failures[-1].plugin == "campaigner_broken_listener"


def test_events_recorded_in_a_transaction_are_announced_after_it_and_never_when_it_rolls_back(app_with_plugins, seen):
    app_with_plugins({"campaigner_listener": LISTENER})
    contact = make_contact_row()
    with database.connection_context():
        with collect_events() as events:
            with pytest.raises(RuntimeError), database.atomic():
                record_event("joined", contact, source="wecom:main", staff="zhangsan")
                raise RuntimeError("rolled back")
            events.clear()  # what the rolled-back transaction recorded is dropped by its caller
            with database.atomic():
                record_event("joined_group", contact, source="wecom:main", group="wr1")
            assert seen() == []  # not before the caller says it committed
        emit_events(events)
        assert Event.select().count() == 1
    assert [s["kind"] for s in seen()] == ["joined_group"]


def test_tag_changes_orders_and_clicks_are_events_too(app_with_plugins, seen, tmp_path):
    from campaigner.audience.services import add_tags, remove_tags

    app_with_plugins({"campaigner_listener": LISTENER})
    contact = make_contact_row()
    with database.connection_context():
        add_tags(contact, ["level:vip"], source="ui")
        remove_tags(contact, ["level:vip"], source="ui")
    assert [s["kind"] for s in seen()] == ["tag_added", "tag_removed"]


def test_an_order_placed_through_the_api_is_an_event(app, api_token, client):
    contact = make_contact_row(phone="+8613800138001")
    token = api_token("admin")
    response = client.post("/api/v1/orders", json={"contact": contact.id, "amount": "88.00",
                                                   "occurred_at": "2026-11-11T10:00:00Z", "order_id": "o-1"},
                           headers=token)
    assert response.status_code == 201, response.get_data(as_text=True)
    with database.connection_context():
        [event] = Event.select().where(Event.kind == "order_placed")
        assert event.contact_id == contact.id and event.details == {"order_id": "o-1", "amount": "88.00"}


def test_an_unknown_event_kind_is_refused(app):
    with database.connection_context(), pytest.raises(UnknownEventKind):
        record_event("teleported")
    assert "joined" in EVENT_KINDS and "left_group" in EVENT_KINDS


def test_the_contact_timeline_shows_wecom_events(app, login_as):
    contact = make_contact_row(name="陈晨")
    with database.connection_context():
        record_event("joined", contact, source="wecom:main", staff="zhangsan", details={"state": "spring"})
        record_event("joined_group", contact, source="wecom:main", group="wr1", details={"group_name": "<b>咖啡群</b>"})
        record_event("left", contact, source="wecom:main", staff="zhangsan", details={"removed_by": "customer"})
    page = login_as("editor").get(f"/audience/contacts/{contact.id}").get_data(as_text=True)
    assert "added a staff account" in page and "state=spring" in page
    assert "joined a group" in page and "&lt;b&gt;咖啡群&lt;/b&gt;" in page  # data, not markup
    assert "relationship ended" in page and "zhangsan (customer)" in page
