"""Unsubscribe links: opening one (a person, a mail scanner, a chat link preview) never opts anyone out;
the confirm page's one button and RFC 8058 one-click POSTs do."""
from __future__ import annotations

import re

from campaigner.audience.models import OptOut
from campaigner.db import database
from tests.fixtures_plugins import (  # noqa: F401  (fixtures)
    configure_channel,
    make_contact_row,
    make_delivery_row,
    plugins,
    smtp_server,
)
from tests.test_channel_email import email_channel, send_to  # noqa: F401  (fixture)


def _opted_out(contact) -> bool:
    with database.connection_context():
        return OptOut.select().where(OptOut.contact == contact.id).exists()


def _link(received) -> str:
    return re.fullmatch(r"<https?://[^/]+(/u/[^>]+)>", received["List-Unsubscribe"]).group(1)


def test_message_offers_rfc_8058_one_click(email_channel, smtp_server):
    send_to(email_channel, make_contact_row(email="fang@example.com"))
    [received] = smtp_server.wait_for(1)
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Unsubscribe"].startswith("<http")


def test_opening_the_link_shows_one_post_button_and_opts_nobody_out(app, client, email_channel, smtp_server):
    contact = make_contact_row(email="fang@example.com")
    send_to(email_channel, contact)
    link = _link(smtp_server.wait_for(1)[0])

    page = client.get(link, headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    forms = re.findall(r'<form method="(\w+)" action="([^"]+)"', html)
    assert forms == [("post", link)], forms  # one form: the button that unsubscribes, posting to the link
    assert len(re.findall(r"<button", html)) == 1
    assert not _opted_out(contact)

    for _ in range(3):  # a scanner that opens it again and again, with HEAD too
        assert client.get(link).status_code == 200
        assert client.head(link).status_code == 200
    assert not _opted_out(contact)

    zh = client.get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "确定不再通过" in zh


def test_the_confirm_button_opts_out_and_the_page_then_says_so(app, client, email_channel, smtp_server):
    contact = make_contact_row(email="fang@example.com")
    send_to(email_channel, contact)
    link = _link(smtp_server.wait_for(1)[0])

    done = client.post(link, csrf=False, headers={"Accept-Language": "en"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    with database.connection_context():
        assert OptOut.get(OptOut.contact == contact.id).source == "unsubscribe_link"
    again = client.get(link, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "You are unsubscribed" in again and "Subscribe again" in again


def test_one_click_post_opts_out_with_its_source(app, client, email_channel, smtp_server):
    contact = make_contact_row(email="fang@example.com")
    send_to(email_channel, contact)
    link = _link(smtp_server.wait_for(1)[0])
    response = client.post(link, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert response.status_code == 200
    with database.connection_context():
        assert OptOut.get(OptOut.contact == contact.id).source == "one_click"


def test_forged_link_opts_nobody_out_on_any_method(client):
    for method in (client.get, client.head):
        assert method("/u/WzEsImVtYWlsIixudWxsXQ.forged").status_code == 404
    assert client.post("/u/WzEsImVtYWlsIixudWxsXQ.forged", csrf=False).status_code == 404
