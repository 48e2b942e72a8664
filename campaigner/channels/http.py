"""Posting JSON to a provider's HTTP API with the contract's error mapping.

The mapping every HTTP channel needs, in one place: a timeout, a refused
connection, a 5xx or a 429 is a `TransientError` (with ``Retry-After`` when
the provider sends one); any other 4xx is a `PermanentError` carrying the
provider's own words. Redirects are not followed: a gateway that redirects a
POST is misconfigured, and following it could leak the token elsewhere.
"""
from __future__ import annotations

import threading

import requests

from campaigner.channels import PermanentError, TransientError

_sessions = threading.local()


def _session() -> requests.Session:
    # One session per thread: connections are reused, and requests' Session is not thread-safe.
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
    return session


def post_json(url: str, payload: dict, *, headers: dict | None = None, timeout: float = 10.0) -> requests.Response:
    """POST `payload` as JSON; return the 2xx response or raise TransientError/PermanentError."""
    try:
        response = _session().post(url, json=payload, headers=headers or {}, timeout=timeout,
                                   allow_redirects=False)
    except requests.Timeout:
        raise TransientError(f"no answer within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise TransientError(f"connection failed: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        raise PermanentError(f"request not sent: {exc}") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    reason = f"HTTP {status}: {provider_message(response)}"
    if status >= 500 or status in (408, 429):
        raise TransientError(reason, retry_after=_retry_after(response))
    raise PermanentError(reason)


def provider_message(response: requests.Response, limit: int = 300) -> str:
    """The provider's explanation from a JSON error body (error/message/errmsg) or its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "errmsg", "msg", "detail"):
            if body.get(key):
                return str(body[key])[:limit]
    return (response.text or response.reason or "").strip()[:limit]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
