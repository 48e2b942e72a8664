"""Imports keep people: possible-but-unlisted numbers are kept and flagged, a bad value does not throw its
row away, rows merge into the contact they name (in a configurable order), reasons are codes shown in
the reader's language, and one campaign never sends one address the same message twice."""
from __future__ import annotations

import csv
import io
import re

import pytest

from campaigner.audience import importer
from campaigner.audience.models import Contact, ImportJob
from campaigner.audience.services import AudienceError, UNVERIFIED_TAG, check_phone, contact_tag_keys, create_contact
from campaigner.db import database
from tests.fixtures_engine import channels, deliveries_of, make_contacts, new_campaign, run_campaign  # noqa: F401
from tests.test_audience_import import run_queued_imports, upload


@pytest.fixture
def db(app):
    with database.connection_context():
        yield


# Mainland ranges the phone library does not list as allocated, seen in a real shop's file.
UNLISTED = ["14012345678", "15412345678", "17412345678", "17912345678", "19412345678"]


@pytest.mark.parametrize("raw", UNLISTED)
def test_a_possible_but_unlisted_mobile_number_is_kept_unverified(raw):
    assert check_phone(raw, "CN") == ("+86" + raw, False)


@pytest.mark.parametrize("raw, code", [
    ("12345", "phone_too_short"),
    ("1381234567", "phone_too_short"),
    ("138123456789", "phone_too_long"),
    ("12012345678", "phone_not_mobile_range"),
    ("10012345678", "phone_not_mobile_range"),
    ("not a phone", "phone_not_a_number"),
    ("+1202555012", "phone_too_short"),
])
def test_an_impossible_number_is_refused_saying_why(raw, code):
    with pytest.raises(AudienceError) as caught:
        check_phone(raw, "CN")
    assert caught.value.code == code and caught.value.params == {"value": raw}


def test_known_valid_numbers_stay_verified():
    assert check_phone("138 0013 8000", "CN") == ("+8613800138000", True)
    assert check_phone("+1 202 555 0123", "CN") == ("+12025550123", True)


CHINESE_FILE = (
    "会员ID,姓名,手机,邮箱\n"
    "M1,王芳,14012345678,\n"             # unlisted range: kept, flagged
    "M2,李娜,12345,li@example.com\n"      # impossible phone, but an id and an email: kept without the phone
    "M3,张伟,13800000003,not-an-email\n"  # bad email, good phone: kept without the email
    ",无名,12345,\n"                      # nothing names this person: an error
)


def test_default_import_keeps_every_nameable_row_and_warns(db):
    result = importer.import_contacts(CHINESE_FILE.encode(), skip_bad_rows=True)
    assert result.imported and result.created == 3
    assert [(e.row, e.code) for e in result.errors] == [(5, "phone_too_short")]  # and nothing else names the row
    assert [(w.row, w.field, w.code, w.left_out) for w in result.warnings] == [
        (2, "手机", "phone_unverified", False), (3, "手机", "phone_too_short", True), (4, "邮箱", "email_invalid", True)]
    flagged = Contact.get(Contact.external_id == "M1")
    assert flagged.phone == "+8614012345678" and contact_tag_keys(flagged) == [UNVERIFIED_TAG]
    kept = Contact.get(Contact.external_id == "M2")
    assert kept.phone is None and kept.email == "li@example.com"
    assert Contact.get(Contact.external_id == "M3").email is None
    assert "too short" in result.warnings[1].reason and "left out" in result.warnings[1].reason


def test_all_or_nothing_is_decided_by_errors_not_warnings(db):
    lenient = "id,phone,email\nA,14012345678,\nB,12345,b@example.com\n"
    result = importer.import_contacts(lenient.encode())
    assert result.imported and not result.errors and result.created == 2


def test_strict_refuses_a_row_with_a_bad_value(db):
    result = importer.import_contacts(CHINESE_FILE.encode(), skip_bad_rows=True, strict=True)
    assert [(e.row, e.code) for e in result.errors] == [(3, "phone_too_short"), (4, "email_invalid"), (5, "phone_too_short")]
    assert sorted(c.external_id for c in Contact.select()) == ["M1"]


def test_match_order_is_configurable(db):
    by_email = create_contact({"email": "x@example.com", "name": "by email"})
    by_phone = create_contact({"phone": "13800000009", "name": "by phone"})
    row = "phone,email,name\n13800000009,x@example.com,New\n".encode()
    importer.import_contacts(row, match_on="email,phone")
    assert Contact.get_by_id(by_email.id).name == "New" and Contact.get_by_id(by_phone.id).name == "by phone"
    with pytest.raises(importer.ImportFileError):
        importer.import_contacts(row, match_on="name")


def test_a_file_merges_across_the_chunks_it_is_written_in(db, monkeypatch):
    monkeypatch.setattr(importer, "MERGE_CHUNK", 2)
    data = ("id,phone,email\n"
            "A,13800000001,\n"
            "B,13800000002,\n"
            "C,13800000003,a@example.com\n"
            ",13800000001,\n"           # the same person as row 2, in a later chunk
            "D,,a@example.com\n").encode()  # email of row 4 (C), another id: merged, C kept
    result = importer.import_contacts(data)
    assert Contact.select().count() == 3 and result.created == 3 and result.updated == 0
    a, c = Contact.get(Contact.external_id == "A"), Contact.get(Contact.external_id == "C")
    assert [(w.row, w.reason) for w in result.warnings] == [
        (5, f"merged into contact #{a.id}"), (6, f"merged into contact #{c.id}, whose external id C was kept")]
    again = importer.import_contacts(data)  # a re-import finds everyone and changes nothing
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_the_staging_table_is_gone_after_an_import(db):
    importer.import_contacts(CHINESE_FILE.encode())  # refused whole: an error row
    importer.import_contacts(CHINESE_FILE.encode(), skip_bad_rows=True)
    with pytest.raises(Exception):
        database.execute_sql(f'SELECT 1 FROM "{importer.STAGE}"')


