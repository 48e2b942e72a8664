"""Turning content into what a channel sends: Markdown, sanitizing, personalisation.

First cut; the content library work owns and extends this module. Plugins use
these functions (re-exported from `campaigner`) rather than their own.
"""
from __future__ import annotations

import re

import markdown as md
import nh3

FIELD = re.compile(r"\{\{\s*([\w.]+)\s*(?:\|\s*([^}]*?)\s*)?\}\}")


def markdown_to_html(text: str) -> str:
    """Markdown rendered to HTML with scripts, event handlers and javascript: URLs removed."""
    return nh3.clean(md.markdown(text or "", extensions=["extra", "sane_lists"]))


def markdown_to_text(text: str) -> str:
    """Plain text for channels that cannot show HTML."""
    html = md.markdown(text or "", extensions=["extra"])
    return re.sub(r"\n{3,}", "\n\n", nh3.clean(html, tags=set())).strip()


def contact_fields(contact) -> dict:
    fields = dict(getattr(contact, "attributes", None) or {})
    for name in ("name", "email", "phone", "external_id"):
        value = getattr(contact, name, None)
        if value:
            fields[name] = value
    return fields


def personalize(text: str, contact, extra: dict | None = None) -> str:
    """Fill ``{{ field }}`` and ``{{ field | default }}`` from the contact's fields."""
    values = {**contact_fields(contact), **(extra or {})}

    def fill(match):
        value = values.get(match.group(1))
        return str(value) if value not in (None, "") else (match.group(2) or "")

    return FIELD.sub(fill, text or "")


def text_for_channel(content, channel: str) -> str:
    """The channel's variant of `content` where it has one, else the body."""
    return (content.variants or {}).get(channel) or content.body
