"""Audience expressions: a small language over tags and a few contact attributes, compiled to one SQL query.

    tag:"渠道:门店" AND (tag:vip OR rfm:A) AND NOT tag:投诉

Terms (docs/audience.md has the full reference):

- ``tag:KEY``            carries the tag whose key is KEY ("group:name" or "name"); quote keys with spaces
- ``rfm:A`` … ``rfm:H``  the RFM class (the same as ``tag:rfm:A``); super users are ``tag:super-user``
- ``channel:NAME``       reachable on the channel: its contact field is set and the contact has not opted out
- ``attr:KEY=VALUE``, ``attr:KEY!=VALUE``, ``attr:KEY``  a free attribute equals / differs / is present (compared as text)
- ``tz:ZONE``            the contact's time zone (contacts without one have the instance's)

combined with ``AND``, ``OR``, ``NOT`` (any case) and parentheses; NOT binds tighter than AND, AND
tighter than OR. The empty expression means everyone.

How it compiles (measured on both SQLite and PostgreSQL, see bench/audience.py): every conjunction is
driven from its rarest required tag over the (tag_id, contact_id) primary key, joins each other
required tag on that key, and anti-joins each excluded tag with ``LEFT JOIN … IS NULL``; that beats
``GROUP BY … HAVING`` by 2-20x. A disjunction at the top is a ``UNION`` of such queries; one inside a
conjunction becomes a correlated ``EXISTS`` over the (contact_id, tag_id) index. On SQLite the join
order is pinned with ``CROSS JOIN`` because its planner has no per-value statistics to find the
rarest tag. On PostgreSQL a conjunction with positive tag terms instead tests each contact's tag
array (``contact_tag_set``, kept by triggers) through a GIN index, 5x faster there than the joins.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import peewee
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from campaigner.audience.models import Contact, ContactTag, OptOut

RFM_CLASSES = tuple("ABCDEFGH")

# Which contact field a channel reaches people on, when no plugin of that name says otherwise.
BUILTIN_CONTACT_FIELDS = {"email": "email", "sms": "phone", "chat": "chat_id", "miniprogram": "openid"}
CONTACT_FIELDS = ("email", "phone", "chat_id", "openid")


class ExpressionError(ValueError):
    """An expression that can't be parsed or compiled; `position` is the 0-based index it points at."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position

    def caret(self, text: str) -> str:
        """The expression's line with a caret under the position (for plain-text reports)."""
        return f"{text}\n{' ' * self.position}^"


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    """A node of a parsed expression."""


@dataclass(frozen=True)
class Everyone(Node):
    """Every contact (the empty expression)."""


@dataclass(frozen=True)
class Nobody(Node):
    """No contact (what NOT of everyone folds to)."""


@dataclass(frozen=True)
class TagTerm(Node):
    """``tag:KEY`` (and ``rfm:X``)."""

    key: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ChannelTerm(Node):
    """``channel:NAME``: reachable on the channel."""

    channel: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class AttrTerm(Node):
    """``attr:KEY=VALUE``, ``attr:KEY!=VALUE`` or ``attr:KEY``."""

    name: str
    op: str  # "=", "!=", "has"
    value: str = ""
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class TzTerm(Node):
    """``tz:ZONE``."""

    zone: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not(Node):
    """NOT child."""

    child: Node


@dataclass(frozen=True)
class And(Node):
    """All children."""

    children: tuple


@dataclass(frozen=True)
class Or(Node):
    """Any child."""

    children: tuple


# ---------------------------------------------------------------- parsing

GRAMMAR = r"""
?start: expr
      |                              -> everyone
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr             -> negation
         | atom
?atom: _LPAR expr _RPAR
     | _TAG _COLON value             -> tag
     | _RFM _COLON value             -> rfm
     | _CHANNEL _COLON value         -> channel
     | _TZ _COLON value              -> tz
     | _ATTR _COLON ATTR_KEY (OP value)? -> attr
value: STRING | WORD

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_TAG.2: /tag(?=\s*:)/i
_RFM.2: /rfm(?=\s*:)/i
_CHANNEL.2: /channel(?=\s*:)/i
_TZ.2: /tz(?=\s*:)/i
_ATTR.2: /attr(?=\s*:)/i
_COLON: ":"
_LPAR: "(" | "（"
_RPAR: ")" | "）"
OP: "!=" | "="
STRING: /"[^"]*"/ | /'[^']*'/ | /“[^”]*”/
WORD: /[^\s()（）"'“”]+/
ATTR_KEY: /[^\s()（）"'“”=!:]+/
%ignore /[\s\u3000]+/
"""

