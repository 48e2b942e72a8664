"""Contacts and tags: create and update contacts, tag and untag them, keep their timeline.

Plain functions over the models, no Flask: the views, the API, the importer and
other features (live codes tag arrivals, the unsubscribe page opts out) call these.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable

import phonenumbers
import peewee

from campaigner.events import services as contact_events  # the core event record (hook: contact_event)
from campaigner.audience import optouts
from campaigner.audience.models import Contact, ContactEvent, ContactTag, Tag, TagGroup
from campaigner.audience.reasons import reason_text, shown_value
from campaigner.db import database, utcnow

DEFAULT_REGION = "CN"
CONTACT_FIELDS = ("external_id", "name", "email", "phone", "chat_id", "openid", "timezone")
IDENTIFIERS = ("external_id", "phone", "email", "chat_id", "openid")
MAX_TAG_KEY = 200

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# The contact form's limit on its attributes box, held for every way in.
MAX_ATTRIBUTES_LENGTH = 20_000


class AudienceError(ValueError):
    """Bad contact or tag data; `field` names what is wrong (None when it is the whole record).

    `code` and `params` say why in a form the pages translate (`campaigner.audience.reasons`);
    `message` is the English sentence.
    """

    def __init__(self, message: str, field: str | None = None, *, code: str = "", params: dict | None = None):
        super().__init__(message)
        self.message, self.field, self.code, self.params = message, field, code, params or {}

    @classmethod
    def because(cls, code: str, field: str | None = None, **params) -> "AudienceError":
        """The error for a reason code of `campaigner.audience.reasons`, its English sentence filled in."""
        return cls(reason_text(code, params), field, code=code, params=params)


# ---------------------------------------------------------------- cleaning


_CN_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1\d{10})$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


@functools.lru_cache(maxsize=None)  # at most 100,000 blocks "1xxxxx"
def _cn_mobile_block_valid(first_six: str) -> bool:
    # Mainland mobile numbers are valid or not by their first digits (the carrier's block; no
    # rule in phonenumbers' metadata looks past the sixth). Asking phonenumbers once per block
    # instead of once per number makes imports several times faster; a test compares the two
    # on random numbers so a metadata change that breaks this is noticed.
    number = phonenumbers.parse(f"+86{first_six}00000", None)
    return phonenumbers.is_valid_number(number)


UNVERIFIED_TAG = "phone_unverified"  # the tag an import puts on a contact whose number is possible but not listed

_CN_MOBILE_SHAPE = re.compile(r"^(?:\+86|0086|86)?(1\d*)$")
_TOO = {phonenumbers.ValidationResult.TOO_SHORT: "phone_too_short",
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "phone_too_short",
        phonenumbers.ValidationResult.TOO_LONG: "phone_too_long",
        phonenumbers.ValidationResult.INVALID_LENGTH: "phone_too_long",
        phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "phone_bad_country"}


def check_phone(raw: str, region: str = DEFAULT_REGION) -> tuple[str, bool]:
    """(`raw` as E.164, whether it is in a range known to be allocated); raise `AudienceError` when impossible.

    The phone library's list of allocated ranges lags the carriers (mainland 140–149, 154, 16x,
    174, 179, 194… are missing), so a number that is *possible* for its region is kept and
    reported unverified; only an impossible one is refused, with the reason (too short, too long,
    not a mobile range).
    """
    text = str(raw or "").strip()
    if not text:
        raise AudienceError.because("phone_empty", "phone")
    value = shown_value(raw)
    if region == "CN":
        compact = _PHONE_PUNCTUATION.sub("", text)
        mobile = _CN_MOBILE.match(compact)
        if mobile and _cn_mobile_block_valid(mobile.group(1)[:6]):
            return "+86" + mobile.group(1), True
        shaped = _CN_MOBILE_SHAPE.match(compact)
        if shaped:  # a mainland mobile number: eleven digits, 13–19
            digits = shaped.group(1)
            if len(digits) < 11:
                raise AudienceError.because("phone_too_short", "phone", value=value)
            if len(digits) > 11:
                raise AudienceError.because("phone_too_long", "phone", value=value)
            if digits[1] in "012":
                raise AudienceError.because("phone_not_mobile_range", "phone", value=value)
            return "+86" + digits, False
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        code = {phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "phone_bad_country",
                phonenumbers.NumberParseException.TOO_SHORT_NSN: "phone_too_short",
                phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "phone_too_short",
                phonenumbers.NumberParseException.TOO_LONG: "phone_too_long"}.get(exc.error_type, "phone_not_a_number")
        raise AudienceError.because(code, "phone", value=value) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(number):
        return e164, True
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise AudienceError.because(_TOO.get(possible, "phone_not_valid"), "phone", value=value)
    return e164, False


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` as E.164 (+8613800138000); raise `AudienceError` when it is not a known-valid number."""
    number, verified = check_phone(raw, region)
    if not verified:
        raise AudienceError.because("phone_not_valid", "phone", value=shown_value(raw))
    return number


