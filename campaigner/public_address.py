"""Where the links in messages point: BASE_URL, or where the server really listens.

Every short link, unsubscribe link, ``List-Unsubscribe`` header and calendar
event URL is built from ``BASE_URL`` (short links from ``LINK_BASE_URL``). A
user who runs ``campaigner up --port 8101`` without setting it would otherwise
send links to the default port, dead, with no warning. So when ``BASE_URL`` is
not set, the web server's listening address becomes it; when it is set and
differs (normal behind a proxy, a mistake otherwise), the start says so,
naming both.

A worker in another process (``campaigner worker``) does not know where the web
server listens: the server stores its address in the database, and the worker
takes it at start and on each heartbeat. This module imports no Flask.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

from campaigner.settings_store import get_value, set_value

STORED_KEY = "web_listening_url"
# Addresses that mean "every interface": no reader can open a link to them.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def listening_url(host: str, port: int) -> str:
    """The http address a server bound to host:port is reached at."""
    if host in WILDCARD_HOSTS:
        host = socket.getfqdn()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def follow_listening_address(settings: dict, host: str, port: int) -> str | None:
    """Point unset BASE_URL/LINK_BASE_URL at host:port and record it; return a warning when BASE_URL differs.

    Needs an open database connection (the address is stored for workers in
    other processes).
    """
    here = listening_url(host, port)
    if not settings.get("BASE_URL_SET"):
        _adopt(settings, here)
        set_value(STORED_KEY, here)
        return None
    if _same_address(str(settings["BASE_URL"]), here):
        return None
    return (f"BASE_URL is {str(settings['BASE_URL']).rstrip('/')} but this server listens on {here}: "
            f"links in messages point at BASE_URL. That is right behind a proxy that forwards to this "
            f"server; otherwise unset CAMPAIGNER_BASE_URL or correct it.")


def adopt_stored_address(settings: dict) -> None:
    """In a worker: take the address the web server stored, when BASE_URL is not set (needs a connection)."""
    if settings.get("BASE_URL_SET"):
        return
    stored = get_value(STORED_KEY)
    if stored:
        _adopt(settings, str(stored))


def _adopt(settings: dict, url: str) -> None:
    settings["BASE_URL"] = url
    if not settings.get("LINK_BASE_URL_SET"):
        settings["LINK_BASE_URL"] = url


def _same_address(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (_host(first.hostname), first.port or _default_port(first.scheme)) == \
        (_host(second.hostname), second.port or _default_port(second.scheme))


def _host(name: str | None) -> str:
    # localhost and the loopback addresses reach the same server.
    return "loopback" if name in LOOPBACK_HOSTS else (name or "")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
