"""A conformance kit for channel plugin authors: pytest helpers and loopback servers.

    from campaigner.testing import assert_channel_conforms, make_contact, FakeGateway

    def test_my_channel_conforms():
        with FakeGateway() as gateway:
            assert_channel_conforms(MyChannel(), {"url": gateway.url}, make_contact(phone="+8613800138000"),
                                    send=True)

`assert_channel_conforms` checks what the engine relies on: the declarations
(name, label, contact field, limits, capabilities, config schema), that config
is validated and secrets never show in a repr or a description, that
`address`, `check` and `render` answer as the contract says, and — with
``send=True`` — that `send` and `send_batch` return `SendResult`s. Every
built-in channel passes it in Campaigner's own tests.

`FakeGateway` is an HTTP server on 127.0.0.1 in a thread that records each
request and answers as told (status, JSON body, delay); `SmtpServer` is an
aiosmtpd server that keeps each message it receives (aiosmtpd is a test extra).
`FakeWecom` and `CallbackSender` (from `campaigner.testing_wecom`) are a WeCom customer-contact
API on loopback and a poster of signed, encrypted WeCom callbacks.
"""
from __future__ import annotations

import json
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from campaigner.channels import (
    CONTACT_FIELDS,
    FIELD_TYPES,
    Capabilities,
    Channel,
    ConfigError,
    ConfigField,
    ContentLimits,
    Message,
    PermanentError,
    SendResult,
)
from campaigner.channels.config import MASK
from campaigner.testing_wecom import CallbackSender, FakeWecom

__all__ = [
    "CallbackSender",
    "FakeGateway",
    "FakeWecom",
    "GatewayRequest",
    "SmtpServer",
    "assert_channel_conforms",
    "make_contact",
    "make_content",
]


# ---------------------------------------------------------------- test data


def make_contact(**fields):
    """An unsaved contact (no database needed): ``make_contact(name="王芳", phone="+8613800138000")``."""
    from campaigner.audience.models import Contact

    fields.setdefault("name", "王芳")
    fields.setdefault("attributes", {})
    extra = {k: fields.pop(k) for k in list(fields) if k not in Contact._meta.fields}
    contact = Contact(**fields)
    for key, value in extra.items():
        setattr(contact, key, value)
    return contact


def make_content(body: str = "Hello {{ name }}, our **spring menu** is here: https://example.com/menu",
                 title: str = "Spring menu", variants: dict | None = None):
    """An unsaved, approved content item (no database needed)."""
    from campaigner.content.models import ContentItem

    return ContentItem(title=title, slug="conformance", body=body, variants=dict(variants or {}),
                       status="approved", kind="article", tags=[])


DEFAULT_CONTEXT = {"base_url": "http://127.0.0.1:8000", "unsubscribe_url": "http://127.0.0.1:8000/u/test-token",
                   "delivery_id": None, "campaign_id": None}


# ---------------------------------------------------------------- the conformance check


def assert_channel_conforms(channel: Channel, config: dict | None = None, contact=None, *, content=None,
                            context: dict | None = None, send: bool = False, instance_path: str | None = None,
                            expect_in_message: str | None = None) -> Channel:
    """Fail with an AssertionError naming the first way `channel` breaks the contract; return it configured.

    `config` must be a valid config; `contact` one the channel can reach
    (default: a contact with every address field filled in). With
    ``send=True`` the configured channel really sends twice (point it at a
    `FakeGateway` or an outbox). `expect_in_message` is text the rendered
    message must contain (default: the contact's name, as the default content
    greets ``{{ name }}``).
    """
    _check_declarations(channel)
    secrets = _check_config(channel, dict(config or {}))
    template_config = dict(channel.config)
    configured = channel.with_config(dict(config or {}), instance_path=instance_path)
    assert channel.config == template_config and configured is not channel, \
        "with_config must return a copy and leave the registered channel unchanged"
    _check_no_secret_shows(configured, secrets)

    contact = contact if contact is not None else make_contact(
        email="wangfang@example.com", phone="+8613800138000", chat_id="chat-wangfang", openid="o-wangfang")
    address = configured.address(contact)
    assert isinstance(address, str) and address, f"address() gave {address!r} for a contact with a {channel.contact_field}"
    nobody = make_contact(name="Nobody")
    assert configured.address(nobody) is None, "address() must be None for a contact without the field"

    for text in ("", "短", "A longer text. " * 300):
        warnings = configured.check(text)
        assert isinstance(warnings, list) and all(isinstance(str(w), str) for w in warnings), \
            "check() must return a list of strings"

    content = content if content is not None else make_content()
    before = (content.title, content.body, dict(content.variants or {}))
    message = configured.render(content, contact, {**DEFAULT_CONTEXT, **(context or {})})
    assert (content.title, content.body, dict(content.variants or {})) == before, "render() must not change the content"
    assert isinstance(message, Message), f"render() returned {type(message).__name__}, not a Message"
    assert message.to == address, f"the message goes to {message.to!r}, not to the contact's address {address!r}"
    assert isinstance(message.body, str) and message.body.strip(), "the message has no body"
    expected = expect_in_message if expect_in_message is not None else contact.name
    everything = " ".join(str(part) for part in (message.subject, message.body, message.html,
                                                  json.dumps(message.data, ensure_ascii=False, default=str)) if part)
    assert expected in everything, f"{expected!r} is not in the rendered message (personalisation?): {everything[:300]!r}"
    assert "{{" not in message.body, f"a personalisation field was left in the body: {message.body[:200]!r}"
    try:
        configured.render(content, nobody, dict(DEFAULT_CONTEXT))
    except PermanentError:
        pass  # what the contract asks for
    else:
        raise AssertionError("render() for a contact the channel cannot reach must raise PermanentError")

    if send:
        result = configured.send(message, "conformance-1")
        assert isinstance(result, SendResult), f"send() returned {type(result).__name__}, not a SendResult"
        results = configured.send_batch([(message, "conformance-2"), (message, "conformance-3")])
        assert isinstance(results, list) and len(results) == 2, "send_batch() must give one outcome per item"
        for outcome in results:
            assert isinstance(outcome, (SendResult, Exception)), f"send_batch() gave {type(outcome).__name__}"
    return configured


