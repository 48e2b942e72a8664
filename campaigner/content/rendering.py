"""Turning content into what a channel sends: Markdown, sanitizing, personalisation.

Plugins use these functions (re-exported from `campaigner`) rather than their own.
A contact's data is data, never markup: `personalize` escapes each value for the
format the text is in before it is substituted (``fmt="markdown"`` for text that is
rendered next, so a name like ``[领取](https://evil.example)`` or ``<style>`` stays
text), and the engine turns links into short links in the editor's text before it
is personalised, so a URL in a contact's data is never shortened.

Raw HTML the sanitizer would drop is taken out tag by tag before Markdown sees it
(`strip_disallowed_tags`): an unclosed ``<style>`` would otherwise open a raw block
that swallows the rest of the body. `removed_markup` names what goes, for previews.

Editors write the Markdown they know from elsewhere: Python-Markdown's
``extra`` (tables among it) plus pymdown-extensions for ``~~strikethrough~~``
and task lists (``- [ ]``/``- [x]``). Channels that show plain text get no
Markdown syntax left over: struck-through text keeps its strike as combining
strokes on its narrow characters (a crossed-out old price must not read as a
price; see `strike` for the wide ones), task boxes become
☐/☑, table rows become lines with cells between ``|``.

A subject (`render_subject`) is personalised by the same `personalize` as the
body and stays plain text on one line.

Personalisation fields are ``{{ field }}`` or ``{{ field | default }}``; the
default is used where a contact lacks the field. Which fields exist is decided
in `campaigner.content.personal_fields` and checked when content is saved.
"""
from __future__ import annotations

import html as html_lib
import re
import unicodedata

import markdown as md
import nh3

