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
from campaigner.audience.services import (
    DEFAULT_REGION, AudienceError, clean_tag_key, ensure_tags, normalize_email, normalize_phone,
    normalize_timezone,
)
# write_transaction: on SQLite it takes the write lock at once, and the threads of a worker queue
# for it on a lock of their own, so a send chain waits out an import instead of timing out.
from campaigner.db import database, is_postgres, utcnow, write_transaction
from campaigner.spreadsheet_csv import csv_writer

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
    row: int
    field: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "reason": self.reason}


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
    imported: bool = False
    encoding: str = ""

    def as_dict(self) -> dict:
        return {"kind": self.kind, "total": self.total, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": self.skipped, "imported": self.imported,
                "encoding": self.encoding, "errors": [e.as_dict() for e in self.errors]}


class ImportHooks:
    """Where a caller follows an import: rows read, and the start and end of its one write transaction.

    The job runner uses them to show progress and to hold its claim on the job: `writing` runs
    first inside the transaction and `written` last, so the job's outcome commits with the data.
    """

    def progress(self, rows: int, final: bool = False) -> None:
        """`rows` data rows read and checked so far, `final` once all are (called outside any transaction)."""

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


def errors_csv(errors: list) -> str:
    """The per-row error report as CSV text (row, field, reason), with a BOM so spreadsheets read it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv_writer(out)
    writer.writerow(["row", "field", "reason"])
    for error in errors:
        item = error.as_dict() if isinstance(error, RowError) else error
        writer.writerow([item["row"], item["field"], item["reason"]])
    return out.getvalue()


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


def _clean_contact_row(cells: list[str], plan: list, rownum: int, region: str, known_tags: dict):
    """(fields, attributes, tags, opt_outs) of one row, or a list of `RowError`.

    `known_tags` maps each tag text seen to its clean key, so a tag on many rows is checked
    once and stored once.
    """
    fields, attributes, tags, opt_outs, errors = {}, {}, None, None, []
    for index, header, kind, name in plan:
        value = cells[index].strip() if index < len(cells) else ""
        try:
            if kind in CONTACT_FIELDS:
                if not value:
                    continue
                if kind == "phone":
                    fields["phone"] = normalize_phone(value, region)
                elif kind == "email":
                    fields["email"] = normalize_email(value)
                elif kind == "timezone":
                    fields["timezone"] = normalize_timezone(value)
                elif kind == "name":
                    fields["name"] = value[:255]
                else:
                    if len(value) > 255:
                        raise AudienceError("longer than 255 characters", kind)
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
            errors.append(RowError(rownum, header, exc.message))
    if not errors and not any(fields.get(name) for name in IDENTIFIERS):
        errors.append(RowError(rownum, "", "no external id, phone, email, chat id or openid"))
    return errors or (fields, attributes, tags or EMPTY, opt_outs or EMPTY)


class _Index:
    """Records by identifier, to find the contact a row names (external id, then phone, email, …).

    An identifier most often names one record, kept as it is; a list only where several share it.
    """

    def __init__(self):
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

    def _all(self, name: str, value) -> list | tuple:
        held = self.by[name].get(value)
        return () if held is None else held if isinstance(held, list) else (held,)

    def find(self, fields: dict) -> _Record | None:
        external = fields.get("external_id")
        if external:
            named = self._all("external_id", external)
            if named:
                return named[0]
        for name in IDENTIFIERS[1:]:
            value = fields.get(name)
            for record in self._all(name, value) if value else ():
                other = record.fields.get("external_id")
                if not external or not other or other == external:
                    return record
        return None


def _load_existing(rows: list[dict], index: _Index) -> None:
    """Index every existing contact that one of the rows' identifiers names.

    Identifiers are looked up in priority order, and a row already matched by one is not
    looked up by the next: a re-import of a large file reads each contact once.
    """
    import json

    seen: set[int] = set()
    pending = [r for r in rows if any(r.get(n) for n in IDENTIFIERS)]
    columns = ", ".join(f'"{c}"' for c in ("id", *CONTACT_FIELDS, "attributes"))
    for name in IDENTIFIERS:
        values = sorted({r[name] for r in pending if r.get(name)})
        found: dict[str, list] = {}  # value -> external ids of the contacts that have it
        for chunk in _chunks(values, 500):
            placeholders = ", ".join([database.param] * len(chunk))
            cursor = database.execute_sql(
                f'SELECT {columns} FROM "contact" WHERE "{name}" IN ({placeholders}) ORDER BY "id"', chunk)
            for row in cursor.fetchall():
                fields = dict(zip(CONTACT_FIELDS, row[1:-1]))
                found.setdefault(fields[name], []).append(fields["external_id"])
                if row[0] in seen:
                    continue
                seen.add(row[0])
                attributes = json.loads(row[-1]) if row[-1] else {}
                index.add(_Record(id=row[0], fields=fields, attributes=attributes,
                                  original={**fields, "attributes": dict(attributes)}))
        pending = [r for r in pending if not (r.get(name) and any(
            not r.get("external_id") or not other or other == r["external_id"] for other in found.get(r[name], ())))]


def _read_rows(rows: Iterable[list[str]], hooks: ImportHooks) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) of each row that has a value, telling `hooks` how far it got."""
    count = 0
    for count, cells in enumerate(rows, 1):
        if count % PROGRESS_EVERY == 0:
            hooks.progress(count)
        if any(c.strip() for c in cells):
            yield count + 1, cells
    hooks.progress(count, final=True)