def _check_declarations(channel: Channel) -> None:
    assert isinstance(channel, Channel), f"{type(channel).__name__} is not a campaigner.Channel"
    assert channel.name and channel.name.isascii() and channel.name.replace("_", "").isalnum(), \
        f"name {channel.name!r} must be ASCII letters, digits and underscores"
    assert str(channel.label).strip(), "the channel needs a label"
    assert channel.contact_field in CONTACT_FIELDS, \
        f"contact_field {channel.contact_field!r} is not one of {', '.join(CONTACT_FIELDS)}"
    assert isinstance(channel.limits, ContentLimits), "limits must be a ContentLimits"
    assert channel.limits.format in ("text", "markdown", "html"), f"unknown content format {channel.limits.format!r}"
    assert isinstance(channel.capabilities, Capabilities), "capabilities must be a Capabilities"
    assert isinstance(channel.send_timeout, (int, float)) and channel.send_timeout > 0, "send_timeout must be > 0"
    names = [f.name for f in channel.config_schema]
    assert len(names) == len(set(names)), f"config fields named twice: {names}"
    for f in channel.config_schema:
        assert isinstance(f, ConfigField), f"config_schema holds a {type(f).__name__}, not a ConfigField"
        assert f.type in FIELD_TYPES, f"field {f.name}: unknown type {f.type!r}"
        assert str(f.label).strip(), f"field {f.name} needs a label"
        if f.type == "choice":
            assert f.choices, f"choice field {f.name} has no choices"
            assert f.default in (None, "") or f.default in f.choices, f"field {f.name}: default not among the choices"
        assert not (f.secret and f.default), f"secret field {f.name} must not have a default (it would be shown)"
        assert f.secret or not SECRET_NAME.search(f.name), \
            f"field {f.name} is named like a secret but not marked secret=True: it would show on pages and in logs"
        if TIMEOUT_NAME.search(f.name):
            _check_timeout_field(channel, f)
    json.dumps(channel.describe(), default=str)


# Field names that hold credentials: each word of the name is checked (api_key, app_secret, robot_token).
SECRET_NAME = re.compile(r"(?:^|_)(?:secret|token|password|passwd|pwd|key|apikey|credentials?)(?:_|$)",
                         re.IGNORECASE)
TIMEOUT_NAME = re.compile(r"(?:^|_)timeout(?:_|$)", re.IGNORECASE)


def _check_timeout_field(channel: Channel, f: ConfigField) -> None:
    """A network timeout the config may set must stay below the engine's `send_timeout`.

    Otherwise the engine cuts a slow send off first, and the delivery ends unknown
    instead of failing with the channel's own clear reason.
    """
    limit = channel.send_timeout
    assert f.type == "integer" and f.max is not None, \
        f"config field {f.name} is a timeout without a maximum: give it type='integer' and max below send_timeout ({limit} s)"
    assert f.max < limit, (f"config field {f.name} allows a timeout of {f.max} s, not below send_timeout "
                           f"({limit} s): the engine would cut the send off first")
    assert f.default is None or f.default < limit, \
        f"config field {f.name} defaults to {f.default} s, not below send_timeout ({limit} s)"


