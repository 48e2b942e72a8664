"""The plugin's own tests: Campaigner's conformance kit plus a fake robot on loopback."""
from campaigner.testing import FakeGateway, assert_channel_conforms, make_contact, make_content

from campaigner_dingtalk import DingTalkChannel, sign_request


def test_dingtalk_channel_conforms_and_sends():
    with FakeGateway() as robot:
        robot.reply(200, {"errcode": 0, "errmsg": "ok"})
        assert_channel_conforms(DingTalkChannel(), {"url": robot.url, "secret": "SEC-test"},
                                make_contact(chat_id="token-1"), send=True)
        request = robot.requests[0]
        assert request.query["access_token"] == ["token-1"]
        assert request.query["sign"] == [sign_request("SEC-test", int(request.query["timestamp"][0]))["sign"]]
        assert request.json["msgtype"] == "markdown"


def test_dingtalk_error_code_fails_the_delivery():
    import pytest

    from campaigner import PermanentError

    with FakeGateway() as robot:
        robot.reply(200, {"errcode": 310000, "errmsg": "keywords not in content"})
        channel = DingTalkChannel().with_config({"url": robot.url})
        contact = make_contact(chat_id="token-1")
        message = channel.render(make_content(), contact, {})
        with pytest.raises(PermanentError, match="310000"):
            channel.send(message, "key-1")


def test_a_reply_without_errcode_is_not_a_send():
    import pytest

    from campaigner import PermanentError

    with FakeGateway() as robot:
        robot.reply(200, {"ok": True})  # a wrong URL answering: not DingTalk
        channel = DingTalkChannel().with_config({"url": robot.url})
        message = channel.render(make_content(), make_contact(chat_id="token-no-errcode"), {})
        with pytest.raises(PermanentError, match="without a DingTalk errcode"):
            channel.send(message, "key-1")


def test_twenty_messages_a_minute_per_robot_then_transient_with_retry_after():
    import pytest

    from campaigner import TransientError

    with FakeGateway() as robot:
        robot.reply(200, {"errcode": 0, "errmsg": "ok"})
        channel = DingTalkChannel().with_config({"url": robot.url})
        busy = channel.render(make_content(), make_contact(chat_id="token-busy-robot"), {})
        quiet = channel.render(make_content(), make_contact(chat_id="token-quiet-robot"), {})
        for i in range(20):
            channel.send(busy, f"k-{i}")
        with pytest.raises(TransientError, match="limit of 20 messages a minute") as caught:
            channel.send(busy, "k-20")
        assert 0 < caught.value.retry_after <= 60
        channel.send(quiet, "k-quiet")  # the limit is per robot
        assert len(robot.requests) == 21  # the 21st to the busy robot never left


def test_the_network_timeout_stays_below_send_timeout():
    import pytest

    from campaigner import ConfigError

    timeout = next(f for f in DingTalkChannel.config_schema if f.name == "timeout")
    assert timeout.max < DingTalkChannel.send_timeout
    with pytest.raises(ConfigError):
        DingTalkChannel().validate_config({"timeout": 60})
