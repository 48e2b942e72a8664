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
