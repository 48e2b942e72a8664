"""Rewriting links in outgoing messages to tracked short links.

The engine calls `shorten_links` on every rendered message body before it is
sent. With a delivery, each link becomes that contact's own short link (so a
click names who clicked); with only a campaign (a channel that posts one
message for many, like a moments post), one shared link per campaign, channel
and URL. Rendering the same message again (a retry, the HTML part after the
text part) finds the same links again instead of issuing new ones.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
        images = {m.end() for m in MARKDOWN_IMAGE.finditer(text)}
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


def link_context(delivery_id: int | None, campaign_id: int | None, channel: str) -> LinkContext | None:
    """Look up what links of this delivery (or campaign) are issued for; None when neither exists."""
    from campaigner.campaigns.models import Campaign
    from campaigner.content.models import ContentItem
    from campaigner.deliveries.models import Delivery

    ctx = LinkContext(kind="delivery" if delivery_id is not None else "campaign", channel=channel,
                      delivery_id=delivery_id, campaign_id=campaign_id)
    if delivery_id is not None:
        row = (Delivery.select(Delivery.source_type, Delivery.source_id, Delivery.contact)
               .where(Delivery.id == delivery_id).tuples().first())
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
        row = (Campaign.select(Campaign.name, Campaign.link_expiry_days, ContentItem.id, ContentItem.slug)
               .join(ContentItem).where(Campaign.id == ctx.campaign_id).tuples().first())
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


def issue_links(urls: list[str], ctx: LinkContext, options: dict | None = None) -> dict[str, str]:
    """The short URL for each of `urls` in this context, issuing the ones not issued yet."""
    from campaigner.links.models import ShortLink
    from campaigner.links.options import link_options

    options = options or link_options()
    wanted = {url_hash(u): u for u in dict.fromkeys(urls)}
    if ctx.kind == "delivery":
        scope = ShortLink.delivery == ctx.delivery_id
    else:
        scope = (ShortLink.campaign == ctx.campaign_id) & (ShortLink.channel == ctx.channel) & (ShortLink.kind == "campaign")

    def existing() -> dict[str, str]:
        rows = ShortLink.select(ShortLink.url_hash, ShortLink.code).where(scope, ShortLink.url_hash.in_(list(wanted)))
        return dict(rows.tuples())

    codes = existing()
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
            rows.append({
                "code": new_code(), "target": target, "kind": ctx.kind, "original_url": url, "url_hash": h,
                "source_type": ctx.source_type, "source_id": ctx.source_id, "delivery": ctx.delivery_id,
                "campaign": ctx.campaign_id, "contact": ctx.contact_id, "content": ctx.content_id,
                "channel": ctx.channel, "expires_at": expires, "created_at": now, "updated_at": now,
            })
        # A duplicate (another worker issued the same link, or a code collided) is
        # ignored, and the lookup below tells which: the rest get fresh codes.
        with database.atomic():
            ShortLink.insert_many(rows).on_conflict_ignore().execute()
        codes = existing()
    missing = [wanted[h] for h in wanted if h not in codes]
    if missing:
        raise RuntimeError(f"could not issue short links for {missing}")
    base = link_base_url()
    return {wanted[h]: f"{base}/s/{code}" for h, code in codes.items()}


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
