"""CSV import of contacts and of orders: decode, map columns, validate every row, then write in one transaction.

Files come as UTF-8, UTF-8 with a BOM, or GBK (read as GB18030, its superset) — told
apart by trying them in that order. Row numbers in reports are the spreadsheet's:
the header is row 1, the first data row is row 2.

All or nothing by default: every row is checked before anything is written, and a
file with a bad row imports nothing. With ``skip_bad_rows`` exactly the good rows are
imported and the bad ones reported. Either way the writing happens in one
transaction, so a failure half-way leaves the database as it was.

Contacts are deduplicated by external id, then phone, then email (then chat id,
openid), both against the database and within the file; a contact whose external
id differs never matches on the other identifiers.

The file is read as a stream (from its path, or from bytes) and each row is kept
only as its cleaned values, so an import holds neither the file's text nor its
parsed table. The pages run imports on a worker as `ImportJob` runs (see "jobs"
below); the command line runs them in place.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import logging
import os
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable, Iterator, Union

from campaigner.audience.models import Contact, ContactEvent, ImportJob, Order, Tag
from campaigner.audience.reasons import reason_text, shown_value
from campaigner.audience.services import (
    DEFAULT_REGION, UNVERIFIED_TAG, AudienceError, check_phone, clean_tag_key, ensure_tags, normalize_email,
    normalize_timezone,
)
# write_transaction: on SQLite it takes the write lock at once, and the threads of a worker queue
# for it on a lock of their own, so a send chain waits out an import instead of timing out.
from campaigner.db import database, is_postgres, utcnow, write_transaction
from campaigner.spreadsheet_csv import csv_writer
from campaigner.queue import huey

log = logging.getLogger(__name__)

Source = Union[bytes, str, os.PathLike]  # the file's bytes, or its path

ENCODINGS = ("utf-8-sig", "gb18030")
ENCODING_CHOICES = ("auto", "utf-8", "gbk")
TAG_SEPARATORS = re.compile(r"[,，;；|、]")
TRUTHY = {"1", "y", "yes", "true", "x", "是", "退订", "opt-out", "optout", "unsubscribed"}

CONTACT_FIELDS = ("external_id", "name", "email", "phone", "chat_id", "openid", "timezone")
CONTACT_TARGETS = CONTACT_FIELDS + ("tags",)  # plus tag_group:<group>, attr:<key>, optout:<channel>
ORDER_TARGETS = ("contact_external_id", "contact_phone", "contact_email", "amount", "occurred_at",
                 "order_id", "source")
IDENTIFIERS = ("external_id", "phone", "email", "chat_id", "openid")
MATCH_ORDER = IDENTIFIERS  # which identifier finds an existing contact first (IMPORT_MATCH_ORDER changes it)

# Header names people use for each field, lower-cased (the wizard and the CLI start from these).
SYNONYMS = {
    "external_id": {"external_id", "external id", "id", "外部id", "客户id", "会员id", "用户id", "customer_id",
                    "customer id", "member_id", "会员编号", "客户编号"},
    "name": {"name", "姓名", "名字", "昵称", "nickname", "客户名称", "full name"},
    "phone": {"phone", "mobile", "tel", "telephone", "手机", "手机号", "手机号码", "电话", "联系电话", "cell"},
    "email": {"email", "e-mail", "mail", "邮箱", "电子邮件", "电子邮箱"},
    "chat_id": {"chat_id", "chat id", "wechat", "wecom", "微信", "企业微信", "external_userid", "微信id"},
    "openid": {"openid", "open_id", "小程序openid"},
    "timezone": {"timezone", "time zone", "tz", "时区"},
    "tags": {"tags", "tag", "标签"},
}
ORDER_SYNONYMS = {
    "contact_external_id": {"external_id", "customer_id", "客户id", "会员id", "用户id", "contact", "contact_external_id"},
    "contact_phone": {"phone", "mobile", "手机", "手机号", "电话", "contact_phone"},
    "contact_email": {"email", "邮箱", "contact_email"},
    "amount": {"amount", "金额", "实付金额", "订单金额", "gmv", "total", "price"},
    "occurred_at": {"occurred_at", "time", "date", "datetime", "下单时间", "时间", "日期", "paid_at", "created_at"},
    "order_id": {"order_id", "order id", "订单号", "订单编号", "order", "order_no"},
    "source": {"source", "来源", "渠道"},
}


class ImportFileError(ValueError):
    """The file as a whole can't be read (encoding, no header, duplicate columns, bad mapping)."""


@dataclass
class RowError:
    """Why a row was refused (an error) or what was noted about a kept row (a warning).

    `code` and `params` are what the pages translate (`campaigner.audience.reasons`); `reason`
    is the English sentence. `left_out`: the field's value was dropped and the row imported.
    """

    row: int
    field: str
    code: str
    params: dict = field(default_factory=dict)
    left_out: bool = False

    @property
    def reason(self) -> str:
        return reason_text(self.code, self.params, left_out=self.left_out)

    @classmethod
    def of(cls, row: int, column: str, exc: AudienceError, left_out: bool = False) -> "RowError":
        return cls(row, column, exc.code, exc.params, left_out)

    def as_dict(self) -> dict:
        item = {"row": self.row, "field": self.field, "reason": self.reason, "code": self.code, "params": self.params}
        if self.left_out:
            item["left_out"] = True
        return item


@dataclass
class ImportResult:
    """What an import did: rows read, contacts (or orders) created and updated, rows skipped, errors."""

    kind: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # about rows that were kept
    imported: bool = False
    encoding: str = ""

    def as_dict(self) -> dict:
        return {"kind": self.kind, "total": self.total, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": self.skipped, "imported": self.imported,
                "encoding": self.encoding, "errors": [e.as_dict() for e in self.errors],
                "warnings": [w.as_dict() for w in self.warnings]}


class ImportHooks:
    """Where a caller follows an import: rows read, and the start and end of its one write transaction.

    The job runner uses them to show progress and to hold its claim on the job: `writing` runs
    first inside the transaction and `written` last, so the job's outcome commits with the data.
    """

    def progress(self, rows: int, final: bool = False) -> None:
        """`rows` data rows read and checked so far, `final` once all are (called outside any transaction)."""

    def progress_written(self, rows: int) -> None:
        """`rows` checked rows written so far (called inside the write transaction)."""

    def writing(self) -> None:
        """First inside the write transaction; raise to write nothing."""

    def written(self, result: ImportResult) -> None:
        """Last inside the write transaction, after everything was written."""


NO_HOOKS = ImportHooks()
PROGRESS_EVERY = 1000  # rows between calls of ImportHooks.progress


# ---------------------------------------------------------------- reading

