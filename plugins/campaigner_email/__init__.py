"""The email channel: SMTP, multipart text + HTML from the Markdown content.

Every message carries ``List-Unsubscribe`` (the contact's signed unsubscribe
URL, which the render context provides) with ``List-Unsubscribe-Post`` for
one-click unsubscribing (RFC 8058), and a Message-ID derived from the
idempotency key, so a replayed send is recognisable as the same message.
"""
from __future__ import annotations

import email.policy
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from campaigner import (
    Capabilities,
    Channel,
    ConfigError,
    ConfigField,
    ContentLimits,
    Message,
    PermanentError,
    SendResult,
    TransientError,
    hookimpl,
    lazy_gettext as _,
    markdown_to_html,
    markdown_to_text,
    personalize,
    render_subject,
    text_for_channel,
    unsubscribe_url as make_unsubscribe_url,
)

HEADER_POLICY = email.policy.SMTP.clone(max_line_length=998)
NAME_MISMATCH = (62, 64)  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
# A root-relative address ("/content/media/…", as the media library hands out) as a Markdown
# link or image target, a reference definition, or a src/href attribute of inline HTML.
RELATIVE_URL = re.compile(r"""(\]\(\s*<?|^[ ]{0,3}\[[^\]\n]+\]:[ \t]*<?|\b(?:src|href)\s*=\s*["']?)(?=/(?!/))""",
                          re.M | re.I)

HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family: system-ui, 'PingFang SC', 'Microsoft YaHei', sans-serif; line-height: 1.6; color: #1f2430; max-width: 640px; margin: 0 auto; padding: 16px;">
{body}
{footer}</body></html>
"""
HTML_FOOTER = """<hr style="border: 0; border-top: 1px solid #e3e6ea; margin: 24px 0 8px;">
<p style="font-size: 12px; color: #6b7280;">{footer} <a href="{unsubscribe_url}">{unsubscribe_label}</a></p>
"""


class EmailChannel(Channel):
    name = "email"
    label = _("Email")
    contact_field = "email"
    limits = ContentLimits(format="html", subject=True)
    capabilities = Capabilities(provider_dedupes=False, outcome_queryable=False)
    send_timeout = 30.0
    config_schema = (
        ConfigField("host", _("SMTP host"), required=True, help=_("e.g. smtp.exmail.qq.com")),
        ConfigField("port", _("SMTP port"), type="integer", default=587, min=1, max=65535),
        ConfigField("security", _("Connection security"), type="choice", default="starttls",
                    choices=("none", "starttls", "ssl"),
                    help=_("starttls on port 587, ssl on port 465, none only on a trusted network")),
        ConfigField("ca_certificates", _("Trusted CA certificates"), type="text",
                    help=_("PEM certificates of a private CA the SMTP server's certificate is signed by, "
                           "trusted besides the system's; certificates are always verified")),
        ConfigField("username", _("SMTP user name")),
        ConfigField("password", _("SMTP password"), secret=True),
        ConfigField("from_address", _("From address"), type="email", required=True),
        ConfigField("from_name", _("From name"), help=_("e.g. the brand's name")),
        ConfigField("reply_to", _("Reply-To address"), type="email"),
        ConfigField("footer", _("Footer before the unsubscribe link"), default="不想再收到这类邮件？",
                    help=_("Shown at the bottom of every email")),
        ConfigField("unsubscribe_label", _("Unsubscribe link text"), default="退订 Unsubscribe"),
        ConfigField("timeout", _("Network timeout (seconds)"), type="integer", default=20, min=1, max=29),
    )

    def clean_config(self, cleaned: dict) -> dict:
        if cleaned.get("password") and not cleaned.get("username"):
            raise ConfigError({"username": _("required when a password is set")})
        if cleaned.get("ca_certificates"):
            try:
                tls_context(cleaned["ca_certificates"])
            except (ssl.SSLError, ValueError):
                raise ConfigError({"ca_certificates": _("not PEM certificates (-----BEGIN CERTIFICATE----- …)")}) \
                    from None
        return cleaned

    def render(self, content, contact, context: dict) -> Message:
        """Subject (the variant's, the item's, else its title), text and sanitized HTML from the personalised Markdown."""
        to = self.address(contact)
        if not to or "@" not in to:
            raise PermanentError(f"no usable email address: {to!r}")
        unsubscribe_url = context.get("unsubscribe_url") or ""
        if not unsubscribe_url and getattr(contact, "id", None):
            # Every email to a contact must carry a working opt-out, whatever the caller passed.
            unsubscribe_url = make_unsubscribe_url(contact, self.name, context.get("delivery_id"))
        extra = {"unsubscribe_url": unsubscribe_url}
        subject = render_subject(content, self.name, contact, extra) or "(no subject)"
        source = text_for_channel(content, self.name)
        if context.get("base_url"):
            source = absolute_urls(source, context["base_url"])  # before personalising: contact data stays as is
        source = personalize(source, contact, extra, fmt="markdown")  # contact data stays text
        footer = str(self.setting("footer") or "")
        label = str(self.setting("unsubscribe_label") or "Unsubscribe")
        text = markdown_to_text(source)
        if unsubscribe_url:
            text += f"\n\n--\n{footer} {label}: {unsubscribe_url}"
        html_footer = HTML_FOOTER.format(footer=_escape(footer), unsubscribe_url=_escape(unsubscribe_url),
                                         unsubscribe_label=_escape(label)) if unsubscribe_url else ""
        html = HTML_PAGE.format(title=_escape(subject), body=markdown_to_html(source), footer=html_footer)
        headers = {}
        if unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return Message(to=to, subject=subject, body=text, html=html, data={"headers": headers})

    def build_email(self, message: Message, idempotency_key: str) -> EmailMessage:
        """The MIME message: text and HTML alternatives, From, Reply-To, unsubscribe headers."""
        sender = self.setting("from_address")
        # Long lines allowed in headers: folded or encoded, a List-Unsubscribe URL may not be acted on.
        mime = EmailMessage(policy=HEADER_POLICY)
        mime["Subject"] = message.subject or ""
        mime["From"] = formataddr((self.setting("from_name") or "", sender))
        mime["To"] = message.to
        if self.setting("reply_to"):
            mime["Reply-To"] = self.setting("reply_to")
        mime["Date"] = formatdate(usegmt=True)
        mime["Message-ID"] = message_id(idempotency_key, sender)
        for name, value in (message.data.get("headers") or {}).items():
            mime[name] = value
        mime.set_content(message.body)
        if message.html:
            mime.add_alternative(message.html, subtype="html")
        return mime

    def send(self, message: Message, idempotency_key: str) -> SendResult:
        """Deliver over SMTP; the Message-ID is the provider id."""
        mime = self.build_email(message, idempotency_key)
        try:
            with self._connect() as smtp:
                refused = smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            reason = f"recipient refused: {_smtp_reason(exc.recipients)}"
            if all(400 <= code < 500 for code, _msg in exc.recipients.values()):
                raise TransientError(reason) from None  # greylisting, a full mailbox: later may work
            raise PermanentError(reason) from None
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password is the config's fault, not the contact's: retried
            # once fixed (the engine pauses the campaign after repeated errors).
            raise TransientError(f"SMTP login refused ({exc.smtp_code}): check the user name and password") from None
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}: {_decode(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise TransientError(reason) from None
            raise PermanentError(reason) from None
        except ssl.SSLCertVerificationError as exc:
            # Checked before OSError, its base: a certificate we do not trust is not an
            # unreachable server. Nothing was sent; retried once the config is fixed.
            problem = str(exc.verify_message or exc.reason).rstrip(".")
            hint = ("set the host to a name the certificate is for" if exc.verify_code in NAME_MISMATCH
                    else "if the server uses a private CA, add it under Trusted CA certificates")
            raise TransientError(f"TLS certificate of {self.setting('host')}:{self.setting('port')} "
                                 f"not accepted: {problem}; {hint}") from None
        except ssl.SSLError as exc:
            raise TransientError(
                f"TLS handshake with {self.setting('host')}:{self.setting('port')} failed ({exc.reason}): "
                f"check the port and the connection security (ssl on 465, starttls on 587)") from None
        except smtplib.SMTPNotSupportedError as exc:
            # The server offers no STARTTLS: never fall back to sending in the clear.
            raise TransientError(f"SMTP server lacks what the config needs: {exc}") from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, socket.timeout, OSError) as exc:
            raise TransientError(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from None
        if refused:
            raise PermanentError(f"recipient refused: {_smtp_reason(refused)}")
        return SendResult(provider_id=mime["Message-ID"], details={"to": message.to})

    def _connect(self) -> smtplib.SMTP:
        host, port = self.setting("host"), int(self.setting("port"))
        timeout = float(self.setting("timeout"))
        security = self.setting("security")
        context = tls_context(self.setting("ca_certificates"))
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if security == "starttls":
                smtp.starttls(context=context)
            if self.setting("username"):
                smtp.login(self.setting("username"), self.setting("password") or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def absolute_urls(markdown: str, base_url: str) -> str:
    """`markdown` with root-relative link and image addresses made absolute: a mail client has no page
    to resolve them against, so an uploaded image would not show."""
    return RELATIVE_URL.sub(lambda m: m.group(1) + str(base_url).rstrip("/"), markdown)


def tls_context(ca_certificates: str | None = None) -> ssl.SSLContext:
    """Verifying TLS (certificate and host name) against the system's CAs plus `ca_certificates` (PEM)."""
    context = ssl.create_default_context()
    if ca_certificates:
        context.load_verify_locations(cadata=ca_certificates)
    return context


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID made from the idempotency key: the same key gives the same id."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "campaigner.local"
    local = re.sub(r"[^A-Za-z0-9._-]", ".", idempotency_key).strip(".") or "message"
    return f"<{local}@{domain}>"


def _escape(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


def _decode(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_reason(recipients: dict) -> str:
    return "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in recipients.items())


@hookimpl
def register_channels(register):
    register(EmailChannel())
