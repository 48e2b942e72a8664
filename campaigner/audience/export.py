"""The audience as CSV: every contact with its tags, streamed in keyset chunks (no Flask here)."""
from __future__ import annotations

import json
from typing import Iterator

from campaigner.audience.models import Contact, ContactTag, Tag

CONTACT_COLUMNS = ["id", "external_id", "name", "email", "phone", "chat_id", "openid", "timezone", "tags",
                   "attributes", "created_at"]
CHUNK = 1000


def contact_rows() -> Iterator[list]:
    """One row per contact in CONTACT_COLUMNS order; tags as their keys joined by "; ", attributes as JSON."""
    after = 0
    while True:
        contacts = list(Contact.select().where(Contact.id > after).order_by(Contact.id).limit(CHUNK))
        if not contacts:
            return
        tags: dict[int, list[str]] = {}
        for contact_id, key in (ContactTag.select(ContactTag.contact, Tag.key).join(Tag)
                                .where(ContactTag.contact.in_([c.id for c in contacts])).order_by(Tag.key).tuples()):
            tags.setdefault(contact_id, []).append(key)
        for c in contacts:
            yield [c.id, c.external_id, c.name, c.email, c.phone, c.chat_id, c.openid, c.timezone,
                   "; ".join(tags.get(c.id, [])), json.dumps(c.attributes or {}, ensure_ascii=False, sort_keys=True),
                   c.created_at.isoformat(sep=" ", timespec="seconds") if c.created_at else ""]
        after = contacts[-1].id