CHUNK = 1 << 20
CODECS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-bom": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030"}


def _open_binary(source: Source):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else open(source, "rb")


def _decodes(source: Source, codec: str) -> bool:
    decoder = codecs.getincrementaldecoder(codec)()
    with _open_binary(source) as raw:
        try:
            while chunk := raw.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def detect_encoding(source: Source, encoding: str = "auto") -> tuple[str, str]:
    """(codec, label) that reads the whole file; raise `ImportFileError` when none does.

    The file is decoded chunk by chunk and the text thrown away: checking first costs no
    memory, and a GBK file is never half-read as UTF-8 before a Chinese character shows it isn't.
    """
    if encoding not in ("auto", "", None):
        codec = CODECS.get(encoding.lower(), encoding)
        try:
            codecs.lookup(codec)
        except LookupError:
            raise ImportFileError(f"the file is not valid {encoding}") from None
        if not _decodes(source, codec):
            raise ImportFileError(f"the file is not valid {encoding}")
        return codec, encoding.lower()
    for codec in ENCODINGS:
        if _decodes(source, codec):
            if codec == "gb18030":
                return codec, "gbk"
            with _open_binary(source) as raw:
                return codec, "utf-8-bom" if raw.read(3) == codecs.BOM_UTF8 else "utf-8"
    raise ImportFileError("the file is neither UTF-8 nor GBK text")


@contextmanager
def open_table(source: Source, encoding: str = "auto") -> Iterator[tuple[list[str], Iterator[list[str]], str]]:
    """(headers, rows, encoding) of a CSV file, its rows read as they are iterated; raise `ImportFileError`
    when it has no usable header (or, while iterating, when a later row is not CSV)."""
    codec, used = detect_encoding(source, encoding)
    text = io.TextIOWrapper(_open_binary(source), encoding=codec, newline="")
    try:
        sample = text.read(4096)
        text.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(text, dialect)
        try:
            headers = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFileError("the file is empty") from None
        except csv.Error as exc:
            raise ImportFileError(f"the file is not CSV: {exc}") from None
        if not any(headers):
            raise ImportFileError("the first row must name the columns")
        seen = set()
        for header in headers:
            if header and header in seen:
                raise ImportFileError(f"two columns are named {header!r}")
            seen.add(header)
        yield headers, _csv_rows(reader), used
    finally:
        text.close()


