"""Tags a computation owns (RFM classes, super users, fan tiers, lifecycle stages), brought in line with a new result.

The computation says which of its tags each contact should carry now; this
adds and removes only the difference, writes one timeline event per contact
whose tags changed (so "silent → at risk" shows on the contact's timeline),
and refreshes the sizes of those tags. Tags outside `keys` are never touched.
"""
from __future__ import annotations

import datetime as dt

from campaigner.audience.models import ContactEvent, ContactTag, Tag
from campaigner.audience.services import ensure_tags


def replace_computed_tags(keys: list[str], wanted: dict[int, set[str]], now: dt.datetime, *, source: str,
                          event_kind: str) -> int:
    """Make each contact carry exactly its `wanted` tags among `keys`; return how many contacts changed.

    Call inside a transaction: a half-applied result would mix two computations.
    """
    tags = ensure_tags(keys)
    key_of = {tag.id: key for key, tag in tags.items()}
    current: dict[int, set[str]] = {}
    for tag_id, contact_id in (ContactTag.select(ContactTag.tag, ContactTag.contact)
                               .where(ContactTag.tag.in_(list(key_of))).tuples()):
        current.setdefault(contact_id, set()).add(key_of[tag_id])
    added, removed, events = [], [], []
    for contact_id in sorted(set(wanted) | set(current)):
        new, old = wanted.get(contact_id, set()), current.get(contact_id, set())
        if new == old:
            continue
        added += [(tags[k].id, contact_id) for k in sorted(new - old)]
        removed += [(tags[k].id, contact_id) for k in sorted(old - new)]
        summary = ", ".join([f"+{k}" for k in sorted(new - old)] + [f"-{k}" for k in sorted(old - new)])
        events.append({"contact": contact_id, "at": now, "kind": event_kind, "summary": summary,
                       "details": {"added": sorted(new - old), "removed": sorted(old - new)}})
    by_tag: dict[int, list[int]] = {}
    for tag_id, contact_id in removed:
        by_tag.setdefault(tag_id, []).append(contact_id)
    for tag_id, contacts in by_tag.items():
        for chunk in _chunks(contacts, 500):
            ContactTag.delete().where(ContactTag.tag == tag_id, ContactTag.contact.in_(chunk)).execute()
    rows_to_add = [{"tag": t, "contact": c, "added_at": now, "source": source} for t, c in added]
    for chunk in _chunks(rows_to_add, 1000):
        ContactTag.insert_many(chunk).on_conflict_ignore().execute()
    for chunk in _chunks(events, 500):
        ContactEvent.insert_many(chunk).execute()
    for tag in tags.values():
        Tag.update(size=ContactTag.select().where(ContactTag.tag == tag.id).count()).where(Tag.id == tag.id).execute()
    return len(events)


def tag_sizes(keys: list[str]) -> dict[str, int]:
    """How many contacts carry each of `keys` now (0 for a tag not made yet)."""
    sizes = dict.fromkeys(keys, 0)
    for key, size in (Tag.select(Tag.key, Tag.size).where(Tag.key.in_(keys)).tuples()):
        sizes[key] = size
    return sizes


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