def normalize_email(raw: str) -> str:
    """`raw` trimmed and lower-cased; raise `AudienceError` when it does not look like an address."""
    text = str(raw or "").strip().lower()
    if not _EMAIL.match(text) or len(text) > 254:
        raise AudienceError.because("email_invalid", "email", value=shown_value(raw))
    return text


def normalize_timezone(raw: str) -> str:
    """An IANA time zone name, checked; raise `AudienceError` when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = str(raw or "").strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise AudienceError.because("timezone_unknown", "timezone", value=shown_value(raw)) from None
    return text


def clean_contact_fields(data: dict, *, region: str = DEFAULT_REGION) -> dict:
    """The contact fields of `data`, validated and normalised; empty strings become None.

    Raises `AudienceError` naming the first bad field. Unknown keys are ignored;
    ``attributes`` must be an object of strings/numbers/booleans.
    """
    clean: dict = {}
    for name in CONTACT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is not None and not isinstance(value, (str, int)):
            raise AudienceError.because("not_text", name, field=name)
        value = "" if value is None else str(value).strip()
        if name == "name":
            # The same limit as the contact form's, for the API and imports too: refused, not cut.
            if len(value) > 255:
                raise AudienceError("name is longer than 255 characters", name)
            clean[name] = value
            continue
        if not value:
            clean[name] = None
        elif name == "phone":
            clean[name] = normalize_phone(value, region)
        elif name == "email":
            clean[name] = normalize_email(value)
        elif name == "timezone":
            clean[name] = normalize_timezone(value)
        else:
            if len(value) > 255:
                raise AudienceError.because("too_long", name)
            clean[name] = value
    if "attributes" in data and data["attributes"] is not None:
        attributes = data["attributes"]
        if not isinstance(attributes, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool)))
                for k, v in attributes.items()):
            raise AudienceError.because("attributes_invalid", "attributes")
        if len(json.dumps(attributes, ensure_ascii=False)) > MAX_ATTRIBUTES_LENGTH:
            raise AudienceError(f"attributes are longer than {MAX_ATTRIBUTES_LENGTH:,} characters as JSON", "attributes")
        clean["attributes"] = attributes
    return clean


# ---------------------------------------------------------------- contacts


def find_contact(*, external_id=None, phone=None, email=None, chat_id=None, openid=None) -> Contact | None:
    """The existing contact these identifiers name: by external id, then phone, then email, chat id, openid.

    A contact with a different external id never matches on the other identifiers:
    the external id is the other system's word on who is who.
    """
    if external_id:
        found = Contact.get_or_none(Contact.external_id == external_id)
        if found:
            return found
    for name, value in (("phone", phone), ("email", email), ("chat_id", chat_id), ("openid", openid)):
        if not value:
            continue
        query = Contact.select().where(getattr(Contact, name) == value)
        if external_id:
            query = query.where(Contact.external_id.is_null() | (Contact.external_id == external_id))
        found = query.order_by(Contact.id).first()
        if found:
            return found
    return None


def create_contact(data: dict, *, source: str = "", tags: Iterable[str] = ()) -> Contact:
    """A new contact from `data` (validated); raise `AudienceError` when it has no identifier or is taken."""
    clean = clean_contact_fields(data)
    if not any(clean.get(name) for name in IDENTIFIERS):
        raise AudienceError("a contact needs an external id, phone, email, chat id or openid", None)
    if clean.get("external_id") and Contact.select().where(Contact.external_id == clean["external_id"]).exists():
        raise AudienceError(f"external id {clean['external_id']!r} is taken", "external_id")
    with database.atomic():
        contact = Contact.create(**clean)
        record_event(contact, "created", source or "created")
        if tags:
            add_tags(contact, tags, source)
    return contact


def update_contact(contact: Contact, data: dict, *, source: str = "") -> Contact:
    """Change the fields given in `data` (validated); ``attributes`` are merged, a None value removes one."""
    clean = clean_contact_fields(data)
    attributes = clean.pop("attributes", None)
    if clean.get("external_id") and clean["external_id"] != contact.external_id and Contact.select().where(
            Contact.external_id == clean["external_id"]).exists():
        raise AudienceError(f"external id {clean['external_id']!r} is taken", "external_id")
    changed = [name for name, value in clean.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, clean[name])
    if attributes:
        merged = dict(contact.attributes or {})
        for key, value in attributes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != contact.attributes:
            contact.attributes = merged
            changed.append("attributes")
    if changed:
        contact.updated_at = utcnow()
        contact.save()
        record_event(contact, "updated", ", ".join(changed), {"fields": changed, "source": source})
    return contact


def upsert_contact(data: dict, *, source: str = "", tags: Iterable[str] = ()) -> tuple[Contact, bool]:
    """Create the contact or update the one its identifiers name (external id, phone, email…); (contact, created)."""
    clean = clean_contact_fields(data)
    existing = find_contact(**{name: clean.get(name) for name in IDENTIFIERS})
    with database.atomic():
        if existing is None:
            contact = create_contact(data, source=source, tags=tags)
            return contact, True
        update_contact(existing, data, source=source)
        if tags:
            add_tags(existing, tags, source)
    return existing, False


# ---------------------------------------------------------------- tags


def split_tag_key(key: str) -> tuple[str | None, str]:
    """("group", "name") from "group:name", (None, "name") from "name"."""
    group, sep, name = key.partition(":")
    return (group.strip(), name.strip()) if sep else (None, key.strip())


def clean_tag_key(key: str) -> str:
    """A tag key trimmed and checked; raise `AudienceError` when it is empty or too long."""
    group, name = split_tag_key(str(key or ""))
    if not name or group == "":
        raise AudienceError.because("tag_invalid", "tags", value=shown_value(key))
    clean = f"{group}:{name}" if group else name
    if len(clean) > MAX_TAG_KEY:
        raise AudienceError.because("tag_too_long", "tags", value=clean[:20], limit=MAX_TAG_KEY)
    return clean


def ensure_tags(keys: Iterable[str]) -> dict[str, Tag]:
    """The tags with these keys, created (with their groups) where missing; key -> Tag."""
    wanted = sorted({clean_tag_key(k) for k in keys})
    found: dict[str, Tag] = {}
    for chunk in _chunks(wanted, 500):
        found.update({t.key: t for t in Tag.select().where(Tag.key.in_(chunk))})
    missing = [k for k in wanted if k not in found]
    if missing:
        groups = {g for g in (split_tag_key(k)[0] for k in missing) if g}
        for name in sorted(groups):
            TagGroup.insert(name=name).on_conflict_ignore().execute()
        group_ids = {g.name: g.id for g in TagGroup.select().where(TagGroup.name.in_(sorted(groups)))} if groups else {}
        rows = []
        for key in missing:
            group, name = split_tag_key(key)
            rows.append({"key": key, "name": name, "group": group_ids.get(group) if group else None})
        for chunk in _chunks(rows, 200):
            Tag.insert_many(chunk).on_conflict_ignore().execute()
        for chunk in _chunks(missing, 500):
            found.update({t.key: t for t in Tag.select().where(Tag.key.in_(chunk))})
    return found


def add_tags(contact, keys: Iterable[str], source: str = "") -> list[str]:
    """Tag `contact` with each key (creating tags as needed); return the keys it did not have yet."""
    keys = list(keys)
    if not keys:
        return []
    contact_id = getattr(contact, "id", contact)
    tags = ensure_tags(keys)
    now = utcnow()
    added = []
    with database.atomic():
        for key, tag in sorted(tags.items()):
            inserted = (ContactTag.insert(tag=tag.id, contact=contact_id, added_at=now, source=source)
                        .on_conflict_ignore().as_rowcount().execute())
            if inserted:
                added.append(key)
                Tag.update(size=Tag.size + 1).where(Tag.id == tag.id).execute()
        for key in added:
            record_event(contact_id, "tag_added", key, {"source": source} if source else None, at=now)
            contact_events.record_event("tag_added", contact_id, source=source, at=now, details={"tag": key})
    return added


def remove_tags(contact, keys: Iterable[str], source: str = "") -> list[str]:
    """Take these tags off `contact`; return the keys it had."""
    contact_id = getattr(contact, "id", contact)
    wanted = sorted({str(k).strip() for k in keys if str(k).strip()})
    if not wanted:
        return []
    tags = list(Tag.select().where(Tag.key.in_(wanted)))
    removed = []
    now = utcnow()
    with database.atomic():
        for tag in tags:
            deleted = ContactTag.delete().where(ContactTag.tag == tag.id, ContactTag.contact == contact_id).execute()
            if deleted:
                removed.append(tag.key)
                Tag.update(size=peewee.fn.MAX(Tag.size - 1, 0) if not _pg() else peewee.fn.GREATEST(Tag.size - 1, 0)
                           ).where(Tag.id == tag.id).execute()
        for key in sorted(removed):
            record_event(contact_id, "tag_removed", key, {"source": source} if source else None, at=now)
            contact_events.record_event("tag_removed", contact_id, source=source, at=now, details={"tag": key})
    return sorted(removed)


def contact_tag_keys(contact) -> list[str]:
    """The keys of every tag `contact` carries, sorted."""
    contact_id = getattr(contact, "id", contact)
    return sorted(t.key for t in Tag.select(Tag.key).join(ContactTag).where(ContactTag.contact == contact_id))


def refresh_tag_sizes() -> int:
    """Recount how many contacts carry each tag (the compiler's join order reads it); return tags updated."""
    counts = dict(ContactTag.select(ContactTag.tag, peewee.fn.COUNT(peewee.SQL("*")))
                  .group_by(ContactTag.tag).tuples())
    changed = 0
    with database.atomic():
        for tag_id, size in Tag.select(Tag.id, Tag.size).tuples():
            new = counts.get(tag_id, 0)
            if new != size:
                Tag.update(size=new).where(Tag.id == tag_id).execute()
                changed += 1
    return changed


def delete_tag(tag: Tag) -> int:
    """Delete a tag and take it off every contact; return how many contacts carried it."""
    with database.atomic():
        count = ContactTag.delete().where(ContactTag.tag == tag.id).execute()
        tag.delete_instance()
    return count


# ---------------------------------------------------------------- opt-outs and timeline


def opt_out(contact, channel: str, source: str) -> bool:
    """Opt `contact` out of `channel` (the timeline reads the opt-out itself); False when it already was."""
    return optouts.opt_out(contact, channel, source)


def opt_in(contact, channel: str, source: str = "") -> bool:
    """Undo an opt-out (the contact asked to hear from us again); False when there was none."""
    with database.atomic():
        done = optouts.opt_in(contact, channel)
        if done:
            record_event(contact, "opted_in", channel, {"source": source} if source else None)
    return done


def record_event(contact, kind: str, summary: str = "", details: dict | None = None, at=None) -> None:
    """Add a line to the contact's timeline (tags, opt-outs, imports and other features' events)."""
    ContactEvent.insert(contact=getattr(contact, "id", contact), kind=kind, summary=summary,
                        details=details, at=at or utcnow()).execute()


def _pg() -> bool:
    from campaigner.db import is_postgres

    return is_postgres()


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- lists and previews


def contact_matches(q: str):
    """The condition a search box puts on contacts: part of a name or email (any case; % and _ are literal),
    part of a phone number (3 digits or more), or an id, external id, chat id or openid as a whole."""
    q = q.strip()
    condition = Contact.name.contains(q) | Contact.email.contains(q) | (Contact.external_id == q) | \
        (Contact.chat_id == q) | (Contact.openid == q)
    if q.isdigit():
        condition |= Contact.id == int(q)
    digits = re.sub(r"[^\d+]", "", q)
    if len(digits) >= 3:
        condition |= Contact.phone.contains(digits.lstrip("+"))
    return condition


def contacts_query(q: str = "", expression: str = ""):
    """The contacts matching the search text and the audience expression (no order); raises `ExpressionError`."""
    from campaigner.audience.expressions import compile_audience

    query = Contact.select()
    q = (q or "").strip()
    if q:
        query = query.where(contact_matches(q))
    if (expression or "").strip():
        query = query.where(Contact.id.in_(compile_audience(expression)))
    return query


def search_contacts(q: str = "", expression: str = "", page: int = 1, per_page: int = 50):
    """(contacts on `page`, total) matching the search text and the audience expression, newest first.

    Raises `ExpressionError` for a bad expression.
    """
    query = contacts_query(q, expression)
    total = query.count()
    page = max(1, page)
    items = list(query.order_by(Contact.id.desc()).paginate(page, per_page))
    return items, total


def preview_audience(expression: str, channel: str | None = None, sample: int = 10) -> dict:
    """What the segment builder shows: {"count", "sample"} or {"error", "position"} for a bad expression."""
    from campaigner.audience.expressions import (ExpressionError, TagTerm, compile_audience, count_query,
                                                 parse_expression, terms)

    try:
        query = compile_audience(expression, channel or None)
        count = count_query(query)
    except ExpressionError as exc:
        return {"error": exc.message, "position": exc.position, "expression": expression or ""}
    keys = sorted({t.key for t in terms(parse_expression(expression)) if isinstance(t, TagTerm)})
    known = {t.key for t in Tag.select(Tag.key).where(Tag.key.in_(keys))} if keys else set()
    ids = [row[0] for row in database.execute(query.limit(sample)).fetchall()] if count else []
    contacts = list(Contact.select().where(Contact.id.in_(ids)).order_by(Contact.id)) if ids else []
    return {"count": count, "sample": contacts, "unknown_tags": [k for k in keys if k not in known]}


# ---------------------------------------------------------------- segments


def save_segment(name: str, expression: str, channel: str | None = None, description: str = "",
                 user=None, segment=None):
    """Create or change a saved segment; raise `AudienceError` for a taken name, `ExpressionError` for a bad expression."""
    from campaigner.audience.expressions import compile_audience
    from campaigner.audience.models import Segment

    name = (name or "").strip()
    if not name:
        raise AudienceError("a segment needs a name", "name")
    if len(name) > 200:
        raise AudienceError("the name is longer than 200 characters", "name")
    expression = (expression or "").strip()
    channel = (channel or "").strip() or None
    compile_audience(expression, channel)  # raises ExpressionError with the position
    clash = Segment.select().where(Segment.name == name)
    if segment is not None:
        clash = clash.where(Segment.id != segment.id)
    if clash.exists():
        raise AudienceError(f"a segment named {name!r} exists", "name")
    now = utcnow()
    if segment is None:
        return Segment.create(name=name, expression=expression, channel=channel, description=description or "",
                              created_by=getattr(user, "id", None), created_at=now, updated_at=now)
    segment.name, segment.expression, segment.channel = name, expression, channel
    segment.description = description or ""
    segment.updated_at = now
    segment.save()
    return segment


def segment_count(segment) -> int | None:
    """How many contacts the segment selects now (None when its expression no longer compiles)."""
    from campaigner.audience.expressions import ExpressionError, count_audience

    try:
        return count_audience(segment.expression, segment.channel or None)
    except ExpressionError:
        return None


def segment_users(segment) -> list[str]:
    """What still targets the segment ("campaign #3", "calendar #1"), found through every foreign key to it.

    Their foreign keys are ON DELETE SET NULL, and a campaign without a segment or an
    expression targets everyone: a segment in use must not be deleted.
    """
    users = []
    for fk, model in sorted(type(segment)._meta.backrefs.items(), key=lambda item: item[1].__name__):
        for (row_id,) in model.select(model._meta.primary_key).where(fk == segment.id).limit(5).tuples():
            users.append(f"{model.__name__.lower()} #{row_id}")
    return users


def delete_segment(segment) -> None:
    """Delete a segment nothing targets; raise `AudienceError` naming what still uses it."""
    users = segment_users(segment)
    if users:
        raise AudienceError(f"still used by {', '.join(users)}", "segment")
    segment.delete_instance()
