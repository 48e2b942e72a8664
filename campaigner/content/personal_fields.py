"""Which personalisation fields content may use, checked when content is saved.

A field is known when it is one of:

- a contact's own field: ``name``, ``email``, ``phone``, ``external_id``;
- a field every send supplies: ``unsubscribe_url`` (see CONTEXT_FIELDS);
- an attribute field declared in the library's settings (the stored setting
  ``content.attribute_fields``, edited on Content → Personalisation fields or
  through the API), for attributes that contacts will have but may not have yet;
- an attribute some contact already has (``Contact.attributes`` keys), so a
  freshly imported CSV column can be used at once.

An unknown field is an error at save time, never a surprise at send time; a
contact that lacks a known field gets the field's default (``{{ city | 您所在的城市 }}``)
or nothing.
"""
from __future__ import annotations

import re

from campaigner.content.rendering import CONTACT_FIELDS, fields_used, malformed_fields
from campaigner.db import database, is_postgres
from campaigner.settings_store import get_value, set_value

SETTING = "content.attribute_fields"
# Filled by the delivery engine and the channels at send time, for every contact.
CONTEXT_FIELDS = ("unsubscribe_url", "coupon")  # coupon: campaigner.offers.coupons
FIELD_NAME = re.compile(r"^[A-Za-z_][\w.]{0,63}$")


def declared_fields() -> list[str]:
    """The attribute fields declared in the library's settings."""
    return list(get_value(SETTING, []) or [])


def declare_fields(names: list[str]) -> list[str]:
    """Replace the declared attribute fields; raise ValueError naming a bad name."""
    cleaned: list[str] = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if not FIELD_NAME.match(name):
            raise ValueError(name)
        if name not in cleaned and name not in CONTACT_FIELDS and name not in CONTEXT_FIELDS:
            cleaned.append(name)
    set_value(SETTING, cleaned)
    return cleaned


def seen_on_contacts(name: str) -> bool:
    """Whether any contact has the attribute `name` (stops at the first one found)."""
    if is_postgres():
        sql = "SELECT 1 FROM contact WHERE attributes::jsonb ? %s LIMIT 1"
        params = (name,)
    else:
        sql = "SELECT 1 FROM contact WHERE json_type(attributes, ?) IS NOT NULL LIMIT 1"
        params = ('$."' + name.replace('"', "") + '"',)
    return database.execute_sql(sql, params).fetchone() is not None


def attribute_fields_seen(limit: int = 200) -> list[str]:
    """Attribute names found on contacts (for the fields page; bounded, most recent contacts first)."""
    if is_postgres():
        sql = ("SELECT DISTINCT k FROM (SELECT jsonb_object_keys(attributes::jsonb) AS k FROM "
               "(SELECT attributes FROM contact ORDER BY id DESC LIMIT 5000) c) keys ORDER BY k LIMIT %s")
    else:
        sql = ("SELECT DISTINCT j.key FROM (SELECT attributes FROM contact ORDER BY id DESC LIMIT 5000) c, "
               "json_each(c.attributes) j ORDER BY j.key LIMIT ?")
    return [row[0] for row in database.execute_sql(sql, (limit,)).fetchall()]


def known_fields() -> list[str]:
    """Every field known without looking at contacts: the contact's own, the send's and the declared ones."""
    return [*CONTACT_FIELDS, *CONTEXT_FIELDS, *declared_fields()]


def unknown_fields(text: str) -> list[str]:
    """The fields `text` uses that no contact can fill, plus each malformed ``{{ … }}``."""
    known = set(known_fields())
    unknown = [name for name in fields_used(text) if name not in known and not seen_on_contacts(name)]
    return unknown + malformed_fields(text)
