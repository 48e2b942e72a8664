"""Unsubscribe links: a signed token per contact and channel, and the public page it opens.

The token is signed with the instance's secret (itsdangerous) and never
expires: an unsubscribe link in a years-old email must still work.

Opening the link (GET or HEAD) never opts anyone out: mail scanners and chat
link previews open links. It shows a page with one button, which POSTs to the
same address; mail clients' one-click unsubscribe (RFC 8058: the message's
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` header, answered by a
POST with that body) lands on the same POST. The page offers to undo a
mistake. A new opt-out fires the ``opted_out`` delivery event.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from campaigner.web import public, render_page

SALT = "campaigner.unsubscribe"


@dataclass(frozen=True)
class UnsubscribeRequest:
    """What a valid token names: the contact (None for a test message), the channel, the delivery."""

    contact_id: int | None
    channel: str
    delivery_id: int | None


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def make_token(secret_key: str, contact_id: int | None, channel: str = "email", delivery_id: int | None = None) -> str:
    """A signed token naming the contact, channel and (optionally) the delivery it came with."""
    return _serializer(secret_key).dumps([contact_id, channel, delivery_id])


def read_token(secret_key: str, token: str) -> UnsubscribeRequest | None:
    """The request a token carries, or None when it is forged or malformed."""
    try:
        contact_id, channel, delivery_id = _serializer(secret_key).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(channel, str) or not all(v is None or isinstance(v, int) for v in (contact_id, delivery_id)):
        return None
    return UnsubscribeRequest(contact_id, channel, delivery_id)


def unsubscribe_url(contact, channel: str = "email", delivery_id: int | None = None, *,
                    settings: dict | None = None) -> str:
    """The public unsubscribe address for `contact` on `channel` (contact None: a test message)."""
    if settings is None:
        from campaigner.runtime import current_runtime

        settings = current_runtime().settings
    contact_id = getattr(contact, "id", None) if contact is not None else None
    token = make_token(settings["SECRET_KEY"], contact_id, channel, delivery_id)
    return f"{str(settings['BASE_URL']).rstrip('/')}/u/{token}"


def unsubscribe(req: UnsubscribeRequest, source: str = "unsubscribe_link") -> tuple[object | None, bool]:
    """Opt the token's contact out of its channel; return (contact, whether it is new).

    A new opt-out fires the ``opted_out`` delivery event with the delivery the
    link came in, when there is one.
    """
    from campaigner.audience.models import Contact
    from campaigner.audience.optouts import opt_out
    from campaigner.deliveries.models import Delivery
    from campaigner.runtime import current_runtime

    contact = Contact.get_or_none(Contact.id == req.contact_id) if req.contact_id else None
    if contact is None:
        return None, False
    created = opt_out(contact, req.channel, source)
    if created:
        delivery = None
        if req.delivery_id:
            delivery = Delivery.get_or_none(Delivery.id == req.delivery_id, Delivery.contact == contact.id)
        current_runtime().plugins.emit_delivery_event(
            "opted_out", delivery, {"channel": req.channel, "source": source, "contact_id": contact.id})
    return contact, created


def resubscribe(req: UnsubscribeRequest):
    """Undo the token's opt-out (the contact changed their mind on the page)."""
    from campaigner.audience.models import Contact
    from campaigner.audience.optouts import opt_in

    contact = Contact.get_or_none(Contact.id == req.contact_id) if req.contact_id else None
    if contact is not None:
        opt_in(contact, req.channel)
    return contact


# ---------------------------------------------------------------- the public page

bp = Blueprint("unsubscribe", __name__)


@bp.record_once
def _exempt_one_click(state):
    # Mail clients POST one-click unsubscribes without a CSRF token (RFC 8058);
    # the signed token in the address is what authorises the request.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(one_click)


def _request_or_404(token: str) -> UnsubscribeRequest:
    req = read_token(current_app.config["SECRET_KEY"], token)
    if req is None:
        abort(404)
    return req


@bp.route("/u/<token>", methods=["GET"])
@public
def page(token: str):
    """Opening the link asks to confirm with one button; a link preview or scanner opts nobody out."""
    from campaigner.audience.models import Contact
    from campaigner.audience.optouts import is_opted_out

    req = _request_or_404(token)
    contact = Contact.get_or_none(Contact.id == req.contact_id) if req.contact_id else None
    state = "unsubscribed" if contact is not None and is_opted_out(contact, req.channel) else "confirm"
    return render_page("unsubscribe/page.html", token=token, req=req, contact=contact, state=state,
                       channel=channel_label(req.channel))


@bp.route("/u/<token>", methods=["POST"])
@public
def one_click(token: str):
    """The page's button, or RFC 8058 one-click from the mail client (no CSRF token: the address is signed)."""
    req = _request_or_404(token)
    one_click_body = request.form.get("List-Unsubscribe") == "One-Click"
    contact, _created = unsubscribe(req, source="one_click" if one_click_body else "unsubscribe_link")
    return render_page("unsubscribe/page.html", token=token, req=req, contact=contact, state="unsubscribed",
                       channel=channel_label(req.channel))


@bp.route("/u/<token>/resubscribe", methods=["POST"])
@public
def undo(token: str):
    """The contact takes the opt-out back."""
    req = _request_or_404(token)
    contact = resubscribe(req)
    return render_page("unsubscribe/page.html", token=token, req=req, contact=contact, state="resubscribed",
                       channel=channel_label(req.channel))


def channel_label(channel: str) -> str:
    """How the page names a channel to a contact."""
    from campaigner.runtime import current_runtime

    registered = current_runtime().plugins.channel(channel)
    return str(registered.label) if registered is not None and registered.label else channel