FIELD = re.compile(r"\{\{\s*([\w.]+)\s*(?:\|\s*([^}]*?)\s*)?\}\}")
# Anything that opens like a field; a match of this that FIELD does not match is malformed.
FIELD_LIKE = re.compile(r"\{\{(.*?)\}\}", re.S)
CONTACT_FIELDS = ("name", "email", "phone", "external_id")
_LINK = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>(.*?)</a>', re.S | re.I)
_OL = re.compile(r"<ol>.*?</ol>", re.S)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "pymdownx.tilde", "pymdownx.tasklist"]
MARKDOWN_CONFIG = {
    # Only ~~strike~~: a single ~ is common in Chinese ranges ("9~10 点"), never a subscript.
    "pymdownx.tilde": {"subscript": False},
}
# What a backslash escapes in our Markdown dialect (pymdownx.tilde adds "~", so a contact's "~~" strikes
# nothing); a backslash before anything else would show.
MARKDOWN_ESCAPED = frozenset(md.Markdown(extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
                             .ESCAPED_CHARS)
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS)
# Code (fenced, or inline in backticks) shows tags as text, so tags there are left alone.
_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]+`)", re.S)
# A tag's name ends at a space, a slash or ">": <https://…> and <me@example.com> are Markdown autolinks.
_TAG = re.compile(r"</?([A-Za-z][\w-]*)(?=[\s/>]|$)[^<>]*>?")
_EVENT_ATTRIBUTE = re.compile(r"<[A-Za-z][^<>]*?\s(on[a-z]+)\s*=", re.I)
_SCRIPT_URL = re.compile(r"(?:(?:href|src)\s*=\s*[\"']?|\]\(\s*<?)\s*(javascript|vbscript|data):", re.I)


def _outside_code(text: str, replace) -> str:
    parts = _CODE.split(text)
    return "".join(part if i % 2 else replace(part) for i, part in enumerate(parts))


def strip_disallowed_tags(text: str) -> str:
    """`text` without the raw HTML tags the sanitizer does not allow (the tags only: what they enclose stays)."""
    return _outside_code(text or "", lambda part: _TAG.sub(
        lambda m: m.group(0) if m.group(1).lower() in ALLOWED_TAGS else "", part))


def removed_markup(text: str) -> list[str]:
    """What the sanitizer takes out of this Markdown: disallowed tags, event handlers, script URLs (for warnings)."""
    removed: list[str] = []

    def note(item: str) -> None:
        if item not in removed:
            removed.append(item)

    def scan(part: str) -> str:
        for m in _TAG.finditer(part):
            if m.group(1).lower() not in ALLOWED_TAGS:
                note(f"<{m.group(1).lower()}>")
        for m in _EVENT_ATTRIBUTE.finditer(part):
            note(f"{m.group(1).lower()}=")
        for m in _SCRIPT_URL.finditer(part):
            note(f"{m.group(1).lower()}:")
        return part

    _outside_code(text or "", scan)
    return removed


def _render(text: str) -> str:
    return nh3.clean(_markdown(strip_disallowed_tags(text)))


_CHECKBOX = re.compile(r"<input\b[^>]*>\s*", re.I)
_DEL = re.compile(r"<del>(.*?)</del>", re.S)
_STRIKE_MARKDOWN = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.S)
STROKE = "\u0336"  # COMBINING LONG STROKE OVERLAY: strikes the character before it in any text


def _markdown(text: str) -> str:
    html = md.markdown(text or "", extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
    # Task boxes as characters: an <input> is stripped by the sanitizer and shown by few mail clients.
    return _CHECKBOX.sub(lambda m: "☑ " if re.search(r"\bchecked\b", m.group(0)) else "☐ ", html)


def markdown_to_html(text: str) -> str:
    """Markdown rendered to HTML with scripts, event handlers and javascript: URLs removed."""
    return _render(text)


def strike(text: str) -> str:
    """`text` struck through in plain text (combining strokes), spaces left as they are.

    Wide (CJK) characters stay unstruck: a stroke drawn over 元 reads as another character (日), while
    the struck digits beside it already show the price is the old one.
    """
    return "".join(ch if ch.isspace() or unicodedata.east_asian_width(ch) in ("W", "F") else ch + STROKE
                   for ch in text)


def strike_markdown(text: str) -> str:
    """Markdown with ``~~struck~~`` written as struck characters, for Markdown dialects without it (WeCom)."""
    return _STRIKE_MARKDOWN.sub(lambda m: strike(m.group(1)), text or "")


def markdown_to_text(text: str) -> str:
    """Plain text for channels that cannot show HTML: links keep their address, entities are decoded."""
    html = _render(text)
    html = _DEL.sub(lambda m: strike(html_lib.unescape(nh3.clean(m.group(1), tags=set()))), html)
    html = re.sub(r"\s*(</?(?:table|thead|tbody|tr|th|td)>)\s*", r"\1", html)
    html = re.sub(r"</t[hd]><t[hd][^>]*>", " | ", html).replace("</tr>", "</tr>\n")  # a row a line

    def link(match):
        href, label = html_lib.unescape(match.group(1)), match.group(2)
        plain = html_lib.unescape(nh3.clean(label, tags=set())).strip()
        return html_lib.escape(plain if not href or href == plain else f"{plain} ({href})" if plain else href)

    html = _LINK.sub(link, html)
    html = re.sub(r"<br\s*/?>", "\n", html)
    html = _OL.sub(lambda m: _number_items(m.group(0)), html)
    html = re.sub(r"<li>(?![☐☑])", "<li>- ", html)  # the items left are unordered; a task's box is its bullet
    # Blocks end with a blank line, as paragraphs are written in Markdown.
    html = re.sub(r"(</(?:p|h[1-6]|ul|ol|table|blockquote|pre)>)\n?", "\\1\n\n", html)
    text = html_lib.unescape(nh3.clean(html, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _number_items(ordered_list: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"<li>", lambda _: f'<li class="numbered">{next(counter)}. ', ordered_list)


def contact_fields(contact) -> dict:
    """The values a contact offers to ``{{ field }}``: its attributes and its name, email, phone, external id."""
    fields = dict(getattr(contact, "attributes", None) or {})
    for name in CONTACT_FIELDS:
        value = getattr(contact, name, None)
        if value:
            fields[name] = value
    return fields


def escape_markdown(value: str) -> str:
    """`value` as Markdown that renders to exactly this text: no link, emphasis, tag or line break comes from it."""
    value = " ".join(str(value).split())  # a line break in data could start a heading, list or code block
    out = []
    for char in value:
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char in MARKDOWN_ESCAPED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


ESCAPERS = {"text": str, "markdown": escape_markdown, "html": lambda v: html_lib.escape(str(v))}


def personalize(text: str, contact, extra: dict | None = None, fmt: str = "text") -> str:
    """Fill ``{{ field }}`` and ``{{ field | default }}`` from the contact's fields.

    Each value is escaped for `fmt`, the format `text` is in: "markdown" when it is
    rendered next, "html", or "text" (left as it is). Defaults are the editor's and
    stay as written.
    """
    values = {**contact_fields(contact), **(extra or {})}
    escape = ESCAPERS[fmt]

    def fill(match):
        value = values.get(match.group(1))
        return escape(str(value)) if value not in (None, "") else (match.group(2) or "")

    return FIELD.sub(fill, text or "")


def fields_used(text: str) -> list[str]:
    """The personalisation field names `text` uses, in order of first use."""
    seen: list[str] = []
    for match in FIELD.finditer(text or ""):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def malformed_fields(text: str) -> list[str]:
    """Each ``{{ … }}`` in `text` that is not a well-formed field, as written."""
    return [m.group(0) for m in FIELD_LIKE.finditer(text or "") if not FIELD.fullmatch(m.group(0))]


def has_images(text: str) -> bool:
    """Whether the Markdown shows an image (which text-only channels drop)."""
    return bool(_IMAGE.search(text or "")) or "<img" in (text or "").lower()


def text_for_channel(content, channel: str) -> str:
    """The channel's variant of `content` where it has one, else the body."""
    return (content.variants or {}).get(channel) or content.body


def render_html(content, channel: str, contact, extra: dict | None = None) -> str:
    """The channel's text of `content` personalised for `contact`, as sanitized HTML."""
    return markdown_to_html(personalize(text_for_channel(content, channel), contact, extra, fmt="markdown"))


def subject_for_channel(content, channel: str) -> str:
    """The channel's own subject, else the item's subject, else its title (the fallback)."""
    subjects = getattr(content, "subjects", None) or {}
    return subjects.get(channel) or getattr(content, "subject", "") or content.title or ""


def render_subject(content, channel: str, contact, extra: dict | None = None) -> str:
    """The subject line `contact` gets on `channel`: personalised like the body, plain text on one line."""
    return " ".join(personalize(subject_for_channel(content, channel), contact, extra).split())


def render_text(content, channel: str, contact, extra: dict | None = None) -> str:
    """The channel's text of `content` personalised for `contact`, as plain text."""
    return markdown_to_text(personalize(text_for_channel(content, channel), contact, extra, fmt="markdown"))
