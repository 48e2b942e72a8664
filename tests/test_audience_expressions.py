"""Audience expressions: the language, its errors, and compiled SQL that agrees with plain Python."""
from __future__ import annotations

import threading

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.audience.expressions import (And, ExpressionError, Not, Or, TagTerm, audience_ids, compile_audience,
                                             count_audience, parse_expression)
from campaigner.db import database
from tests.conftest import BACKEND
from tests.fixtures_audience import TAG_POOL, Person, clear_world, evaluate, load_world, render


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


@pytest.fixture
def shop(db):
    """Five contacts of a coffee brand, tagged as the issue's example needs."""
    return load_world([
        Person(tags={"渠道:门店", "vip"}, phone="+8613800000001", email="a@example.com", city="上海"),
        Person(tags={"渠道:门店", "rfm:A"}, phone="+8613800000002", opted_out={"sms"}, timezone="Europe/Berlin"),
        Person(tags={"渠道:门店", "vip", "投诉"}, email="c@example.com", city="北京"),
        Person(tags={"渠道:线上", "vip"}, phone="+8613800000004"),
        Person(tags=set(), email="e@example.com", opted_out={"email"}),
    ])


def ids(people, *indexes):
    return {people[i].id for i in indexes}


# ---------------------------------------------------------------- the language


def test_issue_example_selects_store_vips_and_rfm_a_without_complaints(shop):
    expression = 'tag:"渠道:门店" AND (tag:vip OR rfm:A) AND NOT tag:投诉'
    assert set(audience_ids(expression)) == ids(shop, 0, 1)
    assert count_audience(expression) == 2


def test_empty_expression_is_everyone(shop):
    assert set(audience_ids("")) == ids(shop, 0, 1, 2, 3, 4)
    assert count_audience("   ") == 5


def test_channel_keeps_only_reachable_contacts_that_have_not_opted_out(shop):
    assert set(audience_ids("", "sms")) == ids(shop, 0, 3)  # #1 opted out of sms, #2 and #4 have no phone
    assert set(audience_ids("", "email")) == ids(shop, 0, 2)  # #4 opted out of email
    assert set(audience_ids("tag:vip AND channel:email")) == ids(shop, 0, 2)
    assert count_audience('tag:"渠道:门店"', "sms") == 1


def test_attributes_and_time_zones(shop):
    assert set(audience_ids('attr:city="上海"')) == ids(shop, 0)
    assert set(audience_ids("attr:city")) == ids(shop, 0, 2)
    assert set(audience_ids("attr:city!=上海")) == ids(shop, 1, 2, 3, 4)
    assert set(audience_ids("tz:Europe/Berlin")) == ids(shop, 1)
    # Contacts without a time zone have the instance's (Asia/Shanghai by default).
    assert set(audience_ids("tz:Asia/Shanghai")) == ids(shop, 0, 2, 3, 4)


def test_not_binds_tighter_than_and_and_and_tighter_than_or(shop):
    assert set(audience_ids("tag:投诉 OR tag:vip AND tag:渠道:线上")) == ids(shop, 2, 3)
    assert set(audience_ids("NOT tag:vip AND tag:渠道:门店")) == ids(shop, 1)
    assert parse_expression("tag:a OR tag:b AND NOT tag:c") == Or(
        (TagTerm("a"), And((TagTerm("b"), Not(TagTerm("c"))))))


def test_keywords_in_any_case_and_chinese_parentheses_and_quotes(shop):
    assert set(audience_ids("tag:vip and not (tag:投诉 or tag:渠道:线上)")) == ids(shop, 0)
    assert set(audience_ids("tag:vip AND NOT （tag:投诉）")) == ids(shop, 0, 3)
    assert set(audience_ids("tag:“渠道:门店” AND rfm:a")) == ids(shop, 1)


def test_a_tag_nobody_has_matches_nobody_and_its_negation_everybody(shop):
    assert audience_ids("tag:no-such-tag") == []
    assert count_audience("NOT tag:no-such-tag") == 5