def import_contacts(data: Source, mapping: dict[str, str] | None = None, *, encoding: str = "auto",
                    skip_bad_rows: bool = False, source: str = "import", region: str = DEFAULT_REGION,
                    job_id: int | None = None, hooks: ImportHooks = NO_HOOKS) -> ImportResult:
    """Import contacts from a CSV file (bytes or a path): validate every row, then create/update, tag and
    opt out in one transaction."""
    with open_table(data, encoding) as (headers, table, used):
        mapping = guess_mapping(headers, "contacts") if mapping is None else mapping
        check_mapping(mapping, headers, "contacts")
        result = ImportResult(kind="contacts", encoding=used)
        plan, known_tags = _contact_plan(mapping, headers), {}
        good = []
        for rownum, cells in _read_rows(table, hooks):
            result.total += 1
            cleaned = _clean_contact_row(cells, plan, rownum, region, known_tags)
            if isinstance(cleaned, list):
                result.errors.extend(cleaned)
            else:
                good.append((rownum, *cleaned))
    result.skipped = len({e.row for e in result.errors})
    if result.errors and not skip_bad_rows:
        return result

    _apply_contacts(good, result, source, job_id, hooks)
    return result


def _apply_contacts(good: list[tuple], result: ImportResult, source: str, job_id: int | None,
                    hooks: ImportHooks = NO_HOOKS) -> None:
    """Write validated rows (rownum, fields, attributes, tags, opt_outs) in one transaction.

    The records take over the rows' dicts and sets rather than copying them, and `good` is
    emptied once they have: the write's own lists are built while the rows' tuples are gone.
    """
    with write_transaction():
        hooks.writing()
        index = _Index()
        _load_existing([g[1] for g in good], index)
        records: list[_Record] = []
        listed: set[int] = set()  # id() of the existing contacts in `records`
        for rownum, fields, attributes, tags, opt_outs in good:
            record = index.find(fields)
            if record is None:
                record = _Record(id=None, fields=fields, attributes=attributes, tags=tags, opt_outs=opt_outs)
                records.append(record)
            else:
                if record.id is not None and id(record) not in listed:
                    records.append(record)
                    listed.add(id(record))
                record.fields.update(fields)
                record.attributes.update(attributes)
                record.tags |= tags
                record.opt_outs |= opt_outs
            index.add(record)
            record.rows.append(rownum)
        good.clear()
        del index, listed
        _write_contacts(records, result, source, job_id)
        result.imported = True
        hooks.written(result)


def upsert_contacts(items: list[dict], *, skip_bad_rows: bool = False, source: str = "api",
                    region: str = DEFAULT_REGION) -> ImportResult:
    """Bulk create-or-update contacts given as dicts (the API's bulk upsert), with the import's rules.

    Each item has contact fields, optional ``attributes`` (object), ``tags`` (list) and
    ``opt_outs`` (list of channels). Errors name the item by its 0-based index in ``row``.
    """
    from campaigner.audience.services import clean_contact_fields

    result = ImportResult(kind="contacts", total=len(items))
    good = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            result.errors.append(RowError(index, "", "each contact is a JSON object"))
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
                raise AudienceError("tags and opt_outs are lists", "tags")
            tags = {clean_tag_key(t) for t in tags}
            opt_outs = {str(c).strip() for c in opt_outs if str(c).strip()}
            if not any(fields.get(name) for name in IDENTIFIERS):
                raise AudienceError("no external id, phone, email, chat id or openid", "")
        except AudienceError as exc:
            result.errors.append(RowError(index, exc.field or "", exc.message))
            continue
        good.append((index, fields, attributes, tags, opt_outs))
    result.skipped = len({e.row for e in result.errors})
    if result.errors and not skip_bad_rows:
        return result
    _apply_contacts(good, result, source, None)
    return result


