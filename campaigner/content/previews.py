"""Per-channel previews of a piece of content, with each channel's own limit warnings.

The preview personalises the text for an example contact, renders it the way
the channel shows it (sanitized HTML for html/markdown channels, plain text
otherwise) and asks the channel plugin to `check` it, so an SMS preview warns
about length and segments exactly as the SMS plugin counts them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

from campaigner.content.personal_fields import unknown_fields
from campaigner.content.rendering import (has_images, markdown_to_html, markdown_to_text, personalize, removed_markup,
                                          render_subject)

log = logging.getLogger(__name__)

EXAMPLE_CONTACT = SimpleNamespace(name="王小明", email="xiaoming@example.com", phone="+8613800138000",
                                  external_id="C0001", attributes={})
EXAMPLE_CONTEXT = {"unsubscribe_url": "https://example.com/u/Ab3xY9"}


@dataclass
class ChannelPreview:
    channel: str
    label: str
    format: str  # "text", "markdown" or "html"
    uses_variant: bool
    text: str  # what a text channel sends
    html: str  # sanitized HTML, for channels that show HTML
    length: int
    warnings: list[str] = field(default_factory=list)  # from the channel plugin's check()
    drops_images: bool = False  # a text channel: the images in the Markdown are not sent
    removed: list[str] = field(default_factory=list)  # markup the sanitizer takes out (tags, handlers, script URLs)
    subject: str | None = None  # the subject line, on channels whose messages have one
    subject_from_title: bool = False  # no subject was written, so the title stands in


def preview(channel, title: str, body: str, variants: dict[str, str], contact=EXAMPLE_CONTACT, *,
            subject: str = "", subjects: dict[str, str] | None = None) -> ChannelPreview:
    """How `channel` shows the content to `contact`, with its warnings."""
    variant = (variants or {}).get(channel.name) or ""
    line = None
    if getattr(channel.limits, "subject", False):
        own = SimpleNamespace(title=title, subject=subject, subjects=subjects or {})
        line = render_subject(own, channel.name, contact, EXAMPLE_CONTEXT)
    source = personalize(variant or body, contact, EXAMPLE_CONTEXT, fmt="markdown")
    fmt = getattr(channel.limits, "format", "text") or "text"
    text = markdown_to_text(source)
    html = markdown_to_html(source)
    try:
        warnings = [str(w) for w in channel.check(text)]
    except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the other previews down
        log.exception("channel %s failed to check a preview", channel.name)
        warnings = [f"the {channel.name} channel could not check this text: {type(exc).__name__}: {exc}"]
    return ChannelPreview(channel=channel.name, label=str(channel.label or channel.name), format=fmt,
                          uses_variant=bool(variant), text=text, html=html, length=len(text), warnings=warnings,
                          drops_images=fmt == "text" and has_images(source), subject=line, removed=removed_markup(variant or body),
                          subject_from_title=line is not None and not ((subjects or {}).get(channel.name) or subject))


def preview_channels(plugins) -> dict:
    """Every registered channel, configured where its config is valid (so an SMS signature counts), by name."""
    channels = {}
    for name, channel in plugins.channels().items():
        try:
            channels[name] = plugins.configured_channel(name)
        except Exception:  # noqa: BLE001 - an invalid or missing config still previews, unconfigured
            channels[name] = channel
    return channels


def previews(channels: dict, title: str, body: str, variants: dict[str, str], *, subject: str = "",
             subjects: dict[str, str] | None = None) -> list[ChannelPreview]:
    """A preview for every registered channel, in name order."""
    return [preview(channel, title, body, variants, subject=subject, subjects=subjects)
            for _, channel in sorted(channels.items())]


def field_problems(title: str, body: str, variants: dict[str, str], *, subject: str = "",
                   subjects: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Unknown or malformed personalisation fields per text, for the editor to show while typing."""
    problems = {}
    texts = [("title", title), ("subject", subject), ("body", body),
             *[(f"subjects.{c}", t) for c, t in (subjects or {}).items()],
             *[(f"variants.{c}", t) for c, t in (variants or {}).items()]]
    for name, text in texts:
        unknown = unknown_fields(text)
        if unknown:
            problems[name] = unknown
    return problems