@pytest.mark.parametrize("text, position, words", [
    ("tag:vip AND", 11, "ends too early"),
    ("tag:vip AND (tag:a OR", 21, "ends too early"),
    ("tag:", 4, "value is missing"),
    ("colour:red", 0, "unknown term 'colour'"),
    ("tag:vip tag:x", 8, "AND, OR"),
    ("tag:vip)", 7, "no opening"),
    ('tag:"渠道:门店', 4, "quote is not closed"),
    ("rfm:Z", 4, "A to H"),
    ("AND tag:vip", 0, "needs a term before it"),
    ("tz:Mars/Olympus", 3, "unknown time zone"),
    ("channel:fax", 8, "unknown channel"),
])
def test_errors_point_at_the_position(text, position, words):
    from campaigner.audience.expressions import compile_node

    with pytest.raises(ExpressionError) as caught:
        compile_node(parse_expression(text))  # channels are checked before the database is asked anything
    assert caught.value.position == position
    assert words in caught.value.message
    assert caught.value.caret(text).splitlines()[1] == " " * position + "^"


def test_unknown_channel_parameter_is_an_error():
    with pytest.raises(ExpressionError):
        compile_audience("tag:vip", "carrier-pigeon")


# ---------------------------------------------------------------- the SQL


def test_compiled_query_is_one_select_usable_as_a_subquery(shop):
    from campaigner.audience.models import Contact

    query = compile_audience('tag:"渠道:门店" AND NOT tag:投诉', "sms")
    assert isinstance(query, peewee.SelectBase)
    assert [c.id for c in Contact.select().where(Contact.id.in_(query))] == [shop[0].id]


def test_required_tags_are_joined_rarest_first_and_excluded_ones_anti_joined(shop):
    sql, params = compile_audience('tag:"渠道:门店" AND tag:rfm:A AND NOT tag:投诉').sql()
    from campaigner.audience.models import Tag
    from campaigner.db import is_postgres

    rare, common, excluded = (Tag.get(Tag.key == k).id for k in ("rfm:A", "渠道:门店", "投诉"))
    assert "GROUP BY" not in sql
    if is_postgres():
        # One row per contact: tag_ids @> ARRAY[required] AND NOT tag_ids && ARRAY[excluded], over a GIN index.
        assert '"contact_tag_set"' in sql and "JOIN" not in sql
        assert params == [sorted([rare, common]), [excluded]]
        return
    assert "LEFT OUTER JOIN" in sql and "IS NULL" in sql
    # FROM t1 JOIN t2 ON t2.tag_id = <common> LEFT JOIN n3 ON n3.tag_id = <excluded> WHERE t1.tag_id = <rarest>
    assert params == [common, excluded, rare]


def _tag_arrays() -> dict[int, list[int]]:
    rows = database.execute_sql("SELECT contact_id, tag_ids FROM contact_tag_set WHERE tag_ids <> '{}'")
    return {contact_id: sorted(tag_ids) for contact_id, tag_ids in rows.fetchall()}


def _tag_pairs() -> dict[int, list[int]]:
    pairs: dict[int, list[int]] = {}
    for contact_id, tag_id in database.execute_sql("SELECT contact_id, tag_id FROM contact_tag").fetchall():
        pairs.setdefault(contact_id, []).append(tag_id)
    return {contact_id: sorted(tag_ids) for contact_id, tag_ids in pairs.items()}


@pytest.mark.skipif(BACKEND != "postgres", reason="contact_tag_set exists on PostgreSQL only (SQLite joins)")
def test_tag_arrays_follow_every_change_of_contact_tag(shop):
    from campaigner.audience.models import Contact, ContactTag, Tag
    from campaigner.audience.services import add_tags, delete_tag, remove_tags

    assert _tag_arrays() == _tag_pairs()
    add_tags(shop[4].id, ["vip", "新标签"])
    remove_tags(shop[0].id, ["vip"])
    delete_tag(Tag.get(Tag.key == "渠道:门店"))  # cascades through many contacts at once
    Contact.delete().where(Contact.id == shop[3].id).execute()  # its tags go by cascade
    vip = Tag.get(Tag.key == "vip")
    ContactTag.update(contact=shop[1].id).where(ContactTag.tag == vip.id, ContactTag.contact == shop[2].id).execute()
    assert _tag_arrays() == _tag_pairs()
    assert set(audience_ids("tag:vip")) == {shop[1].id, shop[4].id}


