"""The wecom channel plugin: loaded like every built-in, conforms to the channel contract, sends through the fake WeCom."""
from __future__ import annotations

import json

import pytest

from campaigner import ConfigError
from campaigner.db import database
from campaigner.testing import assert_channel_conforms, make_contact
from tests.fixtures_plugins import configure_channel  # noqa: F401
from tests.fixtures_wecom import fake_wecom, wecom  # noqa: F401


def test_campaigner_plugins_json_lists_the_wecom_channel_and_receiver(runner, wecom):
    result = runner.invoke(["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["campaigner_wecom"]["source"] == "directory"
    assert plugins["campaigner_wecom"]["channels"] == ["wecom"]
    assert plugins["campaigner_wecom"]["hooks"] == ["contact_event", "register_channels", "register_inbound_receivers"]
    channels = {c["name"]: c for c in report["channels"]}
    assert channels["wecom"]["config_valid"] is True
    assert channels["wecom"]["capabilities"]["needs_staff_confirmation"] is True
    assert {r["provider"] for r in report["receivers"]} == {"wecom", "sms"}
    assert wecom.secret not in result.output and wecom.encoding_aes_key not in result.output


def test_the_wecom_channel_conforms_and_sends_a_customer_mass_message(app, wecom):
    from campaigner_wecom import WecomChannel

    wecom.add_staff("zhangsan", "张三")
    wecom.add_customer("wmZ1", "王芳", staff="zhangsan")
    contact = make_contact(name="王芳", external_userid="wmZ1", wecom_staff="zhangsan")
    with database.connection_context():
        configured = assert_channel_conforms(WecomChannel(), wecom.channel_config("main"), contact, send=True)
    [first, *_] = wecom.templates
    assert first["external_userid"] == ["wmZ1"] and first["sender"] == "zhangsan"
    assert "王芳" in first["text"]["content"]
    assert configured.address(make_contact(name="Nobody")) is None


def test_the_wecom_channel_finds_a_synced_contacts_identity_and_staff(app, wecom):
    from campaigner.wecom import services

    with database.connection_context():
        customer, _ = services.customer_for("main", "wmQ1", name="李雷")
        staff, _ = services.upsert_staff("main", "lisi")
        services.open_owner(customer, staff)
        channel = app.extensions["campaigner"].plugins.configured_channel("wecom")
        from campaigner.audience.models import Contact

        contact = Contact.get_by_id(customer.contact_id)
        assert channel.address(contact) == "wmQ1"
        from campaigner.testing import make_content

        message = channel.render(make_content(body="你好 {{ name }}"), contact, {"unsubscribe_url": ""})
        assert message.data == {"sender": "lisi", "account": "main"}


@pytest.mark.parametrize("config,field", [
    ({"corp_id": "ww1"}, "secret"),
    ({"corp_id": "ww1", "secret": "s", "encoding_aes_key": "short"}, "corp_id"),
    ({"corp_id": "ww1", "secret": "s", "more_accounts": "not json"}, "more_accounts"),
    ({"corp_id": "ww1", "secret": "s", "more_accounts": '[{"name": "main", "corp_id": "x", "secret": "y"}]'},
     "more_accounts"),
])
def test_a_bad_wecom_config_names_the_field(app, config, field):
    channel = app.extensions["campaigner"].plugins.channel("wecom")
    with pytest.raises(ConfigError) as caught:
        channel.validate_config(config)
    assert field in caught.value.errors


def test_several_corps_are_accounts_each_with_its_callback_url(app, fake_wecom, configure_channel, client):
    from campaigner.wecom.accounts import wecom_accounts

    second = {"name": "brand-b", "corp_id": "ww-b", "secret": "sb", "callback_token": "tb",
              "encoding_aes_key": fake_wecom.encoding_aes_key}
    configure_channel("wecom", **fake_wecom.channel_config("main"), more_accounts=json.dumps([second]))
    with database.connection_context():
        accounts = wecom_accounts()
    assert sorted(accounts) == ["brand-b", "main"] and accounts["brand-b"].corp_id == "ww-b"
    assert "sb" not in repr(accounts["brand-b"])
    from campaigner.testing_wecom import CallbackSender
    from urllib.parse import urlencode

    sender = CallbackSender("", "tb", fake_wecom.encoding_aes_key, "ww-b")
    args, body = sender.encrypted(sender.add_external_contact("u1", "wmB"))
    assert client.post(f"/hooks/wecom/brand-b?{urlencode(args)}", data=body).status_code == 200
    # The same callback is not valid for the other corp.
    assert client.post(f"/hooks/wecom/main?{urlencode(args)}", data=body).status_code == 403
