"""The email channel against a real SMTP server on loopback, and the unsubscribe link it carries."""
from __future__ import annotations

import re

import pytest

from campaigner import PermanentError, TransientError, hookimpl
from campaigner.audience.models import OptOut
from campaigner.db import database
from campaigner.plugins import render_context
from campaigner.testing import SmtpServer, assert_channel_conforms, make_contact, make_content
from tests.fixtures_plugins import (  # noqa: F401  (fixtures)
    configure_channel,
    make_contact_row,
    make_delivery_row,
    plugins,
    smtp_server,
)

SPRING = make_content(
    title="{{ name }}，春季新品到店",
    body="Hi **{{ name }}**,\n\nOur spring beans are in: [see the menu](https://example.com/menu)\n\n<script>alert(1)</script>",
)


class EventRecorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def delivery_event(self, event, delivery, details):
        self.events.append((event, getattr(delivery, "id", None), details))


@pytest.fixture
def email_channel(app, plugins, configure_channel, smtp_server):
    configure_channel("email", host=smtp_server.host, port=smtp_server.port, security="none",
                      from_address="hello@beans.example", from_name="Beans 咖啡", reply_to="care@beans.example")
    with database.connection_context():
        return plugins.configured_channel("email")


def send_to(channel, contact, content=SPRING, delivery=None, key="campaign:1:contact:1:email"):
    with database.connection_context():
        context = render_context(contact, "email", delivery_id=getattr(delivery, "id", None), campaign_id=1)
        message = channel.render(content, contact, context)
        return message, channel.send(message, key)