@pytest.mark.skipif(BACKEND != "postgres", reason="contact_tag_set exists on PostgreSQL only (SQLite joins)")
def test_two_transactions_tagging_one_contact_at_once_both_land(shop, backend):
    """The second waits for the first's lock on the contact's tag row and merges into what it left."""
    import psycopg2

    from campaigner.audience.services import ensure_tags

    tags = ensure_tags(["并发一", "并发二"])
    first, second = (psycopg2.connect(backend["database_url"]) for _ in range(2))
    try:
        insert = "INSERT INTO contact_tag (tag_id, contact_id, added_at, source) VALUES (%s, %s, now(), '')"
        first.cursor().execute(insert, (tags["并发一"].id, shop[0].id))
        blocked = threading.Thread(target=lambda: (second.cursor().execute(insert, (tags["并发二"].id, shop[0].id)),
                                                   second.commit()))
        blocked.start()
        blocked.join(0.5)
        assert blocked.is_alive()  # waiting on the row the first transaction's trigger updated
        first.commit()
        blocked.join(10)
        assert not blocked.is_alive()
    finally:
        first.close()
        second.close()
    assert _tag_arrays() == _tag_pairs()
    assert set(audience_ids("tag:并发一 AND tag:并发二")) == {shop[0].id}


def test_counting_runs_a_fixed_number_of_queries_however_many_contacts(db, monkeypatch):
    statements = []
    real = database.obj.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    load_world([Person(tags={"vip"} if i % 2 else {"投诉"}, phone=f"+861380000{i:04d}") for i in range(60)])
    monkeypatch.setattr(database.obj, "execute_sql", spy)
    assert count_audience("tag:vip AND NOT tag:投诉", "sms") == 30
    assert len(statements) == 2  # the tag lookup and the one COUNT over the compiled query


# ---------------------------------------------------------------- agreement with plain Python (Hypothesis)

people_strategy = st.lists(
    st.builds(
        Person,
        tags=st.sets(st.sampled_from(TAG_POOL), max_size=4),
        email=st.sampled_from([None, "", "x@example.com"]),
        phone=st.sampled_from([None, "+8613800138000"]),
        opted_out=st.sets(st.sampled_from(["email", "sms"]), max_size=2),
        city=st.sampled_from([None, "上海", "北京"]),
        timezone=st.sampled_from([None, "Asia/Shanghai", "Europe/Berlin"]),
    ),
    min_size=0, max_size=14,
)

leaf = st.one_of(
    st.tuples(st.just("tag"), st.sampled_from(TAG_POOL + ("never-used",))),
    st.tuples(st.just("channel"), st.sampled_from(["email", "sms"])),
    st.tuples(st.just("attr"), st.just("city"), st.sampled_from(["=", "!=", "has"]), st.sampled_from(["上海", "北京"])),
    st.tuples(st.just("tz"), st.sampled_from(["Asia/Shanghai", "Europe/Berlin"])),
)
expression_strategy = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.just("and"), children, children),
        st.tuples(st.just("or"), children, children),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(people=people_strategy, tree=expression_strategy, style=st.integers(0, 5),
       channel=st.sampled_from([None, None, "email", "sms"]))
def test_compiled_sql_agrees_with_plain_python(db, people, tree, style, channel):
    from campaigner.runtime import current_runtime

    clear_world()
    load_world(people)
    text = render(tree, style)
    zone = current_runtime().settings["TIMEZONE"]
    expected = {p.id for p in people if evaluate(tree, p, zone)
                and (channel is None or evaluate(("channel", channel), p, zone))}
    found = audience_ids(text, channel)
    assert len(found) == len(set(found)), f"duplicates for {text!r}"
    assert set(found) == expected, text
    assert count_audience(text, channel) == len(expected), text
