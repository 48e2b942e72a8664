"""The content library's domain: saving with versions, status, restore, diff, deletion.

No Flask here. Messages meant for people are marked with `_` (a marker that
does not translate, so this module stays free of Flask); the views translate
them with `ContentError.translated`, the CLI and the API show them in English.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
import uuid
from dataclasses import dataclass

import peewee

from campaigner.content.models import KINDS, STATUSES, ContentItem, ContentVersion
from campaigner.content.personal_fields import unknown_fields
from campaigner.db import database, utcnow

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
# Paths under /content and /api/v1/content that a slug would otherwise shadow.
RESERVED_SLUGS = {"new", "media", "fields", "preview", "import", "export"}
TITLE_MAX = 200
TAG_MAX = 50
# Which status may follow which; "approved" is the only one that can be scheduled or sent.
TRANSITIONS = {
    "draft": ("approved", "archived"),
    "approved": ("draft", "archived"),
    "archived": ("draft",),
}
EDITED_FIELDS = ("title", "subject", "subjects", "kind", "body", "tags", "variants")


def _(message: str) -> str:
    """Mark `message` for translation; the view that shows it translates it."""
    return message


class ContentError(ValueError):
    """An operation on content that cannot be carried out; `message` % `params` says why."""

    def __init__(self, message: str, **params):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)

    def translated(self, gettext) -> str:
        """The message in the user's language, given flask_babel's gettext."""
        return gettext(self.message, **self.params)


class ContentValidationError(ContentError):
    """Content that cannot be saved; `errors` maps each bad field to a ContentError saying why."""

    def __init__(self, errors: dict[str, ContentError]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {error}" for name, error in errors.items()))


class ContentNotSendable(ContentError):
    """Content that may not be scheduled or sent because it is not approved."""


@dataclass
class SaveResult:
    item: ContentItem
    changed: bool  # False: the data matched what was there, so no version was written
    version: ContentVersion | None


# ---------------------------------------------------------------- cleaning


def normalize_text(text) -> str:
    """Text as stored: Unix newlines, no trailing whitespace at the end (forms send CRLF)."""
    return str(text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip()


def slugify(title: str) -> str:
    """An ASCII slug from `title`, or "" when nothing ASCII is left (Chinese titles)."""
    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].strip("-")


def unique_slug(title: str, kind: str) -> str:
    """A slug from the title that no item has yet; Chinese titles get "<kind>-<random>"."""
    base = slugify(title) or f"{kind}-{uuid.uuid4().hex[:8]}"
    base = f"{base}-item" if base in RESERVED_SLUGS else base
    slug, n = base, 2
    while ContentItem.select().where(ContentItem.slug == slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def parse_tags(value) -> list[str]:
    """Tags from a list or a comma-separated string (，and 、 too): trimmed, unique, in order."""
    if isinstance(value, str):
        value = re.split(r"[,，、]", value)
    tags: list[str] = []
    for tag in value or []:
        tag = str(tag).strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def clean_content(data: dict, item: ContentItem | None = None) -> dict:
    """Checked, normalised fields from `data`; raise ContentValidationError naming each bad one.

    Fields missing from `data` keep the item's value (or the default for a new item).
    """
    errors: dict[str, ContentError] = {}
    current = item or ContentItem(kind="article", status="draft", tags=[], variants={}, body="", title="",
                                  subject="", subjects={})

    def pick(name):
        return data[name] if name in data and data[name] is not None else getattr(current, name)

    title = str(pick("title") or "").strip()
    if not title:
        errors["title"] = ContentError(_("A title is required."))
    elif len(title) > TITLE_MAX:
        errors["title"] = ContentError(_("The title is longer than %(max)s characters."), max=TITLE_MAX)

    kind = str(pick("kind") or "")
    if kind not in KINDS:
        errors["kind"] = ContentError(_("Unknown kind %(kind)s; one of %(kinds)s."), kind=kind, kinds=", ".join(KINDS))

    status = str(pick("status") or "")
    if status not in STATUSES:
        errors["status"] = ContentError(_("Unknown status %(status)s; one of %(statuses)s."),
                                        status=status, statuses=", ".join(STATUSES))

    slug = str(data.get("slug") or "").strip().lower() if "slug" in data else (item.slug if item else "")
    if slug and not SLUG.match(slug):
        errors["slug"] = ContentError(_("A slug has lowercase letters, digits and dashes only (at most 120)."))
    elif slug in RESERVED_SLUGS:
        errors["slug"] = ContentError(_("%(slug)s is reserved; choose another slug."), slug=slug)
    elif slug and ContentItem.select().where(
            (ContentItem.slug == slug) & (ContentItem.id != (item.id if item else -1))).exists():
        errors["slug"] = ContentError(_("Another item has the slug %(slug)s."), slug=slug)

    raw_tags = pick("tags")
    if not isinstance(raw_tags, (list, tuple, str)):
        errors["tags"] = ContentError(_("Tags are a list of words."))
        tags = []
    else:
        tags = parse_tags(raw_tags)
        if any(len(t) > TAG_MAX for t in tags):
            errors["tags"] = ContentError(_("A tag is longer than %(max)s characters."), max=TAG_MAX)

    subject, subjects = _clean_subjects(pick("subject"), pick("subjects"), errors)
    body = normalize_text(pick("body"))
    raw_variants = pick("variants")
    variants: dict[str, str] = {}
    if not isinstance(raw_variants, dict):
        errors["variants"] = ContentError(_("Variants map a channel name to its text."))
    else:
        for channel, text in raw_variants.items():
            if not isinstance(text, (str, type(None))) or not re.match(r"^[a-z][a-z0-9_-]{0,39}$", str(channel)):
                errors["variants"] = ContentError(_("Variants map a channel name to its text."))
                break
            text = normalize_text(text)
            if text:  # an empty variant means "use the body"
                variants[str(channel)] = text

    texts = [("title", title), ("subject", subject), ("body", body),
             *[(f"subjects.{c}", t) for c, t in subjects.items()], *[(f"variants.{c}", t) for c, t in variants.items()]]
    for name, text in texts:
        unknown = unknown_fields(text)
        if unknown:
            errors[name] = ContentError(
                _("Unknown personalisation field %(fields)s: use a contact field (name, email, phone, "
                  "external_id) or a declared attribute, and {{ field | default }} for a fallback."),
                fields=", ".join(unknown))

    if errors:
        raise ContentValidationError(errors)
    return {"title": title, "subject": subject, "subjects": subjects, "slug": slug, "kind": kind, "status": status,
            "tags": tags, "body": body, "variants": dict(sorted(variants.items()))}


def _clean_subjects(raw_subject, raw_subjects, errors: dict) -> tuple[str, dict[str, str]]:
    """The item's subject and the channels' own subjects, each one line; bad ones recorded in `errors`."""
    subject = " ".join(str(raw_subject or "").split())
    if not isinstance(raw_subject, (str, type(None))):
        errors["subject"] = ContentError(_("A subject is one line of text."))
    elif len(subject) > TITLE_MAX:
        errors["subject"] = ContentError(_("The subject is longer than %(max)s characters."), max=TITLE_MAX)
    subjects: dict[str, str] = {}
    if not isinstance(raw_subjects, dict):
        errors["subjects"] = ContentError(_("Subjects map a channel name to its subject line."))
        return subject, subjects
    for channel, text in raw_subjects.items():
        if not isinstance(text, (str, type(None))) or not re.match(r"^[a-z][a-z0-9_-]{0,39}$", str(channel)):
            errors["subjects"] = ContentError(_("Subjects map a channel name to its subject line."))
            break
        text = " ".join((text or "").split())
        if len(text) > TITLE_MAX:
            errors[f"subjects.{channel}"] = ContentError(
                _("The subject is longer than %(max)s characters."), max=TITLE_MAX)
        elif text:  # an empty one means "use the item's subject"
            subjects[str(channel)] = text
    return subject, dict(sorted(subjects.items()))


# ---------------------------------------------------------------- saving


def _snapshot(item: ContentItem) -> dict:
    return {"title": item.title, "subject": item.subject or "", "subjects": dict(item.subjects or {}),
            "kind": item.kind, "body": item.body, "tags": list(item.tags or []), "variants": dict(item.variants or {})}


def save_content(item: ContentItem | None, data: dict, user=None, *, expected_version: int | None = None,
                 note: str | None = None) -> SaveResult:
    """Create or edit an item and keep the result as a new version; nothing is written when nothing changed.

    `expected_version` is the version the editor started from: a save over a newer
    one is refused rather than silently overwriting someone else's work.
    """
    with database.atomic():
        if item is not None:
            item = ContentItem.get_by_id(item.id)  # the current row, not the caller's copy
            if expected_version is not None and expected_version != item.version:
                raise ContentError(_("Someone saved this item since you opened it (version %(version)s). "
                                     "Reload it and apply your change again."), version=item.version)
        clean = clean_content(data, item)
        user_id = getattr(user, "id", None)
        now = utcnow()
        if item is None:
            clean["slug"] = clean["slug"] or unique_slug(clean["title"], clean["kind"])
            item = ContentItem.create(**clean, version=1, created_by=user_id, updated_by=user_id,
                                      created_at=now, updated_at=now)
            version = _write_version(item, user_id, note or "created")
            return SaveResult(item, True, version)
        clean["slug"] = clean["slug"] or item.slug
        before = {**_snapshot(item), "slug": item.slug, "status": item.status}
        if before == {k: clean[k] for k in before}:
            return SaveResult(item, False, None)
        edits_content = _snapshot(item) != {k: clean[k] for k in EDITED_FIELDS}
        updated = (ContentItem.update(**clean, updated_by=user_id, updated_at=now,
                                      version=ContentItem.version + (1 if edits_content else 0))
                   .where((ContentItem.id == item.id) & (ContentItem.version == item.version))
                   .execute())
        if not updated:  # another save won the race between our read and our write
            raise ContentError(_("Someone saved this item at the same moment. Reload it and try again."))
        item = ContentItem.get_by_id(item.id)
        version = _write_version(item, user_id, note or "edited") if edits_content else None
        return SaveResult(item, True, version)


def _write_version(item: ContentItem, user_id, note: str) -> ContentVersion:
    return ContentVersion.create(content=item.id, number=item.version, saved_by=user_id,
                                 saved_at=item.updated_at, note=note[:250], **_snapshot(item))


def change_status(item: ContentItem, status: str, user=None) -> ContentItem:
    """Move an item along draft → approved → archived (or back to draft)."""
    if status not in STATUSES:
        raise ContentError(_("Unknown status %(status)s; one of %(statuses)s."),
                           status=status, statuses=", ".join(STATUSES))
    if status == item.status:
        return item
    if status not in TRANSITIONS[item.status]:
        raise ContentError(_("Content that is %(current)s cannot become %(status)s."),
                           current=item.status, status=status)
    if status == "approved":
        texts = [item.title, item.subject, item.body, *(item.subjects or {}).values(), *(item.variants or {}).values()]
        if any(unknown_fields(text) for text in texts):  # a declared field was removed since the last save
            raise ContentError(_("Fix the unknown personalisation fields before approving."))
    item.status = status
    item.updated_by = getattr(user, "id", None)
    item.updated_at = utcnow()
    item.save(only=[ContentItem.status, ContentItem.updated_by, ContentItem.updated_at])
    return item


def ensure_sendable(content: ContentItem) -> ContentItem:
    """Return `content` re-read from the database if it may be scheduled or sent; raise ContentNotSendable if not.

    Call it when scheduling and again at send time: approval can be withdrawn in between.
    """
    current = ContentItem.get_or_none(ContentItem.id == content.id) if content is not None else None
    if current is None:
        raise ContentNotSendable(_("The content no longer exists."))
    if current.status != "approved":
        raise ContentNotSendable(_("%(title)s is %(status)s; only approved content can be scheduled or sent."),
                                 title=current.title, status=current.status)
    return current


def restore_version(item: ContentItem, number: int, user=None) -> SaveResult:
    """Make version `number` the current text again; the restore is itself a new version."""
    old = ContentVersion.get_or_none(ContentVersion.content == item.id, ContentVersion.number == number)
    if old is None:
        raise ContentError(_("There is no version %(number)s."), number=number)
    data = {"title": old.title, "subject": old.subject, "subjects": old.subjects, "kind": old.kind, "body": old.body,
            "tags": old.tags, "variants": old.variants}
    return save_content(item, data, user, note=f"restored version {number}")


def delete_content(item: ContentItem) -> None:
    """Delete an item with its versions; refused while a campaign uses it (archive it instead)."""
    try:
        with database.atomic():
            item.delete_instance()
    except peewee.IntegrityError:
        raise ContentError(_("A campaign uses this item, so it cannot be deleted; archive it instead.")) from None


def find_item(key) -> ContentItem | None:
    """The item with this id or slug."""
    key = str(key)
    if key.isdigit():
        found = ContentItem.get_or_none(ContentItem.id == int(key))
        if found:
            return found
    return ContentItem.get_or_none(ContentItem.slug == key)


# ---------------------------------------------------------------- versions and diffs


@dataclass
class FieldDiff:
    field: str  # "title", "subject", "body", "tags", "kind", "subjects.<channel>" or "variants.<channel>"
    lines: list[tuple[str, str]]  # (kind, text): kind is "add", "del", "ctx" or "hunk"


def version_fields(version) -> dict[str, str]:
    """A version (or item) as named text fields, for diffing."""
    fields = {"title": version.title, "subject": version.subject or "", "kind": version.kind,
              "tags": ", ".join(version.tags or []), "body": version.body}
    for channel, text in sorted((version.subjects or {}).items()):
        fields[f"subjects.{channel}"] = text
    for channel, text in sorted((version.variants or {}).items()):
        fields[f"variants.{channel}"] = text
    return fields


def diff_versions(old, new) -> list[FieldDiff]:
    """What changed from `old` to `new` (versions, or None for "nothing before"), field by field."""
    before = version_fields(old) if old is not None else {}
    after = version_fields(new)
    diffs = []
    for name in list(after) + [n for n in before if n not in after]:
        a, b = before.get(name, ""), after.get(name, "")
        if a == b:
            continue
        lines = []
        for line in list(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=2))[2:]:
            if line.startswith("@@"):
                lines.append(("hunk", line))
            elif line.startswith("+"):
                lines.append(("add", line[1:]))
            elif line.startswith("-"):
                lines.append(("del", line[1:]))
            else:
                lines.append(("ctx", line[1:]))
        diffs.append(FieldDiff(name, lines))
    return diffs


def changed_fields(old, new) -> list[str]:
    """The names of the fields that differ between two versions."""
    return [d.field for d in diff_versions(old, new)]