FIELDS_HINT = "tag:, rfm:, channel:, attr:, tz:"


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)


@v_args(inline=True)
class _ToNodes(Transformer):
    def everyone(self):
        return Everyone()

    def value(self, token: Token):
        text = str(token)
        if token.type == "STRING":
            text = text[1:-1]
        return text, token.start_pos

    def tag(self, value):
        text, pos = value
        if not text.strip():
            raise ExpressionError("a tag key can't be empty", pos)
        return TagTerm(text.strip(), pos)

    def rfm(self, value):
        text, pos = value
        letter = text.strip().upper()
        if letter not in RFM_CLASSES:
            raise ExpressionError("an RFM class is one letter from A to H", pos)
        return TagTerm(f"rfm:{letter}", pos)

    def channel(self, value):
        text, pos = value
        return ChannelTerm(text.strip(), pos)

    def tz(self, value):
        text, pos = value
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(text.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ExpressionError(f"unknown time zone {text!r}", pos) from None
        return TzTerm(text.strip(), pos)

    def attr(self, key: Token, op: Token | None = None, value=None):
        if op is None:
            return AttrTerm(str(key), "has", "", key.start_pos)
        return AttrTerm(str(key), str(op), value[0], key.start_pos)

    def negation(self, child):
        return Not(child)

    def and_expr(self, *children):
        return And(tuple(children))

    def or_expr(self, *children):
        return Or(tuple(children))


def parse_expression(text: str) -> Node:
    """Parse an audience expression into its tree; raise `ExpressionError` pointing at what is wrong."""
    return _parse_cached(text or "")


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> Node:
    # Trees are immutable, so the same text (typed again, or counted then listed) parses once.
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _explain(text, exc) from None
    _check_nesting(tree)
    try:
        return _ToNodes().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise


# Deeper than this, the tree's recursive walks (transform, compile) would exhaust Python's stack;
# no audience a person writes comes near it.
MAX_NESTING = 50


def _check_nesting(tree) -> None:
    """Refuse a tree nested deeper than MAX_NESTING (``NOT NOT … NOT tag:x``, or parentheses), measured without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            position = getattr(getattr(node, "meta", None), "start_pos", 0) or 0
            raise ExpressionError(f"the expression nests deeper than {MAX_NESTING} levels (NOT or parentheses)",
                                  position)
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()) if hasattr(child, "children"))


def _explain(text: str, exc: UnexpectedInput) -> ExpressionError:
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        position = len(text.rstrip())
        if text.rstrip().endswith(":"):
            return ExpressionError("a value is missing after the colon", position)
        return ExpressionError("the expression ends too early: a term or a closing parenthesis is missing", position)
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream
        char = text[position]
        if char in "\"'“":
            return ExpressionError("this quote is not closed", position)
        if char in ")）":
            return ExpressionError("this closing parenthesis has no opening one", position)
        before = text[:position].rstrip()
        if before.endswith(":"):
            return ExpressionError("a value is missing after the colon", position)
        word = text[position:].split(None, 1)[0] if text[position:].strip() else char
        if ":" in word and not word.startswith(":"):
            name = word.split(":", 1)[0]
            return ExpressionError(f"unknown term {name!r}: use {FIELDS_HINT}", position)
        if _after_term(before):
            return ExpressionError("AND, OR or a closing parenthesis is missing before this", position)
        return ExpressionError(f"expected a term ({FIELDS_HINT}), NOT or a parenthesis", position)
    token = exc.token
    position = token.start_pos if token.start_pos is not None else len(text)
    if token.type == "_RPAR":
        return ExpressionError("this closing parenthesis has no opening one", position)
    if token.type in {"_AND", "_OR"}:
        return ExpressionError(f"{str(token).upper()} needs a term before it", position)
    if text[token.end_pos:].lstrip().startswith(":") and not _after_term(text[:position].rstrip()):
        return ExpressionError(f"unknown term {str(token)!r}: use {FIELDS_HINT}", position)
    if _after_term(text[:position].rstrip()):
        return ExpressionError("AND, OR or a closing parenthesis is missing before this", position)
    return ExpressionError(f"unexpected {str(token)!r}", position)


def _after_term(before: str) -> bool:
    return bool(before) and not before.endswith(("(", "（", ":")) and before.split()[-1].upper() not in {"AND", "OR", "NOT"}


# ---------------------------------------------------------------- normal form


def normalize(node: Node) -> Node:
    """Push NOT down to the terms (negation normal form), flatten nested AND/OR and fold constants."""
    return _nnf(node, False)


def _nnf(node: Node, negate: bool) -> Node:
    if isinstance(node, Not):
        return _nnf(node.child, not negate)
    if isinstance(node, (And, Or)):
        is_and = isinstance(node, And) != negate
        children = [_nnf(child, negate) for child in node.children]
        return _combine(And if is_and else Or, children)
    if isinstance(node, Everyone):
        return Nobody() if negate else node
    if isinstance(node, Nobody):
        return Everyone() if negate else node
    return Not(node) if negate else node


def _combine(kind, children: list[Node]) -> Node:
    absorbing, neutral = (Nobody, Everyone) if kind is And else (Everyone, Nobody)
    flat: list[Node] = []
    for child in children:
        if isinstance(child, absorbing):
            return child
        if isinstance(child, neutral):
            continue
        parts = child.children if isinstance(child, kind) else (child,)
        for part in parts:
            if part not in flat:
                flat.append(part)
    if not flat:
        return neutral()
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def terms(node: Node):
    """Every term of the tree, in order."""
    if isinstance(node, (And, Or)):
        for child in node.children:
            yield from terms(child)
    elif isinstance(node, Not):
        yield from terms(node.child)
    elif isinstance(node, (TagTerm, ChannelTerm, AttrTerm, TzTerm)):
        yield node


# ---------------------------------------------------------------- compiling


def channel_contact_field(channel: str) -> str | None:
    """The contact field `channel` reaches people on: the plugin's, else the built-in map; None if unknown."""
    try:
        from campaigner.runtime import current_runtime

        plugin = current_runtime().plugins.channel(channel)
    except RuntimeError:
        plugin = None
    if plugin is not None and getattr(plugin, "contact_field", None) in CONTACT_FIELDS:
        return plugin.contact_field
    return BUILTIN_CONTACT_FIELDS.get(channel)


def _default_timezone() -> str:
    try:
        from campaigner.runtime import current_runtime

        return str(current_runtime().settings.get("TIMEZONE") or "UTC")
    except RuntimeError:
        return "UTC"


@dataclass
class _Context:
    tags: dict  # key -> (id, size)
    postgres: bool
    default_tz: str
    contacts_estimate: int
    counter: int = 0
    # On PostgreSQL, the `contact_tag_set.tag_ids` column of the conjunction being compiled, if it
    # drives from that table: tag predicates then test the array instead of probing contact_tag.
    tag_array: object = None

    def alias(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    @property
    def join(self):
        # SQLite has no per-value statistics, so it can't tell the rarest tag: pin our order.
        return peewee.JOIN.INNER if self.postgres else peewee.JOIN.CROSS


def compile_audience(expression: str, channel: str | None = None) -> peewee.SelectQuery:
    """One query selecting the id of every contact matching `expression` (and reachable on `channel`).

    The empty expression is everyone. The query has one column and can be used as a subquery
    (``Contact.id.in_(q)``) or in ``INSERT … SELECT``. Raises `ExpressionError`.
    """
    return compile_node(parse_expression(expression), channel)


def compile_node(node: Node, channel: str | None = None) -> peewee.SelectQuery:
    """`compile_audience` for an already parsed tree."""
    from campaigner.db import is_postgres

    if channel is not None:
        if channel_contact_field(channel) is None:
            raise ExpressionError(f"unknown channel {channel!r}", 0)
        node = And((node, ChannelTerm(channel)))
    for term in terms(node):
        if isinstance(term, ChannelTerm) and channel_contact_field(term.channel) is None:
            raise ExpressionError(f"unknown channel {term.channel!r}", term.position)
    node = normalize(node)
    keys = {t.key for t in terms(node) if isinstance(t, TagTerm)}
    tags = {}
    if keys:
        # Raw SQL: this lookup runs on every count, and peewee's model rows cost more than the query.
        from campaigner.db import database

        marks = ", ".join([database.param] * len(keys))
        rows = database.execute_sql(f'SELECT "key", "id", "size" FROM "tag" WHERE "key" IN ({marks})', sorted(keys))
        tags = {key: (tag_id, size) for key, tag_id, size in rows.fetchall()}
    ctx = _Context(tags=tags, postgres=is_postgres(), default_tz=_default_timezone(),
                   contacts_estimate=max([size for _, size in tags.values()] + [1]) * 4)
    sub = _compile_set(node, ctx)
    if isinstance(sub, peewee.Select):
        return sub
    from campaigner.db import database

    derived = sub.alias("audience")
    return peewee.Select(from_list=[derived], columns=[derived.c.id]).bind(database)


def count_audience(expression: str, channel: str | None = None) -> int:
    """How many contacts match `expression` (and are reachable on `channel`)."""
    return count_query(compile_audience(expression, channel))


def count_query(query) -> int:
    """COUNT(*) over a compiled audience query."""
    derived = query.alias("matched")
    from campaigner.db import database

    return peewee.Select(from_list=[derived], columns=[peewee.fn.COUNT(peewee.SQL("*"))]).bind(database).scalar() or 0


def audience_ids(expression: str, channel: str | None = None) -> list[int]:
    """The ids of every matching contact (for small audiences and tests; fan-out uses the query)."""
    from campaigner.db import database

    # The raw cursor: peewee's row wrappers would cost more than the query on large audiences.
    return [row[0] for row in database.execute(compile_audience(expression, channel)).fetchall()]


def count_and_ids(expression: str, channel: str | None = None) -> tuple[int, list[int]]:
    """How many contacts match and their ids, compiling the expression once."""
    from campaigner.db import database

    query = compile_audience(expression, channel)
    return count_query(query), [row[0] for row in database.execute(query).fetchall()]


def sample_audience(expression: str, channel: str | None = None, limit: int = 10) -> list[Contact]:
    """A few matching contacts, to show what an expression selects."""
    ids = compile_audience(expression, channel).limit(limit)
    return list(Contact.select().where(Contact.id.in_(ids)).order_by(Contact.id))


def _nothing(ctx: _Context):
    contact = Contact.alias(ctx.alias("c"))
    return peewee.Select(from_list=[contact], columns=[contact.id.alias("id")]).where(
        peewee.SQL("1 = 0")).bind(Contact._meta.database)


def _compile_set(node: Node, ctx: _Context):
    """A query of the ids matching `node` (in negation normal form)."""
    if isinstance(node, Nobody):
        return _nothing(ctx)
    if isinstance(node, Everyone):
        contact = Contact.alias(ctx.alias("c"))
        return peewee.Select(from_list=[contact], columns=[contact.id.alias("id")]).bind(Contact._meta.database)
    if isinstance(node, Or):
        parts = [_compile_set(child, ctx) for child in node.children]
        query = parts[0]
        for part in parts[1:]:
            query = query | part  # UNION: also removes duplicates
        return query
    children = node.children if isinstance(node, And) else (node,)
    return _compile_conjunction(list(children), ctx)


def _estimate(node: Node, ctx: _Context) -> int:
    if isinstance(node, TagTerm):
        return ctx.tags.get(node.key, (0, 0))[1]
    if isinstance(node, And):
        return min(_estimate(child, ctx) for child in node.children)
    if isinstance(node, Or):
        return sum(_estimate(child, ctx) for child in node.children)
    return ctx.contacts_estimate


def _compile_conjunction(children: list[Node], ctx: _Context):
    required = [c for c in children if isinstance(c, TagTerm)]
    excluded = [c.child for c in children if isinstance(c, Not) and isinstance(c.child, TagTerm)]
    rest = [c for c in children if not isinstance(c, TagTerm)
            and not (isinstance(c, Not) and isinstance(c.child, TagTerm))]
    if any(t.key not in ctx.tags for t in required):
        return _nothing(ctx)  # a tag nobody has
    excluded_ids = sorted({ctx.tags[t.key][0] for t in excluded if t.key in ctx.tags})
    required_tags = sorted({ctx.tags[t.key] for t in required}, key=lambda idsize: (idsize[1], idsize[0]))

    if ctx.postgres:
        tag_only_ors = [c for c in rest if _tag_disjunction(c)]
        if required_tags or tag_only_ors:
            return _compile_tag_set_conjunction(required_tags, excluded_ids, tag_only_ors,
                                                [c for c in rest if c not in tag_only_ors], ctx)

    contact = None
    where = []
    if required_tags:
        first = ContactTag.alias(ctx.alias("t"))
        id_col = first.contact
        source = first
        where.append(first.tag == required_tags[0][0])
        for tag_id, _ in required_tags[1:]:
            other = ContactTag.alias(ctx.alias("t"))
            source = peewee.Join(source, other, ctx.join, on=((other.tag == tag_id) & (other.contact == id_col)))
    else:
        disjunctions = [c for c in rest if isinstance(c, Or)]
        if disjunctions:
            # Drive from the smallest disjunction (a UNION of its parts) rather than every contact.
            driver = min(disjunctions, key=lambda c: _estimate(c, ctx))
            rest.remove(driver)
            source = _compile_set(driver, ctx).alias(ctx.alias("d"))
            id_col = source.c.id
        else:
            contact = source = Contact.alias(ctx.alias("c"))
            id_col = contact.id

    for tag_id in excluded_ids:
        absent = ContactTag.alias(ctx.alias("n"))
        source = peewee.Join(source, absent, peewee.JOIN.LEFT_OUTER,
                             on=((absent.tag == tag_id) & (absent.contact == id_col)))
        where.append(absent.tag.is_null())

    if any(_needs_contact(c) for c in rest) and contact is None:
        contact = Contact.alias(ctx.alias("c"))
        source = peewee.Join(source, contact, ctx.join, on=(contact.id == id_col))
    where += [_predicate(child, id_col, contact, ctx) for child in rest]
    query = peewee.Select(from_list=[source], columns=[id_col.alias("id")])
    if where:
        query = query.where(*where)
    return query.bind(Contact._meta.database)


def _tag_disjunction(node: Node) -> bool:
    return isinstance(node, Or) and all(isinstance(c, TagTerm) for c in node.children)


def _array(tag_ids) -> peewee.Node:
    return peewee.Cast(peewee.Value(sorted(tag_ids), unpack=False), "integer[]")


def _compile_tag_set_conjunction(required_tags, excluded_ids, tag_ors, rest, ctx: _Context):
    """PostgreSQL: a conjunction with positive tag terms, driven from contact_tag_set's GIN index.

    Every required tag goes into one ``tag_ids @> ARRAY[…]``, every disjunction of tags into a
    ``tag_ids && ARRAY[…]`` and the excluded tags into ``NOT tag_ids && ARRAY[…]``; the planner
    intersects the GIN posting lists of the positive ones in a single bitmap scan (see
    migrations/0002_contact_tag_set.py for why and how the table is kept).
    """
    tag_set = peewee.Table("contact_tag_set", ("contact_id", "tag_ids")).alias(ctx.alias("s"))
    tag_ids, id_col = tag_set.tag_ids, tag_set.contact_id
    where = []
    if required_tags:
        where.append(peewee.Expression(tag_ids, "@>", _array(tag_id for tag_id, _ in required_tags)))
    for disjunction in tag_ors:
        ids = [ctx.tags[t.key][0] for t in disjunction.children if t.key in ctx.tags]
        if not ids:
            return _nothing(ctx)  # none of its tags exists
        where.append(peewee.Expression(tag_ids, "&&", _array(ids)))
    if excluded_ids:
        where.append(~peewee.Expression(tag_ids, "&&", _array(excluded_ids)))
    source, contact = tag_set, None
    if any(_needs_contact(c) for c in rest):
        contact = Contact.alias(ctx.alias("c"))
        source = peewee.Join(tag_set, contact, peewee.JOIN.INNER, on=(contact.id == id_col))
    outer, ctx.tag_array = ctx.tag_array, tag_ids
    try:
        where += [_predicate(child, id_col, contact, ctx) for child in rest]
    finally:
        ctx.tag_array = outer
    return peewee.Select(from_list=[source], columns=[id_col.alias("id")]).where(*where).bind(Contact._meta.database)


def _needs_contact(node: Node) -> bool:
    if isinstance(node, (ChannelTerm, AttrTerm, TzTerm)):
        return True
    if isinstance(node, Not):
        return _needs_contact(node.child)
    if isinstance(node, (And, Or)):
        return any(_needs_contact(c) for c in node.children)
    return False


def _predicate(node: Node, id_col, contact, ctx: _Context):
    """A boolean SQL expression (never NULL) true when the contact `id_col` matches `node`."""
    if isinstance(node, And):
        parts = [_predicate(c, id_col, contact, ctx) for c in node.children]
        return functools.reduce(lambda a, b: a & b, parts)
    if isinstance(node, Or):
        tags = [c for c in node.children if isinstance(c, TagTerm)]
        others = [c for c in node.children if not isinstance(c, TagTerm)]
        parts = []
        if tags:
            # One probe of the (contact_id, tag_id) index for every tag of the disjunction.
            ids = sorted({ctx.tags[t.key][0] for t in tags if t.key in ctx.tags})
            if ids:
                parts.append(_has_any_tag(ids, id_col, ctx))
        parts += [_predicate(c, id_col, contact, ctx) for c in others]
        if not parts:
            return peewee.SQL("1 = 0")
        return functools.reduce(lambda a, b: a | b, parts)
    if isinstance(node, Not):
        return ~_predicate(node.child, id_col, contact, ctx)
    if isinstance(node, TagTerm):
        if node.key not in ctx.tags:
            return peewee.SQL("1 = 0")
        return _has_any_tag([ctx.tags[node.key][0]], id_col, ctx)
    if isinstance(node, ChannelTerm):
        column = getattr(contact, channel_contact_field(node.channel))
        opted = OptOut.alias(ctx.alias("o"))
        opted_out = peewee.fn.EXISTS(opted.select(peewee.SQL("1")).where(
            (opted.contact == contact.id) & (opted.channel == node.channel)))
        return column.is_null(False) & (column != "") & ~opted_out
    if isinstance(node, TzTerm):
        zone = peewee.fn.COALESCE(peewee.fn.NULLIF(contact.timezone, ""), ctx.default_tz)
        return zone == node.zone
    if isinstance(node, AttrTerm):
        value = _attribute(contact, node.name, ctx)
        if node.op == "has":
            return value.is_null(False) & (value != "")
        equal = value.is_null(False) & (value == node.value)
        return equal if node.op == "=" else ~equal
    if isinstance(node, Everyone):
        return peewee.SQL("1 = 1")
    if isinstance(node, Nobody):
        return peewee.SQL("1 = 0")
    raise TypeError(f"cannot compile {node!r}")


def _has_any_tag(tag_ids: list[int], id_col, ctx: _Context):
    if ctx.tag_array is not None:
        return peewee.Expression(ctx.tag_array, "&&", _array(tag_ids))
    probe = ContactTag.alias(ctx.alias("x"))
    condition = probe.tag == tag_ids[0] if len(tag_ids) == 1 else probe.tag.in_(tag_ids)
    return peewee.fn.EXISTS(probe.select(peewee.SQL("1")).where((probe.contact == id_col) & condition))


def _attribute(contact, name: str, ctx: _Context):
    """A free attribute of the contact as text (NULL when absent)."""
    if ctx.postgres:
        return peewee.Expression(peewee.Cast(contact.attributes, "jsonb"), "->>", name)
    path = '$."' + name.replace('"', '\\"') + '"'
    return peewee.Cast(peewee.fn.json_extract(contact.attributes, path), "TEXT")


def explain(expression: str, channel: str | None = None) -> str:
    """The SQL an expression compiles to, with its parameters (for docs and debugging)."""
    sql, params = compile_audience(expression, channel).sql()
    return f"{sql}\n-- params: {params!r}"