def _csv_rows(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV: {exc}") from None


def read_table(source: Source, encoding: str = "auto") -> tuple[list[str], list[list[str]], str]:
    """(headers, rows, encoding) of a CSV file, all rows in memory; raise `ImportFileError` when it has no usable header."""
    with open_table(source, encoding) as (headers, rows, used):
        return headers, list(rows), used


def read_headers(source: Source, encoding: str = "auto") -> list[str]:
    """The column names of a CSV file (the rest is not parsed); raise `ImportFileError` when unreadable."""
    with open_table(source, encoding) as (headers, _rows, _used):
        return headers


def guess_mapping(headers: list[str], kind: str = "contacts") -> dict[str, str]:
    """A first mapping of each header to a target field, from the names people usually give columns."""
    synonyms = SYNONYMS if kind == "contacts" else ORDER_SYNONYMS
    mapping, taken = {}, set()
    for header in headers:
        low = header.strip().lower()
        target = next((t for t, names in synonyms.items() if low in names and t not in taken), None)
        if target is None and kind == "contacts" and header:
            target = f"attr:{header.strip()}"
        mapping[header] = target or ""
        if target and not target.startswith("attr:"):
            taken.add(target)
    return mapping


def check_mapping(mapping: dict[str, str], headers: list[str], kind: str) -> None:
    """Raise `ImportFileError` when the mapping names unknown columns or targets, or lacks what it needs."""
    unknown = [h for h in mapping if h not in headers]
    if unknown:
        raise ImportFileError(f"no column named {unknown[0]!r} in the file")
    used = [t for t in mapping.values() if t]
    for target in used:
        if kind == "contacts":
            prefix, _, rest = target.partition(":")
            ok = target in CONTACT_TARGETS or (prefix in {"tag_group", "attr", "optout"} and rest.strip())
        else:
            ok = target in ORDER_TARGETS
        if not ok:
            raise ImportFileError(f"{target!r} is not a field a column can go to")
    fixed = [t for t in used if not t.startswith(("attr:", "tag_group:", "optout:")) and t != "tags"]
    duplicate = next((t for t in fixed if fixed.count(t) > 1), None)
    if duplicate:
        raise ImportFileError(f"two columns go to {duplicate!r}")
    if kind == "contacts" and not any(t in IDENTIFIERS for t in used):
        raise ImportFileError("map at least one column to external id, phone, email, chat id or openid")
    if kind == "orders":
        if not any(t.startswith("contact_") for t in used):
            raise ImportFileError("map a column to the contact's external id, phone or email")
        for needed in ("amount", "occurred_at"):
            if needed not in used:
                raise ImportFileError(f"map a column to {needed}")


def preview(source: Source, encoding: str = "auto", rows: int = 5) -> tuple[list[str], list[list[str]], str, int]:
    """(headers, the first `rows` rows, encoding, total data rows) for the mapping step."""
    with open_table(source, encoding) as (headers, table, used):
        first = list(itertools.islice(table, rows))
        return headers, first, used, len(first) + sum(1 for _ in table)


def match_order(names) -> tuple[str, ...]:
    """The identifiers in the order that matches contacts: `names` first (e.g. "phone,external_id"), then the rest.

    Every identifier stays in the order, so two rows that share any identifier are one contact.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    chosen = [n for n in (names or ()) if n]
    unknown = [n for n in chosen if n not in IDENTIFIERS]
    if unknown:
        raise ImportFileError(f"{unknown[0]!r} is not an identifier (external_id, phone, email, chat_id, openid)")
    return tuple(dict.fromkeys([*chosen, *IDENTIFIERS]))


def issue_text(item, translate=lambda s: s) -> str:
    """The sentence of a stored error or warning (a dict of `RowError.as_dict`) in the reader's language."""
    if isinstance(item, RowError):
        item = item.as_dict()
    return reason_text(item.get("code", ""), item.get("params"), translate, left_out=bool(item.get("left_out")),
                       fallback=item.get("reason", ""))


def errors_csv(errors: list, translate=lambda s: s, warnings: list = ()) -> str:
    """The per-row report as CSV text (row, field, level, reason), with a BOM so spreadsheets read it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv_writer(out)
    writer.writerow(["row", "field", "level", "code", "reason"])
    issues = [("error", e) for e in errors] + [("warning", w) for w in warnings]
    for level, issue in sorted(issues, key=lambda pair: _row_of(pair[1])):
        item = issue.as_dict() if isinstance(issue, RowError) else issue
        writer.writerow([item["row"], item["field"], level, item.get("code", ""), issue_text(item, translate)])
    return out.getvalue()


def _row_of(issue) -> int:
    return issue.row if isinstance(issue, RowError) else issue.get("row", 0)


def summarise(issues: list) -> list[tuple[str, int, dict]]:
    """(code, how many rows, one example) of stored errors or warnings, the commonest reason first."""
    counts: dict[str, list] = {}
    for item in issues:
        item = item.as_dict() if isinstance(item, RowError) else item
        key = item.get("code") or item.get("reason", "")
        slot = counts.setdefault(key, [0, item])
        slot[0] += 1
    return sorted(((code, n, example) for code, (n, example) in counts.items()), key=lambda t: (-t[1], t[0]))


# ---------------------------------------------------------------- contacts


EMPTY: frozenset = frozenset()  # the tags or opt-outs of a row that has none (one shared object, not a set a row)


@dataclass(slots=True, eq=False)
class _Record:
    """One contact as the import will leave it: an existing one (id set) or a new one."""

    id: int | None
    fields: dict
    attributes: dict
    tags: set | frozenset = EMPTY
    opt_outs: set | frozenset = EMPTY
    original: dict | None = None  # the existing contact's values, to tell what changed
    rows: list = field(default_factory=list)
    earlier: bool = False  # written by an earlier part of this same import
    created_here: bool = False  # created by an earlier part of this same import


def _contact_plan(mapping: dict[str, str], headers: list[str]) -> list[tuple[int, str, str, str]]:
    """(column index, header, kind, name) of each mapped column: the mapping worked out once, not once a row.

    Kinds: a contact field (name is the field), "tags", "tag_group", "attr", "optout".
    """
    position = {header: index for index, header in enumerate(headers)}
    plan = []
    for header, target in mapping.items():
        if not target:
            continue
        if target in CONTACT_FIELDS or target == "tags":
            plan.append((position[header], header, target, target))
        else:
            kind, _, name = target.partition(":")
            plan.append((position[header], header, kind, name.strip()))
    return plan


def _clean_contact_row(cells: list[str], plan: list, rownum: int, region: str, known_tags: dict,
                       strict: bool = False):
    """(fields, attributes, tags, opt_outs, warnings) of one row, or the list of `RowError` that refuse it.

    A bad value is left out and the row kept (with a warning) while the row still names the
    contact by another identifier; with `strict`, or when nothing else names it, the row is refused.
    A possible but unlisted phone number is kept, tagged `phone_unverified`, with a warning.
    `known_tags` maps each tag text seen to its clean key, so a tag on many rows is checked once.
    """
    fields, attributes, tags, opt_outs, bad, warnings = {}, {}, None, None, [], []
    for index, header, kind, name in plan:
        value = cells[index].strip() if index < len(cells) else ""
        try:
            if kind in CONTACT_FIELDS:
                if not value:
                    continue
                if kind == "phone":
                    fields["phone"], verified = check_phone(value, region)
                    if not verified:
                        warnings.append(RowError(rownum, header, "phone_unverified", {"value": shown_value(value)}))
                        tags = set(tags or ())
                        tags.add(UNVERIFIED_TAG)
                elif kind == "email":
                    fields["email"] = normalize_email(value)
                elif kind == "timezone":
                    fields["timezone"] = normalize_timezone(value)
                elif kind == "name":
                    fields["name"] = value[:255]
                else:
                    if len(value) > 255:
                        raise AudienceError.because("too_long", kind)
                    fields[kind] = value
            elif kind in ("tags", "tag_group"):
                for part in TAG_SEPARATORS.split(value):
                    if not part.strip():
                        continue
                    text = f"{name}:{part.strip()}" if kind == "tag_group" else part
                    key = known_tags.get(text)
                    if key is None:
                        key = known_tags[text] = clean_tag_key(text)
                    if tags is None:
                        tags = set()
                    tags.add(key)
            elif kind == "attr":
                if value:
                    attributes[name] = value
            elif kind == "optout":
                if value.lower() in TRUTHY:
                    if opt_outs is None:
                        opt_outs = set()
                    opt_outs.add(name)
        except AudienceError as exc:
            bad.append(RowError.of(rownum, header, exc))
    named = any(fields.get(name) for name in IDENTIFIERS)
    if bad and (strict or not named):
        return bad
    if not named:
        return [RowError(rownum, "", "no_identifier")]
    for error in bad:
        error.left_out = True
    return fields, attributes, tags or EMPTY, opt_outs or EMPTY, bad + warnings


class _Index:
    """Records by identifier, to find the contact a row names (in the match order: external id, phone, …).

    An identifier most often names one record, kept as it is; a list only where several share it.
    """

    def __init__(self, order: tuple[str, ...] = MATCH_ORDER):
        self.order = order
        self.by = {name: {} for name in IDENTIFIERS}

    def add(self, record: _Record) -> None:
        for name in IDENTIFIERS:
            value = record.fields.get(name)
            if not value:
                continue
            slot = self.by[name]
            held = slot.get(value)
            if held is None:
                slot[value] = record
            elif isinstance(held, list):
                if not any(other is record for other in held):
                    held.append(record)
            elif held is not record:
                slot[value] = [held, record]

    def find(self, fields: dict) -> tuple[_Record | None, str]:
        """(the record the row's first matching identifier names, that identifier), or (None, "")."""
        for name in self.order:
            value = fields.get(name)
            held = self.by[name].get(value) if value else None
            if held is not None:
                return (held[0] if isinstance(held, list) else held), name
        return None, ""


def _same_instant(stored, stamp) -> bool:
    if stored is None:
        return False
    return (stored if isinstance(stored, str) else stored.isoformat(" ")) == (
        stamp if isinstance(stamp, str) else stamp.isoformat(" "))


def _load_existing(rows: list[dict], index: _Index, stamp=None) -> None:
    """Index every existing contact that one of the rows' identifiers names.

    Identifiers are looked up in the match order, and a row already matched by one is not
    looked up by the next: a re-import of a large file reads each contact once. A contact
    this import wrote already (an earlier part of the file) is marked `earlier`.
    """
    seen: set[int] = set()
    pending = [r for r in rows if any(r.get(n) for n in IDENTIFIERS)]
    columns = ", ".join(f'"{c}"' for c in ("id", *CONTACT_FIELDS, "created_at", "updated_at", "attributes"))
    for name in index.order:
        values = sorted({r[name] for r in pending if r.get(name)})
        found: set = set()
        for chunk in _chunks(values, 500):
            placeholders = ", ".join([database.param] * len(chunk))
            cursor = database.execute_sql(
                f'SELECT {columns} FROM "contact" WHERE "{name}" IN ({placeholders}) ORDER BY "id"', chunk)
            for row in cursor.fetchall():
                fields = dict(zip(CONTACT_FIELDS, row[1:-3]))
                found.add(fields[name])
                if row[0] in seen:
                    continue
                seen.add(row[0])
                attributes = json.loads(row[-1]) if row[-1] else {}
                created_here = stamp is not None and _same_instant(row[-3], stamp)
                earlier = created_here or (stamp is not None and _same_instant(row[-2], stamp))
                index.add(_Record(id=row[0], fields=fields, attributes=attributes, earlier=earlier,
                                  created_here=created_here,
                                  original={**fields, "attributes": dict(attributes)}))
        pending = [r for r in pending if not (r.get(name) and r[name] in found)]


def _read_rows(rows: Iterable[list[str]], hooks: ImportHooks) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) of each row that has a value, telling `hooks` how far it got."""
    count = 0
    for count, cells in enumerate(rows, 1):
        if count % PROGRESS_EVERY == 0:
            hooks.progress(count)
        if any(c.strip() for c in cells):
            yield count + 1, cells
    hooks.progress(count, final=True)


class _IdSet:
    """A set of contact ids as a bitmap: a million ids in 125 kB instead of about 60 MB of a Python set."""

    def __init__(self):
        self.bits = bytearray()
        self.count = 0

    def add(self, value: int) -> None:
        byte, bit = divmod(value, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if not self.bits[byte] & (1 << bit):
            self.bits[byte] |= 1 << bit
            self.count += 1


@dataclass
class _Tally:
    """The existing contacts an import found (`seen`) and changed (`changed`), each counted once however many
    rows or chunks name it."""

    seen: _IdSet = field(default_factory=_IdSet)
    changed: _IdSet = field(default_factory=_IdSet)

    def settle(self, result: ImportResult) -> None:
        result.updated, result.unchanged = self.changed.count, self.seen.count - self.changed.count


# The checked rows wait in a temporary table (one per connection, gone with it, and on SQLite
# outside the main database's write lock) until all are read; the merge then reads them back a
# chunk at a time inside the one write transaction. Memory holds a chunk, never the file.
STAGE = "_import_stage"
STAGE_COLUMNS = ("rownum", *CONTACT_FIELDS, "attributes", "tags", "opt_outs")
MERGE_CHUNK = 5000  # staged rows merged at a time


def _create_stage() -> None:
    database.execute_sql(f'DROP TABLE IF EXISTS "{STAGE}"')
    database.execute_sql(
        f'CREATE TEMPORARY TABLE "{STAGE}" (rownum INTEGER PRIMARY KEY, '
        + ", ".join(f'"{c}" TEXT' for c in STAGE_COLUMNS[1:]) + ")")


def _drop_stage() -> None:
    database.execute_sql(f'DROP TABLE IF EXISTS "{STAGE}"')


def _staged_row(rownum: int, fields: dict, attributes: dict, tags, opt_outs) -> tuple:
    return (rownum, *(fields.get(c) for c in CONTACT_FIELDS), json.dumps(attributes, ensure_ascii=False) if attributes else None,
            json.dumps(sorted(tags), ensure_ascii=False) if tags else None,
            json.dumps(sorted(opt_outs), ensure_ascii=False) if opt_outs else None)


def _staged_chunks() -> Iterator[list[tuple]]:
    """The staged rows as (rownum, fields, attributes, tags, opt_outs), in file order, MERGE_CHUNK at a time."""
    last = 0
    names = ", ".join(f'"{c}"' for c in STAGE_COLUMNS)
    while True:
        rows = database.execute_sql(
            f'SELECT {names} FROM "{STAGE}" WHERE rownum > {database.param} ORDER BY rownum LIMIT {MERGE_CHUNK}',
            (last,)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [(row[0], {c: v for c, v in zip(CONTACT_FIELDS, row[1:8]) if v is not None},
                json.loads(row[8]) if row[8] else {}, set(json.loads(row[9])) if row[9] else EMPTY,
                set(json.loads(row[10])) if row[10] else EMPTY) for row in rows]


def import_contacts(data: Source, mapping: dict[str, str] | None = None, *, encoding: str = "auto",
                    skip_bad_rows: bool = False, source: str = "import", region: str = DEFAULT_REGION,
                    job_id: int | None = None, hooks: ImportHooks = NO_HOOKS, match_on=MATCH_ORDER,
                    strict: bool = False) -> ImportResult:
    """Import contacts from a CSV file (bytes or a path): check every row, then create/update, tag and
    opt out in one transaction.

    Rows are checked as they are read and staged in a temporary table; the write merges them
    from there. `match_on` orders the identifiers that find an existing contact; `strict` refuses
    a row with any bad value instead of leaving the value out.
    """
    order = match_order(match_on)
    _create_stage()
    try:
        with open_table(data, encoding) as (headers, table, used):
            mapping = guess_mapping(headers, "contacts") if mapping is None else mapping
            check_mapping(mapping, headers, "contacts")
            result = ImportResult(kind="contacts", encoding=used)
            plan, known_tags = _contact_plan(mapping, headers), {}

            def staged():
                for rownum, cells in _read_rows(table, hooks):
                    result.total += 1
                    cleaned = _clean_contact_row(cells, plan, rownum, region, known_tags, strict)
                    if isinstance(cleaned, list):
                        result.errors.extend(cleaned)
                    else:
                        result.warnings.extend(cleaned[4])
                        yield _staged_row(rownum, *cleaned[:4])

            bulk_insert(STAGE, list(STAGE_COLUMNS), staged())
        result.skipped = len({e.row for e in result.errors})
        if result.errors and not skip_bad_rows:
            return result
        with write_transaction():
            hooks.writing()
            written = 0
            stamp, tally = utcnow(), _Tally()
            for chunk in _staged_chunks():
                written += len(chunk)  # before the merge, which empties the chunk
                _merge_contacts(chunk, result, source, job_id, order, stamp, tally)
                hooks.progress_written(written)
            tally.settle(result)
            result.warnings.sort(key=lambda w: w.row)
            result.imported = True
            hooks.written(result)
        return result
    finally:
        _drop_stage()


def _merge_contacts(good: list[tuple], result: ImportResult, source: str, job_id: int | None,
                    order: tuple[str, ...] = MATCH_ORDER, stamp=None, tally: _Tally | None = None) -> None:
    """Merge checked rows (rownum, fields, attributes, tags, opt_outs) into the contacts (inside the caller's transaction).

    A row that matches a contact on another identifier than its own external id merges into it
    (the contact keeps its external id), and so does a row naming a contact an earlier row
    of the file named: each is reported as "merged into contact #N".
    """
    stamp = stamp or utcnow()
    index = _Index(order)
    _load_existing([g[1] for g in good], index, stamp)
    records: list[_Record] = []
    listed: set[int] = set()  # id() of the existing contacts in `records`
    merged: list[tuple[RowError, _Record]] = []  # warnings that name a contact id known only once written
    for rownum, fields, attributes, tags, opt_outs in good:
        record, matched_by = index.find(fields)
        if record is None:
            record = _Record(id=None, fields=fields, attributes=attributes, tags=tags, opt_outs=opt_outs)
            records.append(record)
        else:
            theirs, ours = record.fields.get("external_id"), fields.get("external_id")
            if matched_by != "external_id" and ours and theirs and ours != theirs:
                merged.append((RowError(rownum, "", "merged_other_id", {"kept": theirs}), record))
                fields = {k: v for k, v in fields.items() if k != "external_id"}
            elif record.rows or record.earlier:
                merged.append((RowError(rownum, "", "merged"), record))
            if record.id is not None and id(record) not in listed:
                records.append(record)
                listed.add(id(record))
            record.fields.update(fields)
            record.attributes.update(attributes)
            record.tags = record.tags | tags
            record.opt_outs = record.opt_outs | opt_outs
        index.add(record)
        record.rows.append(rownum)
    good.clear()
    del index, listed
    _write_contacts(records, result, source, job_id, stamp, tally)
    for warning, record in merged:
        warning.params["contact"] = record.id
        result.warnings.append(warning)


def _apply_contacts(good: list[tuple], result: ImportResult, source: str, job_id: int | None,
                    hooks: ImportHooks = NO_HOOKS) -> None:
    """Write validated rows (rownum, fields, attributes, tags, opt_outs) in one transaction."""
    with write_transaction():
        hooks.writing()
        tally = _Tally()
        _merge_contacts(good, result, source, job_id, tally=tally)
        tally.settle(result)
        result.imported = True
        hooks.written(result)


def upsert_contacts(items: list[dict], *, skip_bad_rows: bool = False, source: str = "api",
                    region: str = DEFAULT_REGION) -> ImportResult:
    """Bulk create-or-update contacts given as dicts (the API's bulk upsert), with the import's rules.

    Each item has contact fields, optional ``attributes`` (object), ``tags`` (list) and
    ``opt_outs`` (list of channels). Errors name the item by its 0-based index in ``row``.
    A client sends what it means, so here a bad value refuses its item (an import would leave it out).
    """
    from campaigner.audience.services import clean_contact_fields

    result = ImportResult(kind="contacts", total=len(items))
    good = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            result.errors.append(RowError(index, "", "not_an_object"))
            continue
        try:
            fields = {k: v for k, v in clean_contact_fields(item, region=region).items()
                      if k != "attributes" and (v or k == "name")}
            if not item.get("name"):
                fields.pop("name", None)
            attributes = {k: v for k, v in (item.get("attributes") or {}).items() if v is not None}
            tags = item.get("tags") or []
            opt_outs = item.get("opt_outs") or []
            if not isinstance(tags, list) or not isinstance(opt_outs, list):
                raise AudienceError.because("not_lists", "tags")
            tags = {clean_tag_key(t) for t in tags}
            opt_outs = {str(c).strip() for c in opt_outs if str(c).strip()}
            if not any(fields.get(name) for name in IDENTIFIERS):
                raise AudienceError.because("no_identifier", "")
        except AudienceError as exc:
            result.errors.append(RowError.of(index, exc.field or "", exc))
            continue
        good.append((index, fields, attributes, tags, opt_outs))
    result.skipped = len({e.row for e in result.errors})
    if result.errors and not skip_bad_rows:
        return result
    _apply_contacts(good, result, source, None)
    return result


def _write_contacts(records: list[_Record], result: ImportResult, source: str, job_id: int | None, stamp=None,
                    tally: _Tally | None = None) -> None:
    # The text SQLite stores anyway, formatted once rather than once per row by the driver.
    stamp = stamp or utcnow()
    now = stamp if is_postgres() else stamp.isoformat(" ")
    new = [r for r in records if r.id is None]
    existing = [r for r in records if r.id is not None]

    # New contacts. PostgreSQL: ids reserved from the sequence, then COPY. SQLite: multi-row
    # INSERTs whose RETURNING ids are matched back by the identifier that deduplicated them
    # (unique among new records), since the order of returned rows is not promised.
    # The rows are made a chunk at a time, never all at once.
    columns = [*CONTACT_FIELDS, "attributes", "created_at", "updated_at"]

    def row(r: _Record) -> tuple:
        return (*(r.fields.get(c) if c != "name" else (r.fields.get("name") or "") for c in CONTACT_FIELDS),
                Contact.attributes.db_value(r.attributes), now, now)

    if is_postgres():
        for record, new_id in zip(new, _reserve_ids("contact", len(new))):
            record.id = new_id
        bulk_insert("contact", ["id", *columns], ((r.id, *row(r)) for r in new))
    else:
        for chunk in _chunks(new, 500):
            by_key = {_identity(r.fields): r for r in chunk}
            for returned in bulk_insert("contact", columns, [row(r) for r in chunk], returning=("id", *IDENTIFIERS)):
                by_key[_identity(dict(zip(IDENTIFIERS, returned[1:])))].id = returned[0]
    result.created += len(new)

    changed = []
    for record in existing:
        original = record.original
        if any((record.fields.get(c) or None) != (original.get(c) or None) for c in CONTACT_FIELDS) \
                or record.attributes != original["attributes"]:
            changed.append(record)
    if changed:
        setters = ", ".join(f"{c} = {database.param}" for c in [*CONTACT_FIELDS, "attributes", "updated_at"])
        sql = f"UPDATE contact SET {setters} WHERE id = {database.param}"
        params = [(*(r.fields.get(c) if c != "name" else (r.fields.get("name") or "") for c in CONTACT_FIELDS),
                   Contact.attributes.db_value(r.attributes), now, r.id) for r in changed]
        _executemany(sql, params)

    # Tags: only the pairs that are new, so the timeline and tag sizes say exactly what changed.
    tags = ensure_tags({key for r in records for key in r.tags}) if any(r.tags for r in records) else {}
    had = set()
    tagged_existing = [r.id for r in existing if r.tags]
    tag_ids = sorted({t.id for t in tags.values()})
    for chunk in _chunks(tagged_existing, 500):
        had |= set(_select_in("SELECT contact_id, tag_id FROM contact_tag WHERE contact_id IN ({}) AND tag_id IN ({})",
                              chunk, tag_ids))

    def added(record: _Record) -> list[str]:
        return [key for key in sorted(record.tags) if (record.id, tags[key].id) not in had]

    growth: dict[int, int] = {}

    def new_pairs():
        for record in records:
            for key in added(record):
                tag_id = tags[key].id
                growth[tag_id] = growth.get(tag_id, 0) + 1
                yield tag_id, record.id, now, source

    bulk_insert("contact_tag", ["tag_id", "contact_id", "added_at", "source"], new_pairs(), ignore=True)
    for tag_id, grown in growth.items():  # complete now that bulk_insert has drained new_pairs()
        Tag.update(size=Tag.size + grown).where(Tag.id == tag_id).execute()

    already_out = set()
    for chunk in _chunks([r.id for r in existing if r.opt_outs], 500):
        already_out |= set(_select_in("SELECT contact_id, channel FROM opt_out WHERE contact_id IN ({})", chunk))
    for record in existing:
        if record.opt_outs:
            record.opt_outs = {ch for ch in record.opt_outs if (record.id, ch) not in already_out}
    bulk_insert("opt_out", ["contact_id", "channel", "at", "source"],
                ((r.id, ch, now, source) for r in records for ch in sorted(r.opt_outs)), ignore=True)

    changed_ids = {r.id for r in changed}
    tally = tally or _Tally()
    for record in existing:
        if not record.created_here:
            tally.seen.add(record.id)
            if record.id in changed_ids or record.opt_outs or added(record):
                tally.changed.add(record.id)

    def events():
        for record in records:
            is_new = record.original is None
            tags_added = added(record)
            if not is_new and record.id not in changed_ids and not tags_added and not record.opt_outs:
                continue
            summary = "created by import" if is_new else "updated by import"
            if tags_added:
                summary += "; tags: " + ", ".join(tags_added)
            details = {"job": job_id, "source": source, "rows": record.rows[:20], "tags_added": tags_added,
                       "opted_out": sorted(record.opt_outs)}
            yield record.id, now, "imported", summary, ContactEvent.details.db_value(details)

    bulk_insert("contact_event", ["contact_id", "at", "kind", "summary", "details"], events())
    tally.settle(result)


def _identity(fields: dict) -> tuple:
    for name in IDENTIFIERS:
        if fields.get(name):
            return name, fields[name]
    return ("", "")


# ---------------------------------------------------------------- orders


def parse_amount(raw: str) -> Decimal:
    """An amount like "1,299.00", "¥88" or "88.5" as a Decimal with two places; raise `AudienceError`."""
    text = re.sub(r"[\s,¥￥$元]", "", str(raw or ""))
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AudienceError.because("amount_invalid", "amount", value=shown_value(raw)) from None
    if not value.is_finite() or value < 0:
        raise AudienceError.because("amount_negative", "amount", value=shown_value(raw))
    if abs(value) >= Decimal("1e12"):
        raise AudienceError.because("amount_too_large", "amount", value=shown_value(raw))
    return value.quantize(Decimal("0.01"))


def parse_time(raw: str, timezone: str = "UTC") -> dt.datetime:
    """A time like "2024-05-01 12:30", "2024/5/1" or ISO 8601 as naive UTC (local times read in `timezone`)."""
    from zoneinfo import ZoneInfo

    text = str(raw or "").strip().replace("/", "-")
    if not text:
        raise AudienceError.because("time_empty", "occurred_at")
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(.*)", text)
    if match:
        text = f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}{match[4]}"
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AudienceError.because("time_invalid", "occurred_at", value=shown_value(raw)) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def import_orders(data: Source, mapping: dict[str, str] | None = None, *, encoding: str = "auto",
                  skip_bad_rows: bool = False, source: str = "import", region: str = DEFAULT_REGION,
                  timezone: str = "UTC", job_id: int | None = None, hooks: ImportHooks = NO_HOOKS) -> ImportResult:
    """Import orders from a CSV file (contact, amount, time, order id): all rows checked first, one transaction."""
    with open_table(data, encoding) as (headers, table, used):
        mapping = guess_mapping(headers, "orders") if mapping is None else mapping
        check_mapping(mapping, headers, "orders")
        result = ImportResult(kind="orders", encoding=used)
        column = {target: header for header, target in mapping.items() if target}
        position = {header: index for index, header in enumerate(headers)}
        parsed = []  # (rownum, amount, occurred_at, ident, order_id, source) of the rows without errors
        for rownum, cells in _read_rows(table, hooks):
            result.total += 1
            errors = []

            def cell(target):
                if target not in column:
                    return ""
                index = position[column[target]]
                return cells[index].strip() if index < len(cells) else ""

            amount = occurred_at = None
            try:
                amount = parse_amount(cell("amount"))
            except AudienceError as exc:
                errors.append(RowError.of(rownum, column["amount"], exc))
            try:
                occurred_at = parse_time(cell("occurred_at"), timezone)
            except AudienceError as exc:
                errors.append(RowError.of(rownum, column["occurred_at"], exc))
            ident = {}
            for target, name in (("contact_external_id", "external_id"), ("contact_phone", "phone"),
                                 ("contact_email", "email")):
                value = cell(target)
                if not value:
                    continue
                try:
                    ident[name] = (check_phone(value, region)[0] if name == "phone"
                                   else normalize_email(value) if name == "email" else value)
                except AudienceError as exc:
                    errors.append(RowError.of(rownum, column[target], exc))
            if not ident and not errors:
                errors.append(RowError(rownum, "", "order_no_contact_column"))
            if errors:
                result.errors.extend(errors)
            else:
                parsed.append((rownum, amount, occurred_at, ident, cell("order_id")[:255] or None,
                               cell("source")[:255] or source))

    # The contacts must exist: looked up all at once, in the transaction that writes the orders,
    # so none can go away in between.
    with write_transaction():
        hooks.writing()
        index = _Index()
        _load_existing([p[3] for p in parsed], index)
        seen_ids = set()
        good = []
        for rownum, amount, occurred_at, ident, order_id, order_source in parsed:
            record, _matched_by = index.find(ident)
            if record is None:
                result.errors.append(RowError(rownum, "", "order_contact_missing"))
                continue
            if order_id and order_id in seen_ids:
                result.errors.append(RowError(rownum, column.get("order_id", ""), "order_id_twice"))
                continue
            if order_id:
                seen_ids.add(order_id)
            good.append((record.id, amount, occurred_at, order_id, order_source))
        del parsed, index
        result.errors.sort(key=lambda e: e.row)
        result.skipped = len({e.row for e in result.errors})
        if result.errors and not skip_bad_rows:
            return result

        existing_ids = set()
        for chunk in _chunks(sorted(seen_ids), 500):
            existing_ids |= {o for (o,) in Order.select(Order.external_id).where(Order.external_id.in_(chunk)).tuples()}
        now = utcnow()
        rows = ({"contact": contact, "amount": amount, "occurred_at": occurred_at, "external_id": order_id,
                 "source": order_source, "created_at": now}
                for contact, amount, occurred_at, order_id, order_source in good
                if not order_id or order_id not in existing_ids)
        created = 0
        for chunk in _chunks(rows, 500):
            Order.insert_many(chunk).execute()
            created += len(chunk)
        result.created = created
        result.unchanged = len(good) - created
        result.imported = True
        hooks.written(result)
    return result


# ---------------------------------------------------------------- jobs: imports run on a worker
#
# The page queues a job and a worker runs it: queued -> running -> done, or back to uploaded
# when the file was rejected whole (it keeps its errors and can run again), or failed (nothing
# written; `message` says why; it can run again too). A run claims the job with a token and
# heartbeats while it reads; inside its write transaction it first checks the claim (which on
# PostgreSQL locks the job's row until commit) and last records the outcome, so data and outcome
# commit together. A worker that dies takes its transaction with it: nothing was written, and
# the sweeper fails a running job that shows no sign of life for STALE (skipping on PostgreSQL a
# row whose import is still writing; on SQLite it waits for the one writer's lock to be free).

RUNNABLE = ("uploaded", "failed")  # a job may be (re)started from these
STALE = dt.timedelta(minutes=5)  # a running job silent this long has lost its worker
REQUEUE = dt.timedelta(minutes=5)  # a job queued this long lost its queue message: enqueue it again
HEARTBEAT_SECONDS = 0.5  # the least time between two progress writes of a run
WORKER_LOST = "the worker running this import stopped before it finished"


class ImportJobLost(Exception):
    """The job was taken from this run (failed by the sweeper, or claimed by another): write nothing."""


def queue_job(job: ImportJob, mapping: dict[str, str], skip_bad_rows: bool, strict: bool = False) -> bool:
    """Save the mapping and queue `job` for a worker; False when it is already queued, running or done."""
    values = {"status": "queued", "mapping": mapping, "skip_bad_rows": skip_bad_rows, "strict": strict,
              "processed_rows": 0, "written_rows": 0, "message": "", "claim": "", "heartbeat_at": utcnow(),
              "errors": [], "warnings": [], "created": 0, "updated": 0, "skipped": 0, "finished_at": None}
    queued = ImportJob.update(**values).where(ImportJob.id == job.id, ImportJob.status.in_(RUNNABLE)).execute()
    if queued:
        for name, value in values.items():
            setattr(job, name, value)
    return bool(queued)


def claim_job(job_id: int) -> str | None:
    """Take a queued job for this run: its claim token, or None when it is not queued (any more)."""
    token = uuid.uuid4().hex
    taken = (ImportJob.update(status="running", claim=token, heartbeat_at=utcnow(), processed_rows=0)
             .where(ImportJob.id == job_id, ImportJob.status == "queued").execute())
    return token if taken else None


def written_so_far(job_id: int) -> int | None:
    """Rows a running import has merged so far, or None when it is not writing.

    Its write is one transaction, so the job's row can't show this before it commits: the
    count goes to the queue's key-value store, which the writer's transaction does not hold.
    """
    return huey.get(f"import-written:{job_id}", peek=True)


class _JobRun(ImportHooks):
    """The hooks of a claimed job's run: progress and heartbeat, the claim checked and the outcome recorded."""

    def __init__(self, job: ImportJob, claim: str):
        self.job, self.claim = job, claim
        self.rows = 0
        self.written_rows = 0
        self._last = 0.0
        self._last_written = 0.0

    def _mine(self):
        return (ImportJob.id == self.job.id) & (ImportJob.claim == self.claim) & (ImportJob.status == "running")

    def _touch(self, **values) -> None:
        if not ImportJob.update(heartbeat_at=utcnow(), **values).where(self._mine()).execute():
            raise ImportJobLost(self.job.id)

    def progress(self, rows: int, final: bool = False) -> None:
        self.rows = rows
        if final or time.monotonic() - self._last >= HEARTBEAT_SECONDS:
            self._touch(processed_rows=rows)
            self._last = time.monotonic()

    def writing(self) -> None:
        self._touch(processed_rows=self.rows)
        self._put_written(0)

    def progress_written(self, rows: int) -> None:
        self.written_rows = rows
        if time.monotonic() - self._last_written >= HEARTBEAT_SECONDS:
            self._put_written(rows)
            self._last_written = time.monotonic()

    def _put_written(self, rows: int) -> None:
        huey.put(f"import-written:{self.job.id}", rows)

    def forget_written(self) -> None:
        huey.get(f"import-written:{self.job.id}")  # reading without peek removes it

    def written(self, result: ImportResult) -> None:
        if not self.finish(result):
            raise ImportJobLost(self.job.id)

    def finish(self, result: ImportResult) -> bool:
        """Record the outcome (done, or uploaded again with the errors) if the job is still this run's."""
        from campaigner.audit import record_audit

        status = "done" if result.imported else "uploaded"
        recorded = ImportJob.update(
            status=status, claim="", total_rows=result.total, created=result.created, updated=result.updated,
            skipped=result.skipped, errors=[e.as_dict() for e in result.errors],
            warnings=[w.as_dict() for w in result.warnings], written_rows=self.written_rows, processed_rows=self.rows,
            finished_at=utcnow(), heartbeat_at=utcnow(),
        ).where(self._mine()).execute()
        if recorded:
            record_audit(None, "imported" if result.imported else "rejected", object_type="importjob",
                         object_id=self.job.id, summary=f"{self.job.kind}: {result.created} created, "
                         f"{result.updated} updated, {result.skipped} rows skipped")
        return bool(recorded)

    def fail(self, message: str) -> None:
        ImportJob.update(status="failed", claim="", message=message, finished_at=utcnow()).where(self._mine()).execute()


def run_job(job_id: int, claim: str, *, timezone: str = "UTC", match_on=MATCH_ORDER) -> str:
    """Run a claimed job's import and record its outcome; return the job's status afterwards.

    A file that can't be read or any error while writing fails the job (nothing is written:
    the write is one transaction); a run that lost its claim leaves the job to whoever took it.
    """
    job = ImportJob.get_by_id(job_id)
    hooks = _JobRun(job, claim)
    run = import_contacts if job.kind == "contacts" else import_orders
    options = {"timezone": timezone} if job.kind == "orders" else {"match_on": match_on, "strict": job.strict}
    try:
        result = run(Path(job.path), job.mapping, encoding=job.encoding, skip_bad_rows=job.skip_bad_rows,
                     source=f"import:{job.id}", job_id=job.id, hooks=hooks, **options)
        if not result.imported and not hooks.finish(result):
            raise ImportJobLost(job.id)
    except ImportJobLost:
        log.warning("import job %s was taken from this run; it wrote nothing", job_id)
        return ImportJob.get_by_id(job_id).status
    except ImportFileError as exc:
        hooks.fail(f"the file can't be read: {exc}")
    except OSError as exc:
        hooks.fail(f"the uploaded file can't be read: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - recorded on the job for the page, and logged with its traceback
        log.exception("import job %s failed", job_id)
        hooks.fail(f"{type(exc).__name__}: {exc}")
    else:
        if result.imported:
            Path(job.path).unlink(missing_ok=True)
    finally:
        hooks.forget_written()
    return ImportJob.get_by_id(job_id).status


def sweep_jobs(now: dt.datetime | None = None) -> list[int]:
    """Fail running jobs whose worker stopped; return the ids of queued jobs to enqueue again (their
    queue message was lost), marked as queued anew so the next sweep waits another REQUEUE."""
    now = now or utcnow()
    silent = ((ImportJob.status == "running")
              & (ImportJob.heartbeat_at.is_null() | (ImportJob.heartbeat_at < now - STALE)))
    for (job_id,) in ImportJob.select(ImportJob.id).where(silent).tuples():
        with write_transaction():
            query = ImportJob.select(ImportJob.id).where(silent, ImportJob.id == job_id)
            if is_postgres() and query.for_update("FOR UPDATE SKIP LOCKED").first() is None:
                continue  # its import holds the row: it is still writing
            if (ImportJob.update(status="failed", claim="", message=WORKER_LOST, finished_at=now)
                    .where(silent, ImportJob.id == job_id).execute()):
                log.warning("import job %s lost its worker; marked failed", job_id)
    forgotten = ((ImportJob.status == "queued")
                 & (ImportJob.heartbeat_at.is_null() | (ImportJob.heartbeat_at < now - REQUEUE)))
    ids = [job_id for (job_id,) in ImportJob.select(ImportJob.id).where(forgotten).tuples()]
    if ids:
        ImportJob.update(heartbeat_at=now).where(forgotten, ImportJob.id.in_(ids)).execute()
    return ids


# ---------------------------------------------------------------- helpers


def bulk_insert(table: str, columns: list[str], rows: Iterable[tuple], *, ignore: bool = False,
                returning: tuple = ()) -> list[tuple]:
    """Insert many rows with multi-row VALUES statements (values ready for the driver); RETURNING rows if asked.

    Peewee's insert_many spends more time building SQL than the database spends running it
    at this size, so the statement is written here, once per chunk. `rows` may be a generator:
    it is read a chunk at a time.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return []
    rows = itertools.chain((first,), rows)
    names = ", ".join(f'"{c}"' for c in columns)
    tail = (" ON CONFLICT DO NOTHING" if ignore else "") + (
        " RETURNING " + ", ".join(f'"{c}"' for c in returning) if returning else "")
    out: list[tuple] = []
    cursor = database.cursor()
    if is_postgres() and not returning:
        _copy_rows(cursor, table, columns, rows, ignore)
        return out
    if is_postgres():
        from psycopg2.extras import execute_values

        sql = f'INSERT INTO "{table}" ({names}) VALUES %s{tail}'
        for chunk in _chunks(rows, 1000):
            got = execute_values(cursor, sql, chunk, page_size=len(chunk), fetch=bool(returning))
            out.extend(got or [])
        return out
    per_row = "(" + ", ".join("?" * len(columns)) + ")"
    size = max(1, min(500, 32000 // len(columns)))  # SQLite allows 32766 parameters a statement
    for chunk in _chunks(rows, size):
        sql = f'INSERT INTO "{table}" ({names}) VALUES {", ".join([per_row] * len(chunk))}{tail}'
        cursor.execute(sql, [value for row in chunk for value in row])
        if returning:
            out.extend(cursor.fetchall())
    return out


COPY_ROWS = 10_000  # rows a COPY statement carries: its text buffer stays a few megabytes


def _copy_rows(cursor, table: str, columns: list[str], rows: Iterable[tuple], ignore: bool) -> None:
    """PostgreSQL: stream rows with COPY (several times faster than INSERT at import sizes).

    COPY knows no ON CONFLICT, so with `ignore` the rows go to a temporary table first and
    from there into `table` with ``INSERT … SELECT … ON CONFLICT DO NOTHING``.
    """
    names = ", ".join(f'"{c}"' for c in columns)
    target = f'"_bulk_{table}"' if ignore else f'"{table}"'
    if ignore:
        # A failure aborts the transaction, which takes the temporary table with it.
        cursor.execute(f'CREATE TEMPORARY TABLE {target} AS SELECT {names} FROM "{table}" WITH NO DATA')
    for chunk in _chunks(rows, COPY_ROWS):
        buffer = io.StringIO()
        for row in chunk:
            buffer.write("\t".join(_copy_text(v) for v in row))
            buffer.write("\n")
        buffer.seek(0)
        cursor.copy_expert(f"COPY {target} ({names}) FROM STDIN", buffer)
    if ignore:
        cursor.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM {target} ON CONFLICT DO NOTHING')
        cursor.execute(f"DROP TABLE {target}")


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _reserve_ids(table: str, count: int) -> list[int]:
    """PostgreSQL: `count` ids from the table's sequence, so new rows can be COPYed with known ids."""
    cursor = database.execute_sql(
        f"SELECT nextval(pg_get_serial_sequence('\"{table}\"', 'id')) FROM generate_series(1, %s)", (count,))
    return [row[0] for row in cursor.fetchall()]


def _select_in(template: str, *lists: list) -> list[tuple]:
    """Rows of a query whose ``IN ({})`` slots take the given lists (raw SQL: peewee's builder is the cost here)."""
    marks = [", ".join([database.param] * len(values)) for values in lists]
    return [tuple(row) for row in database.execute_sql(template.format(*marks),
                                                     [v for values in lists for v in values]).fetchall()]


def _executemany(sql: str, params: list[tuple]) -> None:
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_batch

        execute_batch(cursor, sql, params, page_size=500)
    else:
        cursor.executemany(sql, params)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` items, taken from `items` (a list or a generator) as they are needed."""
    items = iter(items)
    while chunk := list(itertools.islice(items, size)):
        yield chunk