def _check_config(channel: Channel, config: dict) -> list[str]:
    required = {f.name for f in channel.config_schema if f.required and f.default in (None, "")}
    if required:
        try:
            channel.validate_config({})
        except ConfigError as exc:
            assert set(exc.errors) >= required, f"an empty config must name each required field: {exc.errors}"
        else:
            raise AssertionError(f"an empty config passed validation though {sorted(required)} are required")
    try:
        channel.validate_config(config)
    except ConfigError as exc:
        raise AssertionError(f"the config given to the conformance check is invalid: {exc}") from None
    return [str(config[f.name]) for f in channel.config_schema if f.secret and config.get(f.name)]


def _check_no_secret_shows(configured: Channel, secrets: list[str]) -> None:
    shown = [repr(configured), json.dumps(configured.masked_config(), default=str),
             json.dumps(configured.describe(), default=str)]
    for secret in secrets:
        for text in shown:
            assert secret not in text, "a secret shows in the channel's repr, masked config or description"
    masked = configured.masked_config()
    for f in configured.config_schema:
        if f.secret and configured.config.get(f.name):
            assert masked.get(f.name) == MASK, f"secret field {f.name} is not masked"


# ---------------------------------------------------------------- a fake HTTP gateway


@dataclass
class GatewayRequest:
    """One request the fake gateway received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"id": "gw-1"})
    delay: float = 0.0  # seconds before answering (to test timeouts)
    headers: dict[str, str] = field(default_factory=dict)


class FakeGateway:
    """An HTTP server on 127.0.0.1 that records requests and answers as told.

    ``gateway.reply(status=503)`` sets the answer for what follows;
    ``gateway.responder = fn`` (fn(request) -> Reply) decides per request.
    """

    def __init__(self, reply: Reply | None = None):
        self.requests: list[GatewayRequest] = []
        self.responder: Callable[[GatewayRequest], Reply] | None = None
        self._reply = reply or Reply()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def reply(self, status: int = 200, body: Any = None, delay: float = 0.0, headers: dict | None = None) -> None:
        """Answer every following request with this."""
        self._reply = Reply(status, {"id": "gw-1"} if body is None else body, delay, dict(headers or {}))

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> "FakeGateway":
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                gateway._handle(self)

            do_GET = do_PUT = do_POST  # noqa: N815

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gateway",
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()  # let delayed answers go, so no handler outlives the test by long
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        parts = urlsplit(handler.path)
        request = GatewayRequest(handler.command, parts.path, parse_qs(parts.query),
                                 {k: v for k, v in handler.headers.items()}, handler.rfile.read(length))
        with self._lock:
            self.requests.append(request)
        reply = self.responder(request) if self.responder else self._reply
        if reply.delay:
            self._released.wait(reply.delay)
        body = reply.body if isinstance(reply.body, (bytes, str)) else json.dumps(reply.body)
        data = body.encode("utf-8") if isinstance(body, str) else body
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json" if not isinstance(reply.body, (bytes, str))
                                else "text/plain; charset=utf-8")
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)


# ---------------------------------------------------------------- a fake SMTP server


class SmtpServer:
    """An aiosmtpd SMTP server on 127.0.0.1 that keeps every message it accepts.

    `refuse` maps a recipient address to an SMTP reply (e.g. ``"550 5.1.1 no such user"``);
    `login` = (user, password) makes the server require that login.
    `starttls` = a server SSLContext makes it require STARTTLS before mail (port 587 style);
    `implicit_tls` = one makes it speak TLS from the first byte (port 465 style).
    """

    def __init__(self, refuse: dict[str, str] | None = None, login: tuple[str, str] | None = None, *,
                 starttls=None, implicit_tls=None):
        self.refuse = dict(refuse or {})
        self.login = login
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.messages: list = []  # email.message.EmailMessage, in arrival order
        self.envelopes: list = []
        self._controller = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> "SmtpServer":
        import email
        import email.policy

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):  # noqa: N802
                if address in server.refuse:
                    return server.refuse[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):  # noqa: N802
                server.envelopes.append(envelope)
                server.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                                policy=email.policy.default))
                return "250 Message accepted for delivery"

        def authenticate(smtp, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and server.login is not None and (
                auth_data.login.decode(), auth_data.password.decode()) == server.login
            return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 535 on failure

        kwargs = {}
        if self.login:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; an implicit-TLS connection is encrypted too.
            kwargs = {"authenticator": authenticate, "auth_required": True,
                      "auth_require_tls": self.starttls is not None}
            if self.starttls is None:
                warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=True)
        if self.implicit_tls is not None:
            kwargs.update(ssl_context=self.implicit_tls)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port(), **kwargs)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        """The messages once `count` have arrived (an accepted send has arrived already; this guards slow CI)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.messages)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
