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
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from campaigner.audience.models import Contact, ContactEvent, ContactTag, OptOut, Order, Tag
from campaigner.audience.services import (
    DEFAULT_REGION, AudienceError, clean_tag_key, ensure_tags, normalize_email, normalize_phone,
    normalize_timezone,
)
from campaigner.db import database, is_postgres, utcnow

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


# ---------------------------------------------------------------- reading


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """The file's text and the encoding that read it; raise `ImportFileError` when none does."""
    if encoding not in ("auto", "", None):
        name = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030"}.get(
            encoding.lower(), encoding)
        try:
            return data.decode(name), encoding.lower()
        except (UnicodeDecodeError, LookupError):
            raise ImportFileError(f"the file is not valid {encoding}") from None
    for name in ENCODINGS:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        label = "gbk" if name == "gb18030" else ("utf-8-bom" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
        return text, label
    raise ImportFileError("the file is neither UTF-8 nor GBK text")


def read_table(data: bytes, encoding: str = "auto") -> tuple[list[str], list[list[str]], str]:
    """(headers, rows, encoding) of a CSV file; raise `ImportFileError` when it has no usable header."""
    text, used = decode(data, encoding)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
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
    try:
        rows = [row for row in reader]
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV: {exc}") from None
    return headers, rows, used


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


def preview(data: bytes, encoding: str = "auto", rows: int = 5) -> tuple[list[str], list[list[str]], str, int]:
    """(headers, the first `rows` rows, encoding, total data rows) for the mapping step."""
    headers, table, used = read_table(data, encoding)
    return headers, table[:rows], used, len(table)


def errors_csv(errors: list) -> str:
    """The per-row error report as CSV text (row, field, reason), with a BOM so spreadsheets read it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["row", "field", "reason"])
    for error in errors:
        item = error.as_dict() if isinstance(error, RowError) else error
        writer.writerow([item["row"], item["field"], item["reason"]])
    return out.getvalue()


# ---------------------------------------------------------------- contacts


@dataclass
class _Record:
    """One contact as the import will leave it: an existing one (id set) or a new one."""

    id: int | None
    fields: dict
    attributes: dict
    tags: set = field(default_factory=set)
    opt_outs: set = field(default_factory=set)
    original: dict | None = None  # the existing contact's values, to tell what changed
    rows: list = field(default_factory=list)


def _clean_contact_row(row: dict, mapping: dict, rownum: int, region: str):
    """(fields, attributes, tags, opt_outs) of one row, or a list of `RowError`."""
    fields, attributes, tags, opt_outs, errors = {}, {}, set(), set(), []
    for header, target in mapping.items():
        if not target:
            continue
        value = (row.get(header) or "").strip()
        try:
            if target in CONTACT_FIELDS:
                if not value:
                    continue
                if target == "phone":
                    fields["phone"] = normalize_phone(value, region)
                elif target == "email":
                    fields["email"] = normalize_email(value)
                elif target == "timezone":
                    fields["timezone"] = normalize_timezone(value)
                elif target == "name":
                    fields["name"] = value[:255]
                else:
                    if len(value) > 255:
                        raise AudienceError("longer than 255 characters", target)
                    fields[target] = value
            elif target == "tags":
                tags.update(clean_tag_key(part) for part in TAG_SEPARATORS.split(value) if part.strip())
            elif target.startswith("tag_group:"):
                group = target.partition(":")[2].strip()
                tags.update(clean_tag_key(f"{group}:{part.strip()}") for part in TAG_SEPARATORS.split(value)
                            if part.strip())
            elif target.startswith("attr:"):
                if value:
                    attributes[target.partition(":")[2].strip()] = value
            elif target.startswith("optout:"):
                if value.lower() in TRUTHY:
                    opt_outs.add(target.partition(":")[2].strip())
        except AudienceError as exc:
            errors.append(RowError(rownum, header, exc.message))
    if not errors and not any(fields.get(name) for name in IDENTIFIERS):
        errors.append(RowError(rownum, "", "no external id, phone, email, chat id or openid"))
    return errors or (fields, attributes, tags, opt_outs)


class _Index:
    """Records by identifier, to find the contact a row names (external id, then phone, email, …)."""

    def __init__(self):
        self.by = {name: {} for name in IDENTIFIERS}

    def add(self, record: _Record) -> None:
        for name in IDENTIFIERS:
            value = record.fields.get(name)
            if value:
                self.by[name].setdefault(value, []).append(record)

    def find(self, fields: dict) -> _Record | None:
        external = fields.get("external_id")
        if external and external in self.by["external_id"]:
            return self.by["external_id"][external][0]
        for name in IDENTIFIERS[1:]:
            value = fields.get(name)
            for record in self.by[name].get(value, ()) if value else ():
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


def import_contacts(data: bytes, mapping: dict[str, str] | None = None, *, encoding: str = "auto",
                    skip_bad_rows: bool = False, source: str = "import", region: str = DEFAULT_REGION,
                    job_id: int | None = None) -> ImportResult:
    """Import contacts from CSV bytes: validate every row, then create/update, tag and opt out in one transaction."""
    headers, table, used = read_table(data, encoding)
    mapping = guess_mapping(headers, "contacts") if mapping is None else mapping
    check_mapping(mapping, headers, "contacts")
    result = ImportResult(kind="contacts", total=len(table), encoding=used)

    good = []
    for offset, cells in enumerate(table):
        rownum = offset + 2
        if not any(c.strip() for c in cells):
            result.total -= 1
            continue
        cleaned = _clean_contact_row(dict(zip(headers, cells)), mapping, rownum, region)
        if isinstance(cleaned, list):
            result.errors.extend(cleaned)
        else:
            good.append((rownum, *cleaned))
    bad_rows = len({e.row for e in result.errors})
    result.skipped = bad_rows
    if result.errors and not skip_bad_rows:
        return result

    _apply_contacts(good, result, source, job_id)
    return result


def _apply_contacts(good: list[tuple], result: ImportResult, source: str, job_id: int | None) -> None:
    """Write validated rows (rownum, fields, attributes, tags, opt_outs) in one transaction."""
    with database.atomic():
        index = _Index()
        _load_existing([g[1] for g in good], index)
        records: list[_Record] = []
        listed: set[int] = set()  # id() of the records in `records`
        for rownum, fields, attributes, tags, opt_outs in good:
            record = index.find(fields)
            if record is None:
                record = _Record(id=None, fields=dict(fields), attributes=dict(attributes))
                records.append(record)
                listed.add(id(record))
            else:
                if id(record) not in listed:
                    records.append(record)
                    listed.add(id(record))
                record.fields.update(fields)
                record.attributes.update(attributes)
            index.add(record)
            record.tags |= tags
            record.opt_outs |= opt_outs
            record.rows.append(rownum)
        _write_contacts(records, result, source, job_id)
    result.imported = True


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

    # New contacts. PostgreSQL: ids reserved from the sequence, then one COPY. SQLite: multi-row
    # INSERTs whose RETURNING ids are matched back by the identifier that deduplicated them
    # (unique among new records), since the order of returned rows is not promised.
    columns = [*CONTACT_FIELDS, "attributes", "created_at", "updated_at"]
    rows = [(*(r.fields.get(c) if c != "name" else (r.fields.get("name") or "") for c in CONTACT_FIELDS),
             Contact.attributes.db_value(r.attributes), now, now) for r in new]
    if is_postgres():
        for record, new_id in zip(new, _reserve_ids("contact", len(new))):
            record.id = new_id
        bulk_insert("contact", ["id", *columns], [(r.id, *row) for r, row in zip(new, rows)])
    else:
        by_key = {_identity(r.fields): r for r in new}
        for returned in bulk_insert("contact", columns, rows, returning=("id", *IDENTIFIERS)):
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
    new_pairs, added_by_contact, growth = [], {}, {}
    for record in records:
        for key in sorted(record.tags):
            tag_id = tags[key].id
            if (record.id, tag_id) not in had:
                new_pairs.append((tag_id, record.id, now, source))
                added_by_contact.setdefault(record.id, []).append(key)
                growth[tag_id] = growth.get(tag_id, 0) + 1
    bulk_insert("contact_tag", ["tag_id", "contact_id", "added_at", "source"], new_pairs, ignore=True)
    for tag_id, grown in growth.items():
        Tag.update(size=Tag.size + grown).where(Tag.id == tag_id).execute()

    already_out = set()
    for chunk in _chunks([r.id for r in existing if r.opt_outs], 500):
        already_out |= set(_select_in("SELECT contact_id, channel FROM opt_out WHERE contact_id IN ({})", chunk))
    for record in records:
        record.opt_outs = {ch for ch in record.opt_outs if (record.id, ch) not in already_out}
    opt_rows = [(r.id, ch, now, source) for r in records for ch in sorted(r.opt_outs)]
    bulk_insert("opt_out", ["contact_id", "channel", "at", "source"], opt_rows, ignore=True)

    events = []
    unchanged = 0
    changed_ids = {r.id for r in changed}
    for record in records:
        is_new = record.original is None
        added = added_by_contact.get(record.id, [])
        if not is_new and record.id not in changed_ids and not added and not record.opt_outs:
            unchanged += 1
            continue
        summary = "created by import" if is_new else "updated by import"
        if added:
            summary += "; tags: " + ", ".join(added)
        details = {"job": job_id, "source": source, "rows": record.rows[:20], "tags_added": added,
                   "opted_out": sorted(record.opt_outs)}
        events.append((record.id, now, "imported", summary, ContactEvent.details.db_value(details)))
    bulk_insert("contact_event", ["contact_id", "at", "kind", "summary", "details"], events)
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


def import_orders(data: bytes, mapping: dict[str, str] | None = None, *, encoding: str = "auto",
                  skip_bad_rows: bool = False, source: str = "import", region: str = DEFAULT_REGION,
                  timezone: str = "UTC", job_id: int | None = None) -> ImportResult:
    """Import orders from CSV bytes (contact, amount, time, order id): all rows checked first, one transaction."""
    headers, table, used = read_table(data, encoding)
    mapping = guess_mapping(headers, "orders") if mapping is None else mapping
    check_mapping(mapping, headers, "orders")
    result = ImportResult(kind="orders", total=len(table), encoding=used)
    column = {target: header for header, target in mapping.items() if target}

    parsed = []
    for offset, cells in enumerate(table):
        rownum = offset + 2
        if not any(c.strip() for c in cells):
            result.total -= 1
            continue
        row = dict(zip(headers, cells))
        errors = []
        item = {"row": rownum}

        def cell(target):
            return (row.get(column[target]) or "").strip() if target in column else ""

        try:
            item["amount"] = parse_amount(cell("amount"))
        except AudienceError as exc:
            errors.append(RowError(rownum, column["amount"], exc.message))
        try:
            item["occurred_at"] = parse_time(cell("occurred_at"), timezone)
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
        item["ident"] = ident
        item["order_id"] = cell("order_id")[:255] or None
        item["source"] = cell("source")[:255] or source
        if errors:
            result.errors.extend(errors)
        else:
            parsed.append(item)

    # The contacts must exist; look them all up at once.
    index = _Index()
    _load_existing([p["ident"] for p in parsed], index)
    seen_ids = set()
    good = []
    for item in parsed:
        record = index.find(item["ident"])
        if record is None:
            result.errors.append(RowError(item["row"], "", "no contact has this external id, phone or email"))
            continue
        if item["order_id"] and item["order_id"] in seen_ids:
            result.errors.append(RowError(item["row"], column.get("order_id", ""), "this order id appears twice in the file"))
            continue
        if item["order_id"]:
            seen_ids.add(item["order_id"])
        item["contact"] = record.id
        good.append(item)
    result.errors.sort(key=lambda e: e.row)
    result.skipped = len({e.row for e in result.errors})
    if result.errors and not skip_bad_rows:
        return result

    existing_ids = set()
    for chunk in _chunks(sorted(seen_ids), 500):
        existing_ids |= {o for (o,) in Order.select(Order.external_id).where(Order.external_id.in_(chunk)).tuples()}
    now = utcnow()
    rows = [{"contact": g["contact"], "amount": g["amount"], "occurred_at": g["occurred_at"],
             "external_id": g["order_id"], "source": g["source"], "created_at": now}
            for g in good if not g["order_id"] or g["order_id"] not in existing_ids]
    with database.atomic():
        for chunk in _chunks(rows, 500):
            Order.insert_many(chunk).execute()
    result.created = len(rows)
    result.unchanged = len(good) - len(rows)
    result.imported = True
    return result


# ---------------------------------------------------------------- helpers


def bulk_insert(table: str, columns: list[str], rows: list[tuple], *, ignore: bool = False,
                returning: tuple = ()) -> list[tuple]:
    """Insert many rows with multi-row VALUES statements (values ready for the driver); RETURNING rows if asked.

    Peewee's insert_many spends more time building SQL than the database spends running it
    at this size, so the statement is written here, once per chunk.
    """
    if not rows:
        return []
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


def _copy_rows(cursor, table: str, columns: list[str], rows: list[tuple], ignore: bool) -> None:
    """PostgreSQL: stream rows with COPY (several times faster than INSERT at import sizes).

    COPY knows no ON CONFLICT, so with `ignore` the rows go to a temporary table first and
    from there into `table` with ``INSERT … SELECT … ON CONFLICT DO NOTHING``.
    """
    names = ", ".join(f'"{c}"' for c in columns)
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_text(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    if not ignore:
        cursor.copy_expert(f'COPY "{table}" ({names}) FROM STDIN', buffer)
        return
    # A failure aborts the transaction, which takes the temporary table with it.
    cursor.execute(f'CREATE TEMPORARY TABLE "_bulk_{table}" AS SELECT {names} FROM "{table}" WITH NO DATA')
    cursor.copy_expert(f'COPY "_bulk_{table}" ({names}) FROM STDIN', buffer)
    cursor.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "_bulk_{table}" ON CONFLICT DO NOTHING')
    cursor.execute(f'DROP TABLE "_bulk_{table}"')


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


def _chunks(items, size: int):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
