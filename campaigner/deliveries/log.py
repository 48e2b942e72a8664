"""The delivery log ops read: filters, keyset pages, CSV rows. No Flask here.

Pages are keyset pages on the primary key (``id < cursor ORDER BY id DESC
LIMIT n``), never OFFSET, so the thousandth page costs what the first does.
Each filter has an index that serves it in id order: (status, id),
(source_type, source_id, id) for a campaign, (contact, channel, sent_at) for
contacts (found by the contacts page's own search); channel and time filters
ride the primary key.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from campaigner.audience.models import Contact
from campaigner.audience.services import contact_matches
from campaigner.campaigns.models import Campaign
from campaigner.deliveries.engine import SOURCE, in_flight
from campaigner.deliveries.models import STATUSES, WAITING, Delivery

PAGE_SIZE = 50
CSV_COLUMNS = ("id", "campaign_id", "campaign", "contact_id", "contact", "channel", "status", "reason", "attempts",
               "provider_id", "error", "idempotency_key", "created_at", "sent_at", "updated_at")


@dataclass
class LogFilter:
    """What ops filter the log by; every field optional. Build it with `from_args`."""

    campaign: int | None = None
    calendar: int | None = None
    channel: str | None = None
    status: str | None = None
    contact: str | None = None  # part of a name, email or phone; a contact id or external id
    since: dt.datetime | None = None  # created at or after (UTC)
    until: dt.datetime | None = None  # created before (UTC)

    @classmethod
    def from_args(cls, args) -> tuple["LogFilter", dict[str, str]]:
        """Parse query arguments; return the filter and, per field, what was wrong with its value."""
        errors: dict[str, str] = {}
        values: dict = {}
        for name in ("campaign", "calendar"):
            raw = (args.get(name) or "").strip()
            if raw:
                if raw.isdigit():
                    values[name] = int(raw)
                else:
                    errors[name] = "not a number"
        for name in ("channel", "contact"):
            raw = (args.get(name) or "").strip()
            if raw:
                values[name] = raw
        status = (args.get("status") or "").strip()
        if status:
            if status in STATUSES:
                values["status"] = status
            else:
                errors["status"] = "unknown status"
        for name in ("since", "until"):
            raw = (args.get(name) or "").strip()
            if raw:
                try:
                    values[name] = dt.datetime.fromisoformat(raw.replace("Z", "")).replace(tzinfo=None)
                except ValueError:
                    errors[name] = "not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        return cls(**values), errors

    def as_args(self) -> dict[str, str]:
        """The filter as query arguments (for links that keep it)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ""):
                out[f.name] = value.isoformat(timespec="minutes") if isinstance(value, dt.datetime) else str(value)
        return out

    @property
    def active(self) -> bool:
        return bool(self.as_args())


def contacts_named(text: str):
    """The ids of the contacts a log search names, as a subquery: the contacts page's search (part of a name,
    email or phone; an id or external id)."""
    return Contact.select(Contact.id).where(contact_matches(text))


CAMPAIGN_CHOICES = 300


def campaign_choices(selected: int | None = None) -> list[Campaign]:
    """The campaigns the log's campaign filter offers: the latest ones (a recurring campaign's runs go with
    it), and the one chosen even when older."""
    query = (Campaign.select(Campaign.id, Campaign.name).where(Campaign.parent.is_null())
             .order_by(Campaign.id.desc()).limit(CAMPAIGN_CHOICES))
    choices = list(query)
    if selected is not None and all(c.id != selected for c in choices):
        chosen = Campaign.select(Campaign.id, Campaign.name).where(Campaign.id == selected).first()
        if chosen is not None:
            choices.insert(0, chosen)
    return choices


def calendar_campaign_ids(calendar_id: int) -> list[int]:
    """Campaigns published from entries of a calendar (origin "calendar_entry:<id>")."""
    from campaigner.calendars.models import CalendarEntry

    origins = [f"calendar_entry:{e}" for (e,) in CalendarEntry.select(CalendarEntry.id)
               .where(CalendarEntry.calendar == calendar_id).tuples()]
    ids = []
    for start in range(0, len(origins), 500):
        ids += [c for (c,) in Campaign.select(Campaign.id).where(Campaign.origin.in_(origins[start:start + 500])).tuples()]
    return ids


