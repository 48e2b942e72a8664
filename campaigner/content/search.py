"""Finding content in the library: text search (Chinese included), filters, pagination.

The text search is a case-insensitive substring match over title and body:
each word of the query must occur (see `_text_contains`). Word-based full-text
search splits Chinese badly (there are no spaces between words), while a
substring match finds 拿铁 inside 燕麦拿铁 as an editor expects; a library holds
thousands of items, not millions, so the scan is cheap (bench/content.py).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from peewee import SQL, fn

from campaigner.content.models import ContentItem
from campaigner.db import database, is_postgres

PER_PAGE = 20


@dataclass
class Filters:
    q: str = ""
    kind: str = ""
    tag: str = ""
    status: str = ""
    channel: str = ""  # items with a variant for this channel

    def active(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class Page:
    items: list = field(default_factory=list)
    total: int = 0
    number: int = 1
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def query(filters: Filters):
    """The items matching `filters`, most recently changed first."""
    items = ContentItem.select()
    for word in filters.q.split():
        items = items.where(_text_contains(ContentItem.title, word) | _text_contains(ContentItem.body, word))
    if filters.kind:
        items = items.where(ContentItem.kind == filters.kind)
    if filters.status:
        items = items.where(ContentItem.status == filters.status)
    if filters.tag:
        # tags is a JSON list; json.dumps gives the tag exactly as it is stored, quotes included.
        items = items.where(_json_text_contains(ContentItem.tags, json.dumps(filters.tag, ensure_ascii=False)))
    if filters.channel:
        # A key of the variants object: '"sms": ' cannot occur inside a value, where quotes are escaped.
        items = items.where(_json_text_contains(ContentItem.variants,
                                                json.dumps(filters.channel, ensure_ascii=False) + ": "))
    return items.order_by(ContentItem.updated_at.desc(), ContentItem.id.desc())


def _text_contains(column, word: str):
    """`column` contains `word`, ignoring case; nothing in the word is a wildcard.

    peewee's contains() is LIKE on SQLite and ILIKE on PostgreSQL, % and _
    escaped. Case folding is what costs on PostgreSQL (ILIKE or lower() over
    every body is ~8x slower than a plain search), so a word with no case to fold
    (Chinese, digits) is looked up with strpos(). See bench/content.py.
    """
    if is_postgres() and word.lower() == word.upper():
        return fn.strpos(column, word) > 0
    return column.contains(word)


def _json_text_contains(column, needle: str):
    """The JSON text of `column` contains `needle` exactly (case and all)."""
    if is_postgres():
        return fn.strpos(column, needle) > 0
    return fn.instr(column, needle) > 0


def search(filters: Filters, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page of the items matching `filters` (past the end: the last page)."""
    items = query(filters)
    page = max(1, page)
    if is_postgres():
        # The total comes with the page (COUNT(*) OVER ()): one scan, not one to count
        # and one for the page. On SQLite the two are faster, as the page query stops
        # early on the updated_at index (measured in bench/content.py's cases).
        rows = list(items.select_extend(fn.COUNT(SQL("*")).over().alias("total_matches")).paginate(page, per_page))
        if rows:
            return Page(rows, rows[0].total_matches, page, per_page)
        total = items.count()  # an empty page: nothing matches, or the page is past the end
    else:
        total = items.count()
    if total == 0:
        return Page([], 0, 1, per_page)
    page = min(page, math.ceil(total / per_page))
    return Page(list(items.paginate(page, per_page)), total, page, per_page)


def all_tags() -> list[str]:
    """Every tag used in the library, sorted, for the tag filter."""
    if is_postgres():
        sql = "SELECT DISTINCT jsonb_array_elements_text(tags::jsonb) FROM content_item"
    else:
        sql = "SELECT DISTINCT j.value FROM content_item, json_each(content_item.tags) j"
    return sorted(row[0] for row in database.execute_sql(sql).fetchall())
