"""Rewriting links in outgoing messages to tracked short links.

The engine calls `content_with_short_links` on the editor's text of each
message before it is personalised and rendered: only links an editor wrote
become short links, never a URL that a contact's data brings in. With a delivery, each link becomes that contact's own short link (so a
click names who clicked); with only a campaign (a channel that posts one
message for many, like a moments post), one shared link per campaign, channel
and URL. Rendering the same message again (a retry, the HTML part after the
text part) finds the same links again instead of issuing new ones.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import re
import secrets
import time
import weakref
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.urls import iri_to_uri

from campaigner.db import database, utcnow

CODE_BYTES = 6  # secrets.token_urlsafe(6): 8 characters, 48 random bits
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")

# A URL runs until whitespace, quotes, angle brackets, or CJK text and full-width
# punctuation (Chinese copy often puts "，" or text straight after a link).
URL = re.compile(
    r"https?://[^\s<>\"'`\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f]+",
    re.IGNORECASE,
)
TRAILING = ".,;:!?*_~"
PAIRS = {")": "(", "]": "[", "}": "{"}
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?")
IMAGE_SOURCE = re.compile(r"\bsrc\s*=\s*[\"']?", re.IGNORECASE)  # raw <img src=…> in Markdown
HTML_TAG = re.compile(r"<[^>]*>")
HREF = re.compile(r"(\bhref\s*=\s*)(\"[^\"]*\"|'[^']*')", re.IGNORECASE)


def new_code() -> str:
    """An unguessable short-link code."""
    return secrets.token_urlsafe(CODE_BYTES)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def link_base_url() -> str:
    from campaigner.runtime import current_runtime

    return str(current_runtime().settings["LINK_BASE_URL"]).rstrip("/")


def short_url(code: str) -> str:
    """The public address of a short link."""
    return f"{link_base_url()}/s/{code}"


def _own_hosts() -> set[str]:
    from campaigner.runtime import current_runtime

    settings = current_runtime().settings
    return {urlsplit(str(settings[name])).netloc.lower() for name in ("BASE_URL", "LINK_BASE_URL")}


def _clean(url: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL, and unbalanced closing brackets."""
    while url:
        last = url[-1]
        if last in TRAILING:
            url = url[:-1]
        elif last in PAIRS and url.count(last) > url.count(PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def find_urls(text: str, fmt: str = "text") -> list[tuple[int, int, str]]:
    """(start, end, url) of each link to track in `text`; images and Campaigner's own links are left alone."""
    found: list[tuple[int, int, str]] = []
    if fmt == "html":
        pos = 0
        for tag in HTML_TAG.finditer(text):
            found += _text_urls(text, pos, tag.start(), escaped=True)
            for href in HREF.finditer(tag.group(0)):
                quoted = href.group(2)
                start = tag.start() + href.start(2) + 1
                raw = quoted[1:-1]
                found.append((start, start + len(raw), html.unescape(raw).strip()))
            pos = tag.end()
        found += _text_urls(text, pos, len(text), escaped=True)
    else:
        # Markdown images stay as they are in text too: a text channel may send the Markdown source.
        images = {m.end() for m in MARKDOWN_IMAGE.finditer(text)} | {m.end() for m in IMAGE_SOURCE.finditer(text)}
        for m in URL.finditer(text):
            if m.start() in images:
                continue
            url = _clean(m.group(0))
            found.append((m.start(), m.start() + len(url), url))
    own = _own_hosts()
    return [(s, e, u) for s, e, u in found
            if u.lower().startswith(("http://", "https://")) and urlsplit(u).netloc.lower() not in own]


def _text_urls(text: str, start: int, end: int, escaped: bool) -> list[tuple[int, int, str]]:
    out = []
    for m in URL.finditer(text, start, end):
        raw = _clean(m.group(0))
        out.append((m.start(), m.start() + len(raw), html.unescape(raw) if escaped else raw))
    return out


@functools.lru_cache(maxsize=4096)  # the same link of the same campaign, message after message
def add_utm(url: str, *, source: str, medium: str, campaign: str | None, content: str | None) -> str:
    """`url` with utm_* parameters added; any the URL already has are kept as they are."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    have = {k for k, _ in query}
    wanted = [("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign), ("utm_content", content)]
    query += [(k, v) for k, v in wanted if v and k not in have]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class LinkContext:
    """What a message's links are issued for: its delivery or campaign, and what analytics needs of them."""

    kind: str  # delivery or campaign
    channel: str
    delivery_id: int | None = None
    campaign_id: int | None = None
    contact_id: int | None = None
    content_id: int | None = None
    source_type: str | None = None
    source_id: int | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    expiry_days: int | None = None


# Rendering calls this for every message of a campaign, so the hot path is plain
# SQL on prepared statements (the ORM spent ~50x longer building the same
# queries) and what is the same for every message of a campaign — its name,
# content, expiry and the link options — is cached for a few seconds per database.
CACHE_SECONDS = 5.0
_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
INSERT_COLUMNS = ("code", "target", "kind", "label", "original_url", "url_hash", "source_type", "source_id",
                  "delivery_id", "campaign_id", "contact_id", "content_id", "channel", "expires_at", "created_at",
                  "updated_at")


def _cached(key, load):
    store = _cache.setdefault(database.obj, {})
    hit = store.get(key)
    now = time.monotonic()
    if hit is None or hit[0] < now:
        hit = (now + CACHE_SECONDS, load())
        store[key] = hit
    return hit[1]


def forget_cached_context() -> None:
    """Drop what is cached of campaigns and options (after changing them, so this process sees it at once)."""
    _cache.pop(database.obj, None)


def _campaign_info(campaign_id: int):
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem

    return (Campaign.select(Campaign.name, Campaign.link_expiry_days, ContentItem.id, ContentItem.slug)
            .join(ContentItem).where(Campaign.id == campaign_id).tuples().first())


def _options() -> dict:
    from campaigner.links.options import link_options

    return link_options()


def link_context(delivery_id: int | None, campaign_id: int | None, channel: str) -> LinkContext | None:
    """Look up what links of this delivery (or campaign) are issued for; None when neither exists."""
    ctx = LinkContext(kind="delivery" if delivery_id is not None else "campaign", channel=channel,
                      delivery_id=delivery_id, campaign_id=campaign_id)
    if delivery_id is not None:
        row = database.execute_sql(f"SELECT source_type, source_id, contact_id FROM delivery WHERE id = {database.param}",
                                   (delivery_id,)).fetchone()
        if row is None:
            return None
        ctx.source_type, ctx.source_id, ctx.contact_id = row
        if campaign_id is None and ctx.source_type == "campaign":
            ctx.campaign_id = ctx.source_id
    elif campaign_id is not None:
        ctx.source_type, ctx.source_id = "campaign", campaign_id
    else:
        return None
    if ctx.campaign_id is not None:
        row = _cached(("campaign", ctx.campaign_id), lambda: _campaign_info(ctx.campaign_id))
        if row is None:
            if ctx.kind == "campaign":
                return None
            ctx.campaign_id = None
        else:
            ctx.utm_campaign, ctx.expiry_days, ctx.content_id, ctx.utm_content = row
    elif ctx.source_type == "calendar_entry":
        _calendar_context(ctx)
    return ctx


def _calendar_context(ctx: LinkContext) -> None:
    from campaigner.calendars.models import Calendar, CalendarEntry
    from campaigner.content.models import ContentItem

    row = (CalendarEntry.select(Calendar.name, ContentItem.id, ContentItem.slug)
           .join(Calendar).switch(CalendarEntry).join(ContentItem, on=(CalendarEntry.content == ContentItem.id))
           .where(CalendarEntry.id == ctx.source_id).tuples().first())
    if row:
        ctx.utm_campaign, ctx.content_id, ctx.utm_content = row


def _existing_codes(ctx: LinkContext) -> dict[str, str]:
    p = database.param
    if ctx.kind == "delivery":
        cursor = database.execute_sql(f"SELECT url_hash, code FROM short_links WHERE delivery_id = {p}",
                                      (ctx.delivery_id,))
    else:
        cursor = database.execute_sql(
            f"SELECT url_hash, code FROM short_links WHERE campaign_id = {p} AND channel = {p} AND kind = 'campaign'",
            (ctx.campaign_id, ctx.channel))
    return dict(cursor.fetchall())


def _insert_links(rows: list[tuple]) -> None:
    """Insert rows (INSERT_COLUMNS order); a duplicate code or link is skipped, not an error."""
    from campaigner.db import is_postgres

    columns = ", ".join(INSERT_COLUMNS)
    marks = ", ".join([database.param] * len(INSERT_COLUMNS))
    if is_postgres():
        sql = f"INSERT INTO short_links ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    else:
        sql = f"INSERT OR IGNORE INTO short_links ({columns}) VALUES ({marks})"
        # SQLite keeps datetimes as text in the ORM's format
        rows = [tuple(v.isoformat(" ") if isinstance(v, dt.datetime) else v for v in row) for row in rows]
    with database.atomic():
        database.cursor().executemany(sql, rows)


def issue_links(urls: list[str], ctx: LinkContext, options: dict | None = None) -> dict[str, str]:
    """The short URL for each of `urls` in this context, issuing the ones not issued yet."""
    options = options or _cached("options", _options)
    wanted = {url_hash(u): u for u in dict.fromkeys(urls)}
    codes = _existing_codes(ctx)
    for _attempt in range(3):
        missing = [h for h in wanted if h not in codes]
        if not missing:
            break
        now = utcnow()
        days = ctx.expiry_days if ctx.expiry_days is not None else int(options["default_expiry_days"])
        expires = now + dt.timedelta(days=days) if days and days > 0 else None
        rows = []
        for h in missing:
            url = wanted[h]
            target = url
            if options["utm_enabled"]:
                target = add_utm(url, source=options["utm_source"], medium=ctx.channel,
                                 campaign=ctx.utm_campaign, content=ctx.utm_content)
            rows.append((new_code(), iri_to_uri(target), ctx.kind, "", url, h, ctx.source_type, ctx.source_id,
                         ctx.delivery_id, ctx.campaign_id, ctx.contact_id, ctx.content_id, ctx.channel, expires,
                         now, now))
        # A duplicate (another worker issued the same link, or a code collided) is
        # skipped, and the lookup below tells which: the rest get fresh codes.
        _insert_links(rows)
        codes = _existing_codes(ctx)
    missing = [wanted[h] for h in wanted if h not in codes]
    if missing:
        raise RuntimeError(f"could not issue short links for {missing}")
    base = _cached("base_url", link_base_url)
    return {url: f"{base}/s/{codes[h]}" for h, url in wanted.items()}


def shorten_links(text: str, *, delivery_id: int | None, campaign_id: int | None, channel: str,
                  fmt: str = "text") -> str:
    """Return `text` with each link replaced by its short link (fmt: text, markdown or html)."""
    if not text or "http" not in text.lower() or (delivery_id is None and campaign_id is None):
        return text
    spans = find_urls(text, fmt)
    if not spans:
        return text
    ctx = link_context(delivery_id, campaign_id, channel)
    if ctx is None:
        return text
    short = issue_links([u for _, _, u in spans], ctx)
    out, pos = [], 0
    for start, end, url in spans:
        out.append(text[pos:start])
        out.append(short[url])  # short URLs need no escaping in HTML: [A-Za-z0-9_-] and the base
        pos = end
    out.append(text[pos:])
    return "".join(out)


class _LinkedContent:
    """A content item whose body and one variant are replaced; everything else reads through."""

    def __init__(self, content, body: str, variants: dict):
        self._content, self.body, self.variants = content, body, variants

    def __getattr__(self, name):
        return getattr(self._content, name)


def content_with_short_links(content, *, delivery_id: int | None, campaign_id: int | None, channel: str):
    """`content` with the links in its body and `channel`'s variant replaced by short links, before personalising.

    Shortening the editor's Markdown rather than the rendered message is what keeps a
    URL in a contact's name or attributes from becoming a link on the brand's domain.
    """
    variants = dict(content.variants or {})
    if variants.get(channel):
        variants[channel] = shorten_links(variants[channel], delivery_id=delivery_id, campaign_id=campaign_id,
                                          channel=channel, fmt="markdown")
    body = shorten_links(content.body, delivery_id=delivery_id, campaign_id=campaign_id, channel=channel,
                         fmt="markdown")
    return _LinkedContent(content, body, variants)