def _write_contacts(records: list[_Record], result: ImportResult, source: str, job_id: int | None) -> None:
    # The text SQLite stores anyway, formatted once rather than once per row by the driver.
    now = utcnow() if is_postgres() else utcnow().isoformat(" ")
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
    result.created = len(new)

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
    unchanged = sum(1 for r in existing if r.id not in changed_ids and not r.opt_outs and not added(r))

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
    result.updated = len(existing) - unchanged
    result.unchanged = unchanged


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
        raise AudienceError(f"{raw!r} is not an amount", "amount") from None
    if not value.is_finite() or value < 0:
        raise AudienceError(f"{raw!r} is not an amount of zero or more", "amount")
    if abs(value) >= Decimal("1e12"):
        raise AudienceError(f"{raw!r} is too large", "amount")
    return value.quantize(Decimal("0.01"))


def parse_time(raw: str, timezone: str = "UTC") -> dt.datetime:
    """A time like "2024-05-01 12:30", "2024/5/1" or ISO 8601 as naive UTC (local times read in `timezone`)."""
    from zoneinfo import ZoneInfo

    text = str(raw or "").strip().replace("/", "-")
    if not text:
        raise AudienceError("the time is empty", "occurred_at")
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(.*)", text)
    if match:
        text = f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}{match[4]}"
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AudienceError(f"{raw!r} is not a date and time (YYYY-MM-DD HH:MM)", "occurred_at") from None
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
                errors.append(RowError(rownum, column["amount"], exc.message))
            try:
                occurred_at = parse_time(cell("occurred_at"), timezone)
            except AudienceError as exc:
                errors.append(RowError(rownum, column["occurred_at"], exc.message))
            ident = {}
            for target, name in (("contact_external_id", "external_id"), ("contact_phone", "phone"),
                                 ("contact_email", "email")):
                value = cell(target)
                if not value:
                    continue
                try:
                    ident[name] = (normalize_phone(value, region) if name == "phone"
                                   else normalize_email(value) if name == "email" else value)
                except AudienceError as exc:
                    errors.append(RowError(rownum, column[target], exc.message))
            if not ident and not errors:
                errors.append(RowError(rownum, "", "no contact: give an external id, phone or email"))
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
            record = index.find(ident)
            if record is None:
                result.errors.append(RowError(rownum, "", "no contact has this external id, phone or email"))
                continue
            if order_id and order_id in seen_ids:
                result.errors.append(RowError(rownum, column.get("order_id", ""), "this order id appears twice in the file"))
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


def queue_job(job: ImportJob, mapping: dict[str, str], skip_bad_rows: bool) -> bool:
    """Save the mapping and queue `job` for a worker; False when it is already queued, running or done."""
    values = {"status": "queued", "mapping": mapping, "skip_bad_rows": skip_bad_rows, "processed_rows": 0,
              "message": "", "claim": "", "heartbeat_at": utcnow(), "errors": [], "created": 0, "updated": 0,
              "skipped": 0, "finished_at": None}
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


class _JobRun(ImportHooks):
    """The hooks of a claimed job's run: progress and heartbeat, the claim checked and the outcome recorded."""

    def __init__(self, job: ImportJob, claim: str):
        self.job, self.claim = job, claim
        self.rows = 0
        self._last = 0.0

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

    def written(self, result: ImportResult) -> None:
        if not self.finish(result):
            raise ImportJobLost(self.job.id)

    def finish(self, result: ImportResult) -> bool:
        """Record the outcome (done, or uploaded again with the errors) if the job is still this run's."""
        from campaigner.audit import record_audit

        status = "done" if result.imported else "uploaded"
        recorded = ImportJob.update(
            status=status, claim="", total_rows=result.total, created=result.created, updated=result.updated,
            skipped=result.skipped, errors=[e.as_dict() for e in result.errors], processed_rows=self.rows,
            finished_at=utcnow(), heartbeat_at=utcnow(),
        ).where(self._mine()).execute()
        if recorded:
            record_audit(None, "imported" if result.imported else "rejected", object_type="importjob",
                         object_id=self.job.id, summary=f"{self.job.kind}: {result.created} created, "
                         f"{result.updated} updated, {result.skipped} rows skipped")
        return bool(recorded)

    def fail(self, message: str) -> None:
        ImportJob.update(status="failed", claim="", message=message, finished_at=utcnow()).where(self._mine()).execute()


def run_job(job_id: int, claim: str, *, timezone: str = "UTC") -> str:
    """Run a claimed job's import and record its outcome; return the job's status afterwards.

    A file that can't be read or any error while writing fails the job (nothing is written:
    the write is one transaction); a run that lost its claim leaves the job to whoever took it.
    """
    job = ImportJob.get_by_id(job_id)
    hooks = _JobRun(job, claim)
    run = import_contacts if job.kind == "contacts" else import_orders
    options = {"timezone": timezone} if job.kind == "orders" else {}
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
