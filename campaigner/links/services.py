"""Manual short links and the click figures of any link (no Flask here)."""
from __future__ import annotations

import datetime as dt
import ipaddress
from urllib.parse import urlsplit

from peewee import Case, IntegrityError, fn

from campaigner.audit import record_audit
from campaigner.db import database, utcnow
from campaigner.links.models import Click, ShortLink
from campaigner.links.shortener import forget_cached_context, new_code, url_hash


class LinkError(ValueError):
    """A link can't be made or changed as asked; `field` names the input at fault."""

    def __init__(self, message: str, field: str = "target"):
        super().__init__(message)
        self.field = field


# Host names that only mean something inside a network (RFC 6761, 6762 and common private suffixes).
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa", ".corp")


def internal_host(host: str) -> bool:
    """Whether `host` names this machine or a private network: loopback, link-local, private or reserved."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(INTERNAL_SUFFIXES) or "." not in host and ":" not in host \
            and not host.isdigit():
        return True
    try:
        address = ipaddress.ip_address(int(host) if host.isdigit() else host)  # 2130706433 is 127.0.0.1
    except ValueError:
        return False
    return not address.is_global or address.is_multicast


def _allowed_internal_hosts() -> set[str]:
    from campaigner.runtime import current_runtime

    value = current_runtime().settings.get("LINK_INTERNAL_HOSTS") or ""
    hosts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return {h.strip().lower() for h in hosts if h.strip()}


def clean_target(target: str) -> str:
    """A target URL as stored: http(s), with a host, never one of our own short links (a loop).

    A short link is a public address on the brand's domain, so it never carries
    credentials and never points into a private network (169.254.169.254, 10.x,
    localhost …) unless the instance's admin allows that host (CAMPAIGNER_LINK_INTERNAL_HOSTS).
    """
    from werkzeug.urls import iri_to_uri

    from campaigner.links.shortener import link_base_url

    target = (target or "").strip()
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise LinkError("the target must be a full http:// or https:// address")
    if parts.username is not None or parts.password is not None:
        raise LinkError("the target must not carry a user name or password")
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise LinkError("the target's host or port is not valid") from None
    base = urlsplit(link_base_url())
    if parts.netloc.lower() == base.netloc.lower() and parts.path.startswith(base.path.rstrip("/") + "/s/"):
        raise LinkError("the target is itself a short link")
    if internal_host(host) and host not in _allowed_internal_hosts():
        raise LinkError("the target is an internal address (loopback, link-local or a private network)")
    if len(target) > 4000:
        raise LinkError("the target is longer than 4,000 characters")
    return iri_to_uri(target)


def _expiry(expires_at, allow_past: bool = False):
    if expires_at is not None and not isinstance(expires_at, dt.datetime):
        raise LinkError("the expiry must be a date and time", field="expires_at")
    if expires_at is not None and expires_at.tzinfo is not None:
        expires_at = expires_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if expires_at is not None and expires_at <= utcnow() and not allow_past:
        raise LinkError("the expiry is already past", field="expires_at")
    return expires_at


def create_manual_link(target: str, *, label: str = "", expires_at: dt.datetime | None = None,
                       user=None) -> ShortLink:
    """A short link made by hand (a poster's QR code, a bio link); `expires_at` UTC or aware, None: never."""
    target = clean_target(target)
    expires_at = _expiry(expires_at)
    now = utcnow()
    for _attempt in range(5):  # a collision of 48 random bits is rare, but the index decides
        try:
            with database.atomic():
                link = ShortLink.create(code=new_code(), target=target, kind="manual", label=(label or "")[:200],
                                        original_url=target, url_hash=url_hash(target), expires_at=expires_at,
                                        created_by=getattr(user, "id", None), created_at=now, updated_at=now)
        except IntegrityError:
            continue
        record_audit(user, "created", link, summary=f"{link.code} -> {target}")
        return link
    raise LinkError("could not find a free code; try again")


def update_link(link: ShortLink, *, user=None, **changes) -> ShortLink:
    """Change a link's target, label or expiry; the redirect uses the change from the next click on."""
    fields = {}
    if "target" in changes:
        fields["target"] = clean_target(changes["target"])
    if "label" in changes:
        fields["label"] = (changes["label"] or "")[:200]
    if "expires_at" in changes:
        # A new link never starts expired; an existing one may be ended at once by an expiry in the past.
        fields["expires_at"] = _expiry(changes["expires_at"], allow_past=True)
    if not fields:
        return link
    fields["updated_at"] = utcnow()
    ShortLink.update(**fields).where(ShortLink.id == link.id).execute()
    before = link.target
    for key, value in fields.items():
        setattr(link, key, value)
    summary = f"{link.code}: {before} -> {link.target}" if "target" in fields else f"{link.code}: {', '.join(sorted(changes))}"
    record_audit(user, "changed", link, summary=summary)
    return link


def click_counts(link_ids: list[int]) -> dict[int, dict]:
    """clicks, unique (human visitors) and bots for each link."""
    out = {i: {"clicks": 0, "unique": 0, "bots": 0} for i in link_ids}
    if not link_ids:
        return out
    human = Click.is_bot == False  # noqa: E712
    query = (Click.select(Click.link,
                          fn.SUM(Case(None, [(human, 1)], 0)),
                          fn.COUNT(fn.DISTINCT(Case(None, [(human, Click.visitor)], None))),
                          fn.SUM(Case(None, [(human, 0)], 1)))
             .where(Click.link.in_(link_ids)).group_by(Click.link).tuples())
    for link_id, clicks, unique, bots in query:
        out[link_id] = {"clicks": int(clicks or 0), "unique": int(unique or 0), "bots": int(bots or 0)}
    return out


def manual_links_query(search: str = ""):
    """Manual links, optionally matching `search` in label, code or target (no order)."""
    query = ShortLink.select().where(ShortLink.kind == "manual")
    if search:
        like = f"%{search}%"
        query = query.where(ShortLink.label ** like | ShortLink.code ** like | ShortLink.target ** like)
    return query


def manual_links(search: str = "", page: int = 1, per_page: int = 50) -> tuple[list[ShortLink], int]:
    """Manual links, newest first, optionally matching `search` in label, code or target."""
    query = manual_links_query(search)
    total = query.count()
    rows = list(query.order_by(ShortLink.created_at.desc(), ShortLink.id.desc()).paginate(page, per_page))
    return rows, total


def recent_clicks(link: ShortLink, limit: int = 20) -> list[Click]:
    return list(Click.select().where(Click.link == link).order_by(Click.at.desc(), Click.id.desc()).limit(limit))


def clicks_by_day(link_ids: list[int], since: dt.datetime, tz: str) -> dict[dt.date, dict]:
    """Human clicks and unique visitors per local day (in `tz`) since `since` (UTC)."""
    from campaigner.analytics.timeseries import local_day_counts

    return local_day_counts(
        Click.select().where(Click.link.in_(link_ids), Click.at >= since, Click.is_bot == False),  # noqa: E712
        Click.at, tz, distinct=Click.visitor)



def set_campaign_link_expiry(campaign_id: int, days: int | None, *, redate_issued: bool = False, user=None) -> int:
    """Set how long a campaign's short links live (None: the default); optionally re-date links already issued.

    Returns how many issued links were re-dated.
    """
    from campaigner.campaigns.models import Campaign

    if days is not None and (days < 0 or days > 3650):
        raise LinkError("the expiry must be between 0 and 3650 days", field="days")
    Campaign.update(link_expiry_days=days, updated_at=utcnow()).where(Campaign.id == campaign_id).execute()
    forget_cached_context()
    redated = 0
    if redate_issued:
        from campaigner.links.options import link_options

        live = days if days is not None else int(link_options()["default_expiry_days"])
        expires = None
        if live:
            from campaigner.db import is_postgres

            # each link lives `live` days from when it was issued
            expires = (ShortLink.created_at + dt.timedelta(days=live)) if is_postgres() else \
                fn.datetime(ShortLink.created_at, f"+{live} days")
        redated = (ShortLink.update(expires_at=expires, updated_at=utcnow())
                   .where(ShortLink.campaign == campaign_id, ShortLink.kind != "manual").execute())
    record_audit(user, "changed", object_type="campaign", object_id=campaign_id,
                 summary=f"short links expire after {days if days is not None else 'the default'} days"
                         + (f"; {redated} issued links re-dated" if redate_issued else ""))
    return redated
