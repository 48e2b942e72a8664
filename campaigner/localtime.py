"""Times as the reader reads them: in the user's time zone (their setting, else the instance's TIMEZONE),
formatted for their language by Babel.

The database keeps naive UTC. Every template shows a time through the one filter `localtime`
(`{{ d.sent_at|localtime }}`), and the page names the zone once (`display_zone()` in the
footer), so no column needs "(UTC)" and no two pages disagree on how a time reads.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_skeleton
from flask import current_app, has_request_context
from flask_babel import get_locale, get_timezone
from flask_login import current_user

# The date and the time each as the locale writes them (Babel's skeletons: "Jun 1, 2031" / "2031年6月1日",
# always 24-hour), joined as the locale joins a date and a time. "medium" adds the seconds (logs).
TIME_SKELETONS = {"short": "Hm", "medium": "Hms"}
DATE_SKELETON = "yMMMd"


def select_timezone() -> str:
    """Flask-Babel's time zone: the signed-in user's, else the instance's."""
    if has_request_context() and current_user and current_user.is_authenticated:
        chosen = getattr(current_user, "timezone", None)
        if chosen and is_timezone(chosen):
            return chosen
    return current_app.config["CAMPAIGNER"].get("TIMEZONE") or "UTC"


def is_timezone(name: str) -> bool:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    """Every IANA zone name, sorted (the choices of the user setting)."""
    return sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/")))


def localtime(value, format: str = "short") -> str:
    """A stored UTC time (a naive datetime or ISO text) in the reader's zone and language; "—" when there is none."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    locale, zone = get_locale(), get_timezone()
    date = format_skeleton(DATE_SKELETON, value, tzinfo=zone, locale=locale)
    time = format_skeleton(TIME_SKELETONS.get(format, "Hm"), value, tzinfo=zone, locale=locale)
    return locale.datetime_formats["medium"].replace("{1}", date).replace("{0}", time)


def display_zone() -> str:
    """The zone the page's times are in, to name once a page."""
    return str(get_timezone())


def register(app) -> None:
    """The filter and the zone's name for every template."""
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.globals["display_zone"] = display_zone
