"""CSV import of contacts and orders: encodings, deduplication, all-or-nothing, skip bad rows, reports."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from campaigner.audience import importer
from campaigner.audience.models import Contact, ContactEvent, ContactTag, ImportJob, OptOut, Order, Tag
from campaigner.audience.services import contact_tag_keys, create_contact
from campaigner.db import database

SHOP_CSV = (
    "会员ID,姓名,手机,邮箱,标签,渠道,城市,退订短信\n"
    "M001,张三,13800138000,zhang@example.com,vip|新客,门店,上海,\n"
    "M002,李四,+86 138 0013 8001,,vip,线上,北京,是\n"
    "M003,Anna Lee,,anna@example.com,,门店,,\n"
)
MAPPING = {"会员ID": "external_id", "姓名": "name", "手机": "phone", "邮箱": "email", "标签": "tags",
           "渠道": "tag_group:渠道", "城市": "attr:城市", "退订短信": "optout:sms"}


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


def snapshot():
    """Everything an import may write, to prove a rejected one wrote nothing."""
    return {model.__name__: model.select().count() for model in (Contact, ContactTag, Tag, OptOut, ContactEvent, Order)}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_shop_export_imports_in_each_encoding(db, encoding):
    result = importer.import_contacts(SHOP_CSV.encode(encoding), MAPPING)
    assert result.imported and result.errors == []
    assert (result.created, result.updated, result.total) == (3, 0, 3)
    assert result.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-bom", "gbk": "gbk"}[encoding]
    zhang = Contact.get(Contact.external_id == "M001")
    assert (zhang.name, zhang.phone, zhang.email, zhang.attributes) == (
        "张三", "+8613800138000", "zhang@example.com", {"城市": "上海"})
    assert contact_tag_keys(zhang) == ["vip", "新客", "渠道:门店"]
    li = Contact.get(Contact.external_id == "M002")
    assert li.phone == "+8613800138001"
    assert [o.channel for o in OptOut.select().where(OptOut.contact == li.id)] == ["sms"]
    assert Tag.get(Tag.key == "渠道:门店").size == 2
    assert Tag.get(Tag.key == "渠道:门店").group.name == "渠道"


def test_columns_are_guessed_from_common_header_names(db):
    headers = importer.read_table(SHOP_CSV.encode())[0]
    guessed = importer.guess_mapping(headers)
    assert guessed["会员ID"] == "external_id" and guessed["手机"] == "phone" and guessed["邮箱"] == "email"
    assert guessed["标签"] == "tags" and guessed["城市"] == "attr:城市"


def test_rows_are_matched_by_external_id_then_phone_then_email(db):
    by_external = create_contact({"external_id": "M001", "name": "old name"})
    by_phone = create_contact({"phone": "13900000001", "name": "phone only"})
    by_email = create_contact({"email": "mail@example.com", "name": "email only"})
    other_system = create_contact({"external_id": "X9", "phone": "13900000002"})
    data = (
        "id,name,phone,email\n"
        "M001,New Name,,\n"                     # external id -> updates by_external
        ",Phone Person,139 0000 0001,\n"        # phone -> by_phone
        ",Mail Person,,MAIL@example.com\n"      # email (case-insensitive) -> by_email
        "M777,Same Phone,13900000002,\n"        # phone of a contact with another external id -> a new contact
        "M778,Twice,13900000003,\n"
        ",,13900000003,twice@example.com\n"     # the same person twice in the file: one contact
    ).encode()
    result = importer.import_contacts(data)
    assert result.imported, result.errors
    assert (result.created, result.updated) == (2, 3)
    assert Contact.get_by_id(by_external.id).name == "New Name"
    assert Contact.get_by_id(by_phone.id).name == "Phone Person"
    assert Contact.get_by_id(by_email.id).name == "Mail Person"
    assert Contact.get_by_id(other_system.id).external_id == "X9"
    assert Contact.get(Contact.external_id == "M777").phone == "+8613900000002"
    twice = Contact.get(Contact.external_id == "M778")
    assert twice.email == "twice@example.com"
    assert Contact.select().count() == 6


def test_reimporting_the_same_file_changes_nothing(db):
    importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    before = snapshot()
    again = importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert snapshot() == before


BAD_CSV = (
    "id,name,phone,email,tags\n"
    "G1,Good One,13800000001,good1@example.com,vip\n"
    "B1,Bad Phone,12345,,vip\n"
    "G2,Good Two,,good2@example.com,\n"
    "B2,Bad Mail,13800000002,not-an-email,\n"
    ",No Identifier,,,vip\n"
    "B3,Bad Zone,13800000003,,\n"
)


def test_a_file_with_bad_rows_reports_each_and_imports_nothing(db):
    create_contact({"external_id": "G1", "name": "before"})
    before = snapshot()
    data = BAD_CSV.encode()
    result = importer.import_contacts(data)
    assert not result.imported
    assert [(e.row, e.field) for e in result.errors] == [(3, "phone"), (5, "email"), (6, "")]
    assert "12345" in result.errors[0].reason and "not-an-email" in result.errors[1].reason
    assert result.skipped == 3
    assert snapshot() == before
    assert Contact.get(Contact.external_id == "G1").name == "before"


def test_skip_bad_rows_imports_exactly_the_good_rows(db):
    result = importer.import_contacts(BAD_CSV.encode(), skip_bad_rows=True)
    assert result.imported and result.skipped == 3
    imported = sorted(c.external_id for c in Contact.select())
    assert imported == ["B3", "G1", "G2"]  # B3's row is good: its phone and identifiers are fine
    assert [(e.row, e.field) for e in result.errors] == [(3, "phone"), (5, "email"), (6, "")]


def test_error_report_is_a_csv_of_row_field_and_reason(db):
    result = importer.import_contacts(BAD_CSV.encode())
    rows = list(csv.reader(io.StringIO(importer.errors_csv(result.errors).lstrip("\ufeff"))))
    assert rows[0] == ["row", "field", "reason"]
    assert [r[:2] for r in rows[1:]] == [["3", "phone"], ["5", "email"], ["6", ""]]


def test_a_failure_while_writing_leaves_the_database_as_it_was(db, monkeypatch):
    before = snapshot()

    real = importer.bulk_insert

    def broken(table, *args, **kwargs):
        if table == "contact_event":
            raise RuntimeError("disk full")
        return real(table, *args, **kwargs)

    # Contacts and tags are written before the timeline: fail there, half-way.
    monkeypatch.setattr(importer, "bulk_insert", broken)
    with pytest.raises(RuntimeError):
        importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    assert snapshot() == before


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00\x00garbage\x81", "neither UTF-8 nor GBK"),
    (b"a,a\n1,2\n", "two columns"),
    (b"name,city\nx,y\n", "map at least one column"),
])
def test_unreadable_files_say_why(db, data, message):
    with pytest.raises(importer.ImportFileError) as caught:
        importer.import_contacts(data)
    assert message in str(caught.value)


def test_import_appears_on_the_contacts_timeline(db):
    importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    from campaigner.audience.timeline import contact_timeline

    zhang = Contact.get(Contact.external_id == "M001")
    kinds = [(e.kind, e.summary) for e in contact_timeline(zhang)]
    assert ("imported", "created by import; tags: vip, 新客, 渠道:门店") in kinds


# ---------------------------------------------------------------- orders

ORDERS_CSV = (
    "订单号,会员ID,手机,金额,下单时间\n"
    'O1,M001,,"¥1,299.00",2024-05-01 10:00\n'
    "O2,,13800138001,88,2024/5/2\n"
    "O3,M404,,5,2024-05-03\n"
    "O4,M001,,abc,2024-05-03\n"
)


def test_orders_import_matches_contacts_and_rejects_the_file_with_bad_rows(db):
    importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    result = importer.import_orders(ORDERS_CSV.encode(), timezone="Asia/Shanghai")
    assert not result.imported and Order.select().count() == 0
    assert [(e.row, e.field) for e in result.errors] == [(4, ""), (5, "金额")]
    result = importer.import_orders(ORDERS_CSV.encode(), timezone="Asia/Shanghai", skip_bad_rows=True)
    assert result.imported and result.created == 2
    first = Order.get(Order.external_id == "O1")
    assert first.amount == Decimal("1299.00") and first.contact.external_id == "M001"
    assert str(first.occurred_at) == "2024-05-01 02:00:00"  # 10:00 in Shanghai is 02:00 UTC
    assert Order.get(Order.external_id == "O2").contact.external_id == "M002"
    again = importer.import_orders(ORDERS_CSV.encode(), timezone="Asia/Shanghai", skip_bad_rows=True)
    assert (again.created, again.unchanged) == (0, 2) and Order.select().count() == 2


# ---------------------------------------------------------------- the wizard and the command line


def test_ops_maps_columns_previews_rows_and_imports_in_the_wizard(app, logged_in_ops):
    page = logged_in_ops.post("/audience/imports", data={
        "kind": "contacts", "encoding": "auto", "file": (io.BytesIO(SHOP_CSV.encode("gbk")), "shop.csv")})
    assert page.status_code == 302
    mapping_page = logged_in_ops.get(page.headers["Location"]).get_data(as_text=True)
    assert "张三" in mapping_page and "Anna Lee" in mapping_page  # the first rows, decoded from GBK
    assert "gbk" in mapping_page
    assert '<option value="external_id" selected>' in mapping_page  # 会员ID guessed
    job = ImportJob.select().order_by(ImportJob.id.desc()).get()
    form = {f"map-{i}": MAPPING[h] for i, h in enumerate(["会员ID", "姓名", "手机", "邮箱", "标签", "渠道", "城市", "退订短信"])}
    done = logged_in_ops.post(f"/audience/imports/{job.id}/run", data=form)
    assert done.status_code == 302
    result_page = logged_in_ops.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="import-created">3<' in result_page
    with database.connection_context():
        assert contact_tag_keys(Contact.get(Contact.external_id == "M002")) == ["vip", "渠道:线上"]


def test_wizard_rejects_a_bad_file_then_imports_good_rows_and_serves_the_report(app, logged_in_ops):
    logged_in_ops.post("/audience/imports", data={
        "kind": "contacts", "encoding": "auto", "file": (io.BytesIO(BAD_CSV.encode()), "bad.csv")})
    with database.connection_context():
        job = ImportJob.select().order_by(ImportJob.id.desc()).get()
    form = {"map-0": "external_id", "map-1": "name", "map-2": "phone", "map-3": "email", "map-4": "tags"}
    rejected = logged_in_ops.get(logged_in_ops.post(f"/audience/imports/{job.id}/run", data=form).headers["Location"])
    text = rejected.get_data(as_text=True)
    assert "Nothing was imported" in text and "12345" in text
    with database.connection_context():
        assert Contact.select().count() == 0
    report = logged_in_ops.get(f"/audience/imports/{job.id}/errors.csv")
    assert report.mimetype == "text/csv" and "attachment" in report.headers["Content-Disposition"]
    assert report.get_data(as_text=True).lstrip("\ufeff").splitlines()[1].startswith("3,phone,")
    logged_in_ops.post(f"/audience/imports/{job.id}/run", data={**form, "skip_bad_rows": "y"})
    with database.connection_context():
        assert sorted(c.external_id for c in Contact.select()) == ["B3", "G1", "G2"]


def test_editors_cannot_import(logged_in_editor):
    assert logged_in_editor.get("/audience/imports").status_code == 403


def test_upload_of_an_unreadable_file_shows_why(logged_in_ops):
    page = logged_in_ops.post("/audience/imports", data={
        "kind": "contacts", "encoding": "auto", "file": (io.BytesIO(b"a,a\n1,2\n"), "dup.csv")})
    assert page.status_code == 400 and "two columns" in page.get_data(as_text=True)


def test_cli_imports_with_mappings_and_writes_the_error_report(app, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV.encode("gbk"))
    report = tmp_path / "errors.csv"
    refused = runner.invoke(["audience", "import", str(path), "--errors", str(report)])
    assert refused.exit_code == 1 and "nothing imported: 3 of 6 rows" in refused.output
    assert report.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()[1].startswith("3,phone,")
    done = runner.invoke(["audience", "import", str(path), "--skip-bad-rows", "--map", "tags=tag_group:level"])
    assert done.exit_code == 0, done.output
    assert "3 created" in done.output
    with database.connection_context():
        assert contact_tag_keys(Contact.get(Contact.external_id == "G1")) == ["level:vip"]


def test_cli_imports_orders(app, runner, tmp_path):
    contacts, orders = tmp_path / "c.csv", tmp_path / "o.csv"
    contacts.write_text(SHOP_CSV, encoding="utf-8")
    orders.write_text("order_id,customer_id,amount,time\nA1,M001,10.50,2024-05-01 08:00\n", encoding="utf-8")
    assert runner.invoke(["audience", "import", str(contacts)]).exit_code == 0
    result = runner.invoke(["audience", "import", str(orders), "--kind", "orders"])
    assert result.exit_code == 0, result.output
    with database.connection_context():
        assert Order.get(Order.external_id == "A1").amount == Decimal("10.50")


def test_odd_characters_survive_the_bulk_write(db):
    data = 'id,name,note\nQ1,"Tab\there\\back\\\\slash","line one\nline two\r\n\\N"\n'.encode()
    result = importer.import_contacts(data, {"id": "external_id", "name": "name", "note": "attr:note"})
    assert result.imported, result.errors
    contact = Contact.get(Contact.external_id == "Q1")
    assert contact.name == "Tab\there\\back\\\\slash"
    assert contact.attributes == {"note": "line one\nline two\r\n\\N"}