def test_smtp_server_receives_both_parts_and_the_headers(email_channel, smtp_server):
    contact = make_contact_row(name="王芳", email="fang@example.com")
    delivery = make_delivery_row(contact)
    _message, result = send_to(email_channel, contact, delivery=delivery)

    [received] = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0].rcpt_tos == ["fang@example.com"]
    assert received["Subject"] == "王芳，春季新品到店"
    assert received["From"].addresses[0].addr_spec == "hello@beans.example"
    assert received["From"].addresses[0].display_name == "Beans 咖啡"
    assert received["Reply-To"] == "care@beans.example"
    assert received["Message-ID"] == "<campaign.1.contact.1.email@beans.example>" == result.provider_id
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = smtp_server.envelopes[0].content.decode()
    assert re.search(r"^List-Unsubscribe: <http://127\.0\.0\.1:8000/u/[^>\s]+>\r?$", raw, re.M), \
        "List-Unsubscribe must be one plain <URL> (not folded, not encoded) for mail clients to act on it"
    unsubscribe = re.fullmatch(r"<(http://127\.0\.0\.1:8000/u/[^>]+)>", received["List-Unsubscribe"]).group(1)

    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Hi 王芳" in text and "see the menu (https://example.com/menu)" in text and unsubscribe in text
    assert "<strong>王芳</strong>" in html and 'href="https://example.com/menu"' in html
    assert unsubscribe in html
    assert "<script>" not in html and "<script>" not in text


def test_unsubscribe_link_opts_the_contact_out_and_says_so(app, client, email_channel, smtp_server, plugins):
    recorder = EventRecorder()
    plugins.pm.register(recorder, name="recorder")
    contact = make_contact_row(name="王芳", email="fang@example.com")
    delivery = make_delivery_row(contact)
    send_to(email_channel, contact, delivery=delivery)
    [received] = smtp_server.wait_for(1)
    link = re.search(r"http://127\.0\.0\.1:8000(/u/\S+)", received.get_body(("plain",)).get_content()).group(1)

    confirm = client.get(link, headers={"Accept-Language": "en"})
    assert confirm.status_code == 200 and "Unsubscribe from messages by Email?" in confirm.get_data(as_text=True)
    page = client.post(link, headers={"Accept-Language": "en"}, csrf=False)  # the confirm page's one button
    assert page.status_code == 200
    assert "You are unsubscribed" in page.get_data(as_text=True)
    assert "Email" in page.get_data(as_text=True)
    with database.connection_context():
        opt_out = OptOut.get(OptOut.contact == contact.id)
    assert (opt_out.channel, opt_out.source) == ("email", "unsubscribe_link")
    assert recorder.events == [("opted_out", delivery.id,
                                {"channel": "email", "source": "unsubscribe_link", "contact_id": contact.id})]

    client.post(link, csrf=False)  # confirming again changes nothing and fires nothing
    assert len(recorder.events) == 1

    zh = client.get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "退订成功" in zh


def test_one_click_unsubscribe_post_from_a_mail_client_needs_no_csrf_token(app, client, email_channel, smtp_server):
    contact = make_contact_row(email="fang@example.com")
    send_to(email_channel, contact)
    [received] = smtp_server.wait_for(1)
    link = re.fullmatch(r"<http://127\.0\.0\.1:8000(/u/[^>]+)>", received["List-Unsubscribe"]).group(1)
    response = client.post(link, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert response.status_code == 200
    with database.connection_context():
        assert OptOut.get(OptOut.contact == contact.id).source == "one_click"


def test_contact_can_take_the_unsubscribe_back(app, client, email_channel, smtp_server):
    contact = make_contact_row(email="fang@example.com")
    send_to(email_channel, contact)
    link = re.search(r"(/u/[^>]+)>", smtp_server.wait_for(1)[0]["List-Unsubscribe"]).group(1)
    client.post(link, csrf=False)
    page = client.post(f"{link}/resubscribe", headers={"Accept-Language": "en"})
    assert "You are subscribed again" in page.get_data(as_text=True)
    with database.connection_context():
        assert not OptOut.select().where(OptOut.contact == contact.id).exists()


def test_forged_unsubscribe_link_is_404(client):
    assert client.get("/u/WzEsImVtYWlsIixudWxsXQ.forged").status_code == 404
    assert client.post("/u/not-a-token", csrf=False).status_code == 404


def test_test_message_link_has_nothing_to_unsubscribe(app, client):
    from campaigner.unsubscribe import unsubscribe_url

    url = unsubscribe_url(None, "email", settings=app.config["CAMPAIGNER"])
    page = client.get(url.replace("http://127.0.0.1:8000", ""), headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Nothing to unsubscribe" in page.get_data(as_text=True)


def test_smtp_login_is_used_and_a_refused_login_is_transient(app, plugins, configure_channel):
    with SmtpServer(login=("beans", "s3cret-pass")) as server:
        configure_channel("email", host=server.host, port=server.port, security="none", username="beans",
                          password="s3cret-pass", from_address="hello@beans.example")
        with database.connection_context():
            channel = plugins.configured_channel("email")
        contact = make_contact(email="fang@example.com")
        channel.send(channel.render(SPRING, contact, {}), "k-1")
        assert len(server.wait_for(1)) == 1

        wrong = channel.with_config({**channel.config, "password": "wrong"})
        with pytest.raises(TransientError, match="login refused"):
            wrong.send(wrong.render(SPRING, contact, {}), "k-2")


def test_refused_recipient_is_permanent_and_a_4xx_is_transient(email_channel):
    with pytest.raises(PermanentError, match="550"):
        email_channel.send(email_channel.render(SPRING, make_contact(email="nobody@example.com"), {}), "k-1")
    with pytest.raises(TransientError, match="451"):
        email_channel.send(email_channel.render(SPRING, make_contact(email="busy@example.com"), {}), "k-2")


def test_unreachable_smtp_server_is_transient(email_channel):
    from campaigner.testing import _free_port

    down = email_channel.with_config({**email_channel.config, "port": _free_port(), "timeout": 2})
    with pytest.raises(TransientError, match="unreachable"):
        down.send(down.render(SPRING, make_contact(email="fang@example.com"), {}), "k-1")


def test_contact_without_email_cannot_be_rendered(email_channel):
    assert email_channel.address(make_contact()) is None
    with pytest.raises(PermanentError):
        email_channel.render(SPRING, make_contact(), {})


def test_email_channel_conforms(plugins, smtp_server):
    assert_channel_conforms(plugins.channel("email"),
                            {"host": smtp_server.host, "port": smtp_server.port, "security": "none",
                             "username": "u", "password": "pa55word-secret", "from_address": "hi@beans.example"},
                            make_contact(email="fang@example.com"), send=False)
    configured = assert_channel_conforms(
        plugins.channel("email"),
        {"host": smtp_server.host, "port": smtp_server.port, "security": "none", "from_address": "hi@beans.example"},
        make_contact(email="fang@example.com"), send=True)
    assert len(smtp_server.wait_for(3)) == 3
    assert configured.config["host"] == smtp_server.host


def test_email_config_is_validated(plugins):
    from campaigner import ConfigError

    channel = plugins.channel("email")
    with pytest.raises(ConfigError) as caught:
        channel.validate_config({"host": "smtp.example.com", "port": "seventy", "security": "tls",
                                 "from_address": "not-an-address", "password": "x"})
    assert set(caught.value.errors) == {"port", "security", "from_address"}
    with pytest.raises(ConfigError) as caught:
        channel.validate_config({"host": "smtp.example.com", "from_address": "a@b.example", "password": "x"})
    assert set(caught.value.errors) == {"username"}


# ---------------------------------------------------------------- TLS: STARTTLS and implicit SSL


@pytest.fixture(scope="module")
def private_ca():
    """A throwaway CA (trustme) and a certificate from it for 127.0.0.1, as a server SSLContext."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    return {"ca": ca, "pem": ca.cert_pem.bytes().decode(), "server_context": server_context}


def _tls_channel(plugins, configure_channel, server, security, **config):
    configure_channel("email", host=server.host, port=server.port, security=security,
                      from_address="hello@beans.example", **config)
    with database.connection_context():
        return plugins.configured_channel("email")


def test_starttls_upgrades_before_login_and_mail_with_a_trusted_private_ca(app, plugins, configure_channel, private_ca):
    # The server refuses MAIL and AUTH until STARTTLS: an accepted message went encrypted.
    with SmtpServer(login=("beans", "s3cret-pass"), starttls=private_ca["server_context"]) as server:
        channel = _tls_channel(plugins, configure_channel, server, "starttls", ca_certificates=private_ca["pem"],
                               username="beans", password="s3cret-pass")
        result = channel.send(channel.render(SPRING, make_contact(name="王芳", email="fang@example.com"), {}), "k-1")
        [received] = server.wait_for(1)
    assert received["Subject"] == "王芳，春季新品到店"
    assert received["Message-ID"] == result.provider_id
    assert server.envelopes[0].rcpt_tos == ["fang@example.com"]


def test_implicit_ssl_sends_with_a_trusted_private_ca(app, plugins, configure_channel, private_ca):
    with SmtpServer(login=("beans", "s3cret-pass"), implicit_tls=private_ca["server_context"]) as server:
        channel = _tls_channel(plugins, configure_channel, server, "ssl", ca_certificates=private_ca["pem"],
                               username="beans", password="s3cret-pass")
        channel.send(channel.render(SPRING, make_contact(email="fang@example.com"), {}), "k-1")
        assert [m["To"] for m in server.wait_for(1)] == ["fang@example.com"]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_certificate_from_an_untrusted_ca_stops_the_send_with_a_clear_reason(app, plugins, configure_channel,
                                                                             private_ca, security):
    tls = {"starttls": private_ca["server_context"]} if security == "starttls" else \
        {"implicit_tls": private_ca["server_context"]}
    with SmtpServer(**tls) as server:
        channel = _tls_channel(plugins, configure_channel, server, security)  # verification on, CA not trusted
        with pytest.raises(TransientError) as caught:
            channel.send(channel.render(SPRING, make_contact(email="fang@example.com"), {}), "k-1")
        assert server.messages == []
    reason = str(caught.value)
    assert f"TLS certificate of 127.0.0.1:{server.port} not accepted" in reason
    assert "unable to get local issuer certificate" in reason and "Trusted CA certificates" in reason


def test_certificate_for_another_host_name_is_refused_even_from_a_trusted_ca(app, plugins, configure_channel,
                                                                            private_ca):
    import ssl

    elsewhere = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca["ca"].issue_cert("mail.beans.example").configure_cert(elsewhere)
    with SmtpServer(implicit_tls=elsewhere) as server:
        channel = _tls_channel(plugins, configure_channel, server, "ssl", ca_certificates=private_ca["pem"])
        with pytest.raises(TransientError, match="not accepted: IP address mismatch.*set the host to a name"):
            channel.send(channel.render(SPRING, make_contact(email="fang@example.com"), {}), "k-1")
        assert server.messages == []


@pytest.mark.parametrize("security, reason", [
    ("starttls", "STARTTLS extension not supported"),  # never skipped when the server doesn't offer it
    ("ssl", "TLS handshake with .* failed .*check the port"),  # TLS against a plain port
])
def test_a_plain_server_never_gets_the_message_when_tls_is_asked_for(app, plugins, configure_channel, security,
                                                                      reason):
    with SmtpServer() as plain:
        channel = _tls_channel(plugins, configure_channel, plain, security)
        with pytest.raises(TransientError, match=reason):
            channel.send(channel.render(SPRING, make_contact(email="fang@example.com"), {}), "k-1")
        assert plain.messages == []


def test_trusted_ca_setting_must_hold_pem_certificates(plugins, private_ca):
    from campaigner import ConfigError

    channel = plugins.channel("email")
    base = {"host": "smtp.example.com", "from_address": "a@b.example"}
    assert channel.validate_config({**base, "ca_certificates": private_ca["pem"]})["ca_certificates"] \
        == private_ca["pem"]
    for wrong in ("not a certificate", private_ca["ca"].private_key_pem.bytes().decode()):
        with pytest.raises(ConfigError) as caught:
            channel.validate_config({**base, "ca_certificates": wrong})
        assert set(caught.value.errors) == {"ca_certificates"}
    assert channel.validate_config(base)["ca_certificates"] is None  # unset: the system's CAs only


def test_root_relative_links_and_images_become_absolute_on_the_base_url(email_channel):
    content = make_content(title="Menu", body=(
        "![beans](/content/media/tok/abc.png) [menu](/s/menu) [cdn](//cdn.example/x.png) "
        "[shop](https://shop.example/) {{ name }}\n\n<img src=\"/content/media/tok/def.png\">"))
    contact = make_contact(name="[me](/not-a-link)", email="fang@example.com")
    message = email_channel.render(content, contact, {"base_url": "https://hi.beans.example"})
    assert '<img alt="beans" src="https://hi.beans.example/content/media/tok/abc.png">' in message.html
    assert 'href="https://hi.beans.example/s/menu"' in message.html
    assert '<img src="https://hi.beans.example/content/media/tok/def.png">' in message.html
    assert 'href="//cdn.example/x.png"' in message.html and 'href="https://shop.example/"' in message.html
    assert "menu (https://hi.beans.example/s/menu)" in message.body
    assert "hi.beans.example/not-a-link" not in message.html + message.body  # a contact's data is not rewritten


def test_a_campaign_email_tracks_its_links_but_not_its_unsubscribe_link(email_channel, smtp_server, client):
    """Links in the content become short links; Campaigner's own unsubscribe link is left as it is, never a click."""
    from campaigner.links.models import Click, ShortLink
    from tests.fixtures_engine import make_contacts, new_campaign, run_campaign

    make_contacts(1)
    content = make_content(title="Menu", body="Our spring beans: [see the menu](https://example.com/menu)")
    with database.connection_context():
        from campaigner.content.models import ContentItem

        item = ContentItem.create(title=content.title, slug="menu", body=content.body, status="approved")
    campaign = new_campaign(channels=("email",), content=item)
    run_campaign(campaign.id)

    [received] = smtp_server.wait_for(1)
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    unsubscribe = re.fullmatch(r"<(http://127\.0\.0\.1:8000/u/[^>]+)>", received["List-Unsubscribe"]).group(1)
    assert unsubscribe in html and unsubscribe in text
    assert "https://example.com/menu" not in html and "https://example.com/menu" not in text
    with database.connection_context():
        links = list(ShortLink.select())
    assert [link.original_url for link in links] == ["https://example.com/menu"]
    assert re.search(rf'href="http://127\.0\.0\.1:8000/s/{links[0].code}"', html)
    response = client.get(unsubscribe.replace("http://127.0.0.1:8000", ""))
    assert response.status_code == 200
    with database.connection_context():
        assert Click.select().count() == 0