def filtered(f: LogFilter):
    """The Delivery query for a filter (no order, no limit)."""
    query = Delivery.select()
    if f.campaign is not None:
        runs = [f.campaign] + [c for (c,) in Campaign.select(Campaign.id).where(Campaign.parent == f.campaign).tuples()]
        query = query.where(Delivery.source_type == SOURCE, Delivery.source_id.in_(runs))
    if f.calendar is not None:
        query = query.where(Delivery.source_type == SOURCE, Delivery.source_id.in_(calendar_campaign_ids(f.calendar) or [0]))
    if f.channel:
        query = query.where(Delivery.channel == f.channel)
    if f.status == "sending":
        query = query.where(in_flight())
    elif f.status in WAITING:
        query = query.where(Delivery.status == f.status, Delivery.lease_token.is_null())
    elif f.status == "delivered":  # shown, not stored: a sent delivery with a receipt
        query = query.where(Delivery.status == "sent", Delivery.delivered_at.is_null(False))
    elif f.status:
        query = query.where(Delivery.status == f.status)
    if f.contact:
        query = query.where(Delivery.contact.in_(contacts_named(f.contact)))
    if f.since:
        query = query.where(Delivery.created_at >= f.since)
    if f.until:
        query = query.where(Delivery.created_at < f.until)
    return query


def log_page(f: LogFilter, before: int | None = None, limit: int = PAGE_SIZE) -> tuple[list[dict], int | None]:
    """One page of the log, newest first: (rows, the cursor of the next page or None)."""
    query = filtered(f)
    if before is not None:
        query = query.where(Delivery.id < before)
    rows = list(query.order_by(Delivery.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return describe(rows), (rows[-1].id if more and rows else None)


def describe(rows: list[Delivery]) -> list[dict]:
    """Rows with their contact's and campaign's names (two lookups for the page, not one per row)."""
    contacts = {c.id: c for c in Contact.select(Contact.id, Contact.name, Contact.email, Contact.phone,
                                                 Contact.external_id)
                .where(Contact.id.in_({r.contact_id for r in rows}))} if rows else {}
    campaign_ids = {r.source_id for r in rows if r.source_type == SOURCE}
    campaigns = dict(Campaign.select(Campaign.id, Campaign.name).where(Campaign.id.in_(campaign_ids)).tuples()) \
        if campaign_ids else {}
    out = []
    for r in rows:
        contact = contacts.get(r.contact_id)
        out.append({"delivery": r, "id": r.id, "contact_id": r.contact_id,
                    "contact": str(contact) if contact else f"#{r.contact_id}",
                    "campaign_id": r.source_id if r.source_type == SOURCE else None,
                    "campaign": campaigns.get(r.source_id, "") if r.source_type == SOURCE else r.source_type})
    return out


def export_rows(f: LogFilter, chunk: int = 2000):
    """Every row of the filtered log as CSV-ready tuples, read in keyset chunks (streamed, bounded memory)."""
    before = None
    while True:
        query = filtered(f)
        if before is not None:
            query = query.where(Delivery.id < before)
        rows = list(query.order_by(Delivery.id.desc()).limit(chunk))
        if not rows:
            return
        for item in describe(rows):
            r = item["delivery"]
            yield (r.id, item["campaign_id"] or "", item["campaign"], r.contact_id, item["contact"], r.channel,
                   r.state, r.reason, r.attempts, r.provider_id or "", r.error or "", r.idempotency_key,
                   _iso(r.created_at), _iso(r.sent_at), _iso(r.updated_at))
        before = rows[-1].id


def _iso(value) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value else ""


def active_campaigns(limit: int = 20) -> list[Campaign]:
    """Campaigns sending now (for the progress bars above the log)."""
    return list(Campaign.select().where(Campaign.status == "running").order_by(Campaign.id.desc()).limit(limit))
