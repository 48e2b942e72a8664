"""Short-link options ops can change in the UI, kept in the database (settings_store)."""
from __future__ import annotations

from campaigner.settings_store import get_value, set_value

KEY = "links.options"

DEFAULTS = {
    "default_expiry_days": 30,  # a campaign's own link_expiry_days wins
    "utm_enabled": True,
    "utm_source": "campaigner",
    "interest_tags": True,  # a click tags its contact interest:<each tag of the content>
    "attribution_days": 7,  # an order counts for the last click within this many days before it
}


def link_options() -> dict:
    """The current options, defaults filled in."""
    return {**DEFAULTS, **(get_value(KEY) or {})}


def save_link_options(**changes) -> dict:
    """Store changed options (unknown names are refused) and return them all."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown link options: {', '.join(sorted(unknown))}")
    options = {**link_options(), **changes}
    set_value(KEY, options)
    from campaigner.links.shortener import forget_cached_context

    forget_cached_context()
    return options
