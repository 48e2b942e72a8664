"""Contacts and tags as other features use them: phones in E.164, upsert by identifiers, tags, opt-outs, timeline."""
from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigner.audience.models import Contact, Tag
from campaigner.audience.services import (AudienceError, add_tags, contact_tag_keys, create_contact, normalize_phone,
                                          opt_in, opt_out, refresh_tag_sizes, remove_tags, upsert_contact)
from campaigner.audience.timeline import contact_timeline
from campaigner.db import database


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


@pytest.mark.parametrize("raw, e164", [
    ("13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("138-0013-8000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("0086 13800138000", "+8613800138000"),
    ("010 6552 9988", "+861065529988"),  # a Beijing landline
    ("+1 415 555 2671", "+14155552671"),
    ("+852 6123 4567", "+85261234567"),
])
def test_phones_are_stored_in_e164_with_china_as_the_default_region(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12345", "1380013800", "abc", "+86 100 0000 0000", ""])
def test_invalid_phones_are_refused(raw):
    with pytest.raises(AudienceError) as caught:
        normalize_phone(raw)
    assert caught.value.field == "phone"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"1[0-9]{10}", fullmatch=True), st.sampled_from(["{}", "+86{}", "86 {}", "{0:.3} {1}"]))
def test_fast_mainland_mobile_path_agrees_with_phonenumbers(number, shape):
    raw = shape.format(number, number[3:]) if "{1}" in shape else shape.format(number)
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        expected = None
    else:
        expected = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                    if phonenumbers.is_valid_number(parsed) else None)
    try:
        got = normalize_phone(raw)
    except AudienceError:
        got = None
    assert got == expected


def test_upsert_matches_by_external_id_then_phone_then_email(db):
    first, created = upsert_contact({"external_id": "E1", "phone": "13800138000"})
    assert created
    same, created = upsert_contact({"phone": "+86 13800138000", "name": "by phone"})
    assert not created and same.id == first.id and same.name == "by phone"
    other, created = upsert_contact({"external_id": "E2", "phone": "13800138000"})
    assert created and other.id != first.id  # another system's id: another person sharing a phone
    by_mail, _ = upsert_contact({"email": "x@example.com"})
    again, created = upsert_contact({"email": "X@Example.com ", "name": "mail"})
    assert not created and again.id == by_mail.id


def test_a_contact_needs_an_identifier(db):
    with pytest.raises(AudienceError):
        create_contact({"name": "nobody"})


def test_tags_are_created_in_their_group_and_sizes_follow(db):
    contact = create_contact({"phone": "13800138000"})
    assert add_tags(contact, ["渠道:门店", "vip", "vip"]) == ["vip", "渠道:门店"]
    assert add_tags(contact, ["vip"]) == []
    tag = Tag.get(Tag.key == "渠道:门店")
    assert (tag.group.name, tag.name, tag.size) == ("渠道", "门店", 1)
    assert remove_tags(contact, ["vip", "unknown"]) == ["vip"]
    assert Tag.get(Tag.key == "vip").size == 0
    Tag.update(size=99).execute()
    refresh_tag_sizes()
    assert {t.key: t.size for t in Tag.select()} == {"vip": 0, "渠道:门店": 1}


@pytest.mark.parametrize("key", ["", ":门店", "渠道:", " "])
def test_malformed_tag_keys_are_refused(db, key):
    contact = create_contact({"phone": "13800138000"})
    with pytest.raises(AudienceError):
        add_tags(contact, [key])


def test_tagging_by_contact_id_works_for_other_features(db):
    contact = create_contact({"phone": "13800138000"})
    add_tags(contact.id, ["interest:咖啡"], source="click")
    assert contact_tag_keys(contact.id) == ["interest:咖啡"]


def test_opt_out_and_back_in_are_on_the_timeline(db):
    contact = create_contact({"phone": "13800138000"}, tags=["vip"])
    assert opt_out(contact, "sms", "unsubscribe link")
    assert not opt_out(contact, "sms", "again")
    kinds = [(e.kind, e.summary) for e in contact_timeline(contact)]
    assert ("opted_out", "sms") in kinds and ("tag_added", "vip") in kinds and kinds[-1][0] == "created"
    assert opt_in(contact, "sms")
    kinds = [(e.kind, e.summary) for e in contact_timeline(contact)]
    assert ("opted_in", "sms") in kinds and ("opted_out", "sms") not in kinds


def test_deleting_a_contact_removes_its_tags_and_timeline(db):
    contact = create_contact({"phone": "13800138000"}, tags=["vip"])
    Contact.delete().where(Contact.id == contact.id).execute()
    assert contact_timeline(contact.id) == []