def test_orders_find_contacts_by_an_unverified_number(db):
    importer.import_contacts("id,phone\nM1,17412345678\n".encode())
    result = importer.import_orders("phone,amount,time\n174 1234 5678,10,2024-05-01 10:00\n".encode())
    assert result.imported and result.created == 1, result.errors


# ---------------------------------------------------------------- the pages


def zh(client):
    client.post("/settings/", data={"prefs-name": "Ops", "prefs-locale": "zh_CN"})
    return client


def test_the_finished_page_summarises_by_reason_and_links_the_full_report(app, logged_in_editor):
    rows = ["id,phone"] + [f"X{i},12345" for i in range(300)] + [f"U{i},1741234{i:04d}" for i in range(50)] + [",,"] * 0
    rows += [f",{i:03d}" for i in range(200)]  # nothing usable names these: errors
    job = upload(logged_in_editor, "\n".join(rows).encode())
    logged_in_editor.post(f"/audience/imports/{job.id}/run", data={"map-0": "external_id", "map-1": "phone",
                                                                 "skip_bad_rows": "y"})
    assert run_queued_imports() == 1
    page = logged_in_editor.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    codes = re.findall(r'<tr data-code="([a-z_]+)"', page)  # one row a reason: errors, then notes on kept rows
    assert codes == ["phone_too_short", "phone_not_a_number", "phone_too_short", "phone_unverified"]
    assert len(page) < 40_000  # not one table row per bad row
    report = logged_in_editor.get(f"/audience/imports/{job.id}/errors.csv").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    assert len(lines) == 1 + 300 + 50 + 200


def test_reasons_read_in_chinese_on_a_chinese_page_and_report(app, logged_in_editor):
    zh(logged_in_editor)
    job = upload(logged_in_editor, "id,phone\nA,12345\nB,14012345678\n".encode())
    logged_in_editor.post(f"/audience/imports/{job.id}/run", data={"map-0": "external_id", "map-1": "phone"})
    assert run_queued_imports() == 1
    page = logged_in_editor.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    assert "号码太短" in page and "未确认" in page
    assert "too short" not in page and "possible but not" not in page
    report = logged_in_editor.get(f"/audience/imports/{job.id}/errors.csv").get_data(as_text=True)
    assert "号码太短" in report and "too short" not in report
    with database.connection_context():
        stored = ImportJob.get_by_id(job.id).warnings
    assert {w["code"] for w in stored} == {"phone_too_short", "phone_unverified"}


def test_the_running_page_shows_rows_written(app, logged_in_editor, monkeypatch):
    job = upload(logged_in_editor, "id\nA\n".encode())
    with database.connection_context():
        ImportJob.update(status="running", total_rows=1000, processed_rows=1000).where(ImportJob.id == job.id).execute()
    monkeypatch.setattr(importer, "written_so_far", lambda job_id: 600)
    page = logged_in_editor.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    assert "1000 rows read; 600 written." in page


def test_a_job_run_reports_rows_written_while_it_writes(app, monkeypatch):
    seen = []
    real = importer._JobRun._put_written

    def spy(self, rows):
        seen.append((rows, importer.written_so_far(self.job.id)))
        real(self, rows)

    monkeypatch.setattr(importer, "MERGE_CHUNK", 2)
    monkeypatch.setattr(importer, "HEARTBEAT_SECONDS", 0)
    monkeypatch.setattr(importer._JobRun, "_put_written", spy)
    path = app.config["CAMPAIGNER"]["INSTANCE_PATH"] + "/five.csv"
    with open(path, "w") as fh:
        fh.write("id\nA\nB\nC\nD\nE\n")
    with database.connection_context():
        job = ImportJob.create(kind="contacts", path=path, mapping={"id": "external_id"})
        importer.queue_job(job, job.mapping, False)
        assert importer.run_job(job.id, importer.claim_job(job.id)) == "done"
        assert importer.written_so_far(job.id) is None  # forgotten once the run ends
        assert ImportJob.get_by_id(job.id).written_rows == 5
    assert [rows for rows, _ in seen] == [0, 2, 4, 5]


# ---------------------------------------------------------------- one message an address


def test_a_campaign_never_sends_one_address_the_same_message_twice(app, channels):
    # Three contacts share one address (two differ only in case), whatever the import did.
    ids = make_contacts(4, email=lambda i: ["Same@Example.com", "same@example.com", "other@example.com",
                                             "same@example.com"][i])
    campaign = new_campaign(channels=("rec",))
    run_campaign(campaign.id)
    received = [to.lower() for to, _key, _body in channels["rec"].received]
    assert sorted(received) == ["other@example.com", "same@example.com"]
    rows = {d.contact_id: (d.status, d.reason) for d in deliveries_of(campaign.id)}
    assert rows[ids[0]] == ("sent", "") and rows[ids[2]][0] == "sent"
    assert rows[ids[1]] == rows[ids[3]] == ("skipped", "duplicate_address")
