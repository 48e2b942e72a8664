"""CSV import of contacts and orders: encodings, deduplication, all-or-nothing, skip bad rows, reports."""
from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from campaigner.audience import importer
from campaigner.audience.tasks import sweep_imports
from campaigner.audience.models import Contact, ContactEvent, ContactTag, ImportJob, OptOut, Order, Tag
from campaigner.audience.services import contact_tag_keys, create_contact
from campaigner.db import database, is_postgres, utcnow
from campaigner.queue import huey

SHOP_CSV = (
    "会员ID,姓名,手机,邮箱,标签,渠道,城市,退订短信\n"
    "M001,张三,13800138000,zhang@example.com,vip|新客,门店,上海,\n"
    "M002,李四,+86 138 0013 8001,,vip,线上,北京,是\n"
    "M003,Anna Lee,,anna@example.com,,门店,,\n"
)
MAPPING = {"会员ID": "external_id", "姓名": "name", "手机": "phone", "邮箱": "email", "标签": "tags",
           "渠道": "tag_group:渠道", "城市": "attr:城市", "退订短信": "optout:sms"}


@pytest.fixture
def logged_in_ops(logged_in_editor):
    """Imports are the audience's, which editors manage (campaigner.permissions); these tests predate that."""
    return logged_in_editor


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
        "M777,Same Phone,13900000002,\n"        # phone of a contact with another external id -> merged into it
        "M778,Twice,13900000003,\n"
        ",,13900000003,twice@example.com\n"     # the same person twice in the file: one contact
    ).encode()
    result = importer.import_contacts(data)
    assert result.imported, result.errors
    assert (result.created, result.updated) == (1, 4)
    assert Contact.get_by_id(by_external.id).name == "New Name"
    assert Contact.get_by_id(by_phone.id).name == "Phone Person"
    assert Contact.get_by_id(by_email.id).name == "Mail Person"
    assert Contact.get_by_id(other_system.id).external_id == "X9"  # the contact keeps its own id
    assert Contact.get_by_id(other_system.id).name == "Same Phone"
    assert not Contact.select().where(Contact.external_id == "M777").exists()
    twice = Contact.get(Contact.external_id == "M778")
    assert twice.email == "twice@example.com"
    assert Contact.select().count() == 5
    assert [(w.row, w.reason) for w in result.warnings] == [
        (5, f"merged into contact #{other_system.id}, whose external id X9 was kept"),
        (7, f"merged into contact #{twice.id}")]


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
    result = importer.import_contacts(data, strict=True)  # a bad value refuses its row
    assert not result.imported
    assert [(e.row, e.field) for e in result.errors] == [(3, "phone"), (5, "email"), (6, "")]
    assert "12345" in result.errors[0].reason and "not-an-email" in result.errors[1].reason
    assert result.skipped == 3
    assert snapshot() == before
    assert Contact.get(Contact.external_id == "G1").name == "before"


def test_skip_bad_rows_imports_exactly_the_good_rows(db):
    result = importer.import_contacts(BAD_CSV.encode(), skip_bad_rows=True, strict=True)
    assert result.imported and result.skipped == 3
    imported = sorted(c.external_id for c in Contact.select())
    assert imported == ["B3", "G1", "G2"]  # B3's row is good: its phone and identifiers are fine
    assert [(e.row, e.field) for e in result.errors] == [(3, "phone"), (5, "email"), (6, "")]


def test_error_report_is_a_csv_of_row_field_and_reason(db):
    result = importer.import_contacts(BAD_CSV.encode(), strict=True)
    rows = list(csv.reader(io.StringIO(importer.errors_csv(result.errors).lstrip("\ufeff"))))
    assert rows[0] == ["row", "field", "level", "code", "reason"]
    assert [r[:4] for r in rows[1:]] == [["3", "phone", "error", "phone_too_short"], ["5", "email", "error", "email_invalid"],
                                         ["6", "", "error", "no_identifier"]]


@pytest.fixture
def timeline_write_fails(monkeypatch):
    """Writing the contacts' timeline fails with "disk full": after contacts and tags, half-way."""
    real = importer.bulk_insert

    def broken(table, *args, **kwargs):
        if table == "contact_event":
            raise RuntimeError("disk full")
        return real(table, *args, **kwargs)

    monkeypatch.setattr(importer, "bulk_insert", broken)


def test_a_failure_while_writing_leaves_the_database_as_it_was(db, timeline_write_fails):
    before = snapshot()
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


def run_queued_imports() -> int:
    """Run the import tasks waiting in the queue, as a worker would; return how many ran."""
    ran = 0
    while (task := huey.dequeue()) is not None:
        assert task.name.endswith("run_import"), task.name
        huey.execute(task)
        ran += 1
    return ran


def upload(client, data: bytes, name: str = "shop.csv", kind: str = "contacts") -> ImportJob:
    page = client.post("/audience/imports", data={"kind": kind, "encoding": "auto", "file": (io.BytesIO(data), name)})
    assert page.status_code == 302, page.get_data(as_text=True)
    with database.connection_context():
        return ImportJob.select().order_by(ImportJob.id.desc()).get()


def job_row(job_id: int) -> ImportJob:
    with database.connection_context():
        return ImportJob.get_by_id(job_id)


SHOP_FORM = {f"map-{i}": MAPPING[h] for i, h in enumerate(["会员ID", "姓名", "手机", "邮箱", "标签", "渠道", "城市", "退订短信"])}


def test_ops_maps_columns_previews_rows_and_imports_in_the_wizard(app, logged_in_ops):
    page = logged_in_ops.post("/audience/imports", data={
        "kind": "contacts", "encoding": "auto", "file": (io.BytesIO(SHOP_CSV.encode("gbk")), "shop.csv")})
    assert page.status_code == 302
    mapping_page = logged_in_ops.get(page.headers["Location"]).get_data(as_text=True)
    assert "张三" in mapping_page and "Anna Lee" in mapping_page  # the first rows, decoded from GBK
    assert "gbk" in mapping_page
    assert '<option value="external_id" selected>' in mapping_page  # 会员ID guessed
    job = ImportJob.select().order_by(ImportJob.id.desc()).get()
    queued = logged_in_ops.post(f"/audience/imports/{job.id}/run", data=SHOP_FORM)
    assert queued.status_code == 302
    waiting = logged_in_ops.get(queued.headers["Location"]).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in waiting and "Waiting for a worker" in waiting
    with database.connection_context():
        assert Contact.select().count() == 0  # nothing happens in the request
    assert run_queued_imports() == 1
    result_page = logged_in_ops.get(queued.headers["Location"]).get_data(as_text=True)
    assert 'id="import-created">3<' in result_page and "hx-trigger" not in result_page
    with database.connection_context():
        assert contact_tag_keys(Contact.get(Contact.external_id == "M002")) == ["vip", "渠道:线上"]
    assert not Path(job.path).exists()  # the upload goes once it is imported


def test_wizard_rejects_a_bad_file_then_imports_good_rows_and_serves_the_report(app, logged_in_ops):
    job = upload(logged_in_ops, BAD_CSV.encode(), "bad.csv")
    form = {"map-0": "external_id", "map-1": "name", "map-2": "phone", "map-3": "email", "map-4": "tags",
            "strict": "y"}  # the user asks that a bad value refuse its row
    url = logged_in_ops.post(f"/audience/imports/{job.id}/run", data=form).headers["Location"]
    assert run_queued_imports() == 1
    text = logged_in_ops.get(url).get_data(as_text=True)
    assert "Nothing was imported" in text and "12345" in text
    assert 'name="map-0"' in text  # it can run again, with the mapping chosen
    with database.connection_context():
        assert Contact.select().count() == 0
    report = logged_in_ops.get(f"/audience/imports/{job.id}/errors.csv")
    assert report.mimetype == "text/csv" and "attachment" in report.headers["Content-Disposition"]
    assert report.get_data(as_text=True).lstrip("\ufeff").splitlines()[1].startswith("3,phone,")
    logged_in_ops.post(f"/audience/imports/{job.id}/run", data={**form, "skip_bad_rows": "y"})
    assert run_queued_imports() == 1
    with database.connection_context():
        assert sorted(c.external_id for c in Contact.select()) == ["B3", "G1", "G2"]
    done = job_row(job.id)
    assert (done.status, done.created, done.skipped) == ("done", 3, 3)
    assert [e["row"] for e in done.errors] == [3, 5, 6]


def test_a_wrong_mapping_stays_on_the_form_and_queues_nothing(app, logged_in_ops):
    job = upload(logged_in_ops, SHOP_CSV.encode())
    page = logged_in_ops.post(f"/audience/imports/{job.id}/run", data={"map-1": "name", "map-6": "attr:城市"})
    text = page.get_data(as_text=True)
    assert page.status_code == 400 and "map at least one column" in text
    assert '<option value="name" selected>' in text  # the choices made are shown again
    assert job_row(job.id).status == "uploaded" and huey.pending_count() == 0


def test_a_queued_or_running_import_cannot_be_started_twice(app, logged_in_ops):
    job = upload(logged_in_ops, SHOP_CSV.encode())
    logged_in_ops.post(f"/audience/imports/{job.id}/run", data=SHOP_FORM)
    again = logged_in_ops.post(f"/audience/imports/{job.id}/run", data=SHOP_FORM)
    assert again.status_code == 302
    assert run_queued_imports() == 1
    with database.connection_context():
        assert Contact.select().count() == 3


def test_the_job_page_shows_progress_and_polls_only_while_the_import_works(app, logged_in_ops):
    job = upload(logged_in_ops, SHOP_CSV.encode())
    with database.connection_context():
        ImportJob.update(status="running", total_rows=1000, processed_rows=400).where(ImportJob.id == job.id).execute()
    url = f"/audience/imports/{job.id}"
    block = logged_in_ops.get(url, headers={"HX-Request": "true"})
    text = block.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="import-job"') and "<html" not in text  # the block alone
    assert 'hx-trigger="every 1s"' in text and "400 of 1000 rows read; 0 written" in text
    assert "HX-Request" in block.headers["Vary"]
    with database.connection_context():
        ImportJob.update(processed_rows=1000).where(ImportJob.id == job.id).execute()
    assert "writing them to the database" in logged_in_ops.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    with database.connection_context():
        ImportJob.update(status="done", created=990, total_rows=1000).where(ImportJob.id == job.id).execute()
    finished = logged_in_ops.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in finished and 'id="import-created">990<' in finished


def test_imports_list_names_each_state(app, logged_in_ops):
    jobs = [upload(logged_in_ops, SHOP_CSV.encode(), f"{status}.csv") for status in ("queued", "running", "failed")]
    with database.connection_context():
        for job, status in zip(jobs, ("queued", "running", "failed")):
            ImportJob.update(status=status).where(ImportJob.id == job.id).execute()
    page = logged_in_ops.get("/audience/imports").get_data(as_text=True)
    for badge in ('badge-queued">queued<', 'badge-running">importing<', 'badge-failed">failed<'):
        assert badge in page


@pytest.fixture
def worker(app):
    """``worker()`` starts a Huey consumer (one worker thread) in this process on the test's own queue:
    SqliteHuey on SQLite, RedisHuey on PostgreSQL. It stops at the end of the test."""
    import signal

    from campaigner.queue import Worker

    started = []
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def start():
        started.append(Worker(workers=1, periodic=False))
        started[0].start()

    yield start
    for running in started:
        running.stop()
    for sig, handler in saved.items():  # the consumer set its own
        signal.signal(sig, handler)


def test_a_worker_runs_the_import_while_the_page_follows_it(app, logged_in_ops, worker):
    job = upload(logged_in_ops, SHOP_CSV.encode("gbk"))
    url = logged_in_ops.post(f"/audience/imports/{job.id}/run", data=SHOP_FORM).headers["Location"]
    first = logged_in_ops.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="queued"' in first and 'hx-trigger="every 1s"' in first
    worker()
    deadline = time.monotonic() + 60  # a guard against a worker that never comes, not a measure
    while 'hx-trigger="every 1s"' in (block := logged_in_ops.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)):
        assert time.monotonic() < deadline, block
        time.sleep(0.05)
    assert 'data-status="done"' in block and 'id="import-created">3<' in block
    with database.connection_context():
        assert sorted(c.external_id for c in Contact.select()) == ["M001", "M002", "M003"]
        assert job_row(job.id).processed_rows == 3


class RecordingHooks(importer.ImportHooks):
    def __init__(self):
        self.calls = []

    def progress(self, rows, final=False):
        self.calls.append(("progress", rows, final))

    def writing(self):
        self.calls.append(("writing", Contact.select().count()))

    def written(self, result):
        self.calls.append(("written", result.created, Contact.select().count()))


def test_an_import_reports_rows_read_then_writes_in_one_transaction(db):
    rows = "".join(f"P{i},Person {i}\n" for i in range(2500))
    hooks = RecordingHooks()
    result = importer.import_contacts(f"id,name\n{rows}".encode(), hooks=hooks)
    assert result.created == 2500
    assert hooks.calls == [("progress", 1000, False), ("progress", 2000, False), ("progress", 2500, True),
                           ("writing", 0), ("written", 2500, 2500)]


def test_an_import_reads_the_file_from_its_path(db, tmp_path):
    path = tmp_path / "shop.csv"
    path.write_bytes(SHOP_CSV.encode("gbk"))
    assert importer.preview(path)[2:] == ("gbk", 3)
    result = importer.import_contacts(path, MAPPING)
    assert result.imported and result.created == 3 and result.encoding == "gbk"


def test_a_row_that_is_not_csv_far_into_the_file_imports_nothing(db):
    rows = "".join(f"P{i},Person {i}\n" for i in range(3000))
    with pytest.raises(importer.ImportFileError, match="not valid CSV"):
        importer.import_contacts(f'id,name\n{rows}P9,"{"x" * 200_000}"\n'.encode())
    assert Contact.select().count() == 0


# ---------------------------------------------------------------- jobs: the worker's side


def queued_job(client, data: bytes = SHOP_CSV.encode(), form=None) -> ImportJob:
    job = upload(client, data)
    assert client.post(f"/audience/imports/{job.id}/run", data=form or SHOP_FORM).status_code == 302
    return job_row(job.id)


def test_an_import_whose_worker_died_is_failed_by_the_sweeper_and_can_run_again(app, logged_in_ops):
    job = queued_job(logged_in_ops)
    with database.connection_context():
        before = snapshot()
        # A worker took the job and died: its claim and its last heartbeat stay behind.
        assert importer.claim_job(job.id)
    sweep_imports.call_local()
    assert job_row(job.id).status == "running"  # a recent heartbeat: the worker may be busy
    with database.connection_context():
        ImportJob.update(heartbeat_at=utcnow() - importer.STALE - dt.timedelta(seconds=1)).where(
            ImportJob.id == job.id).execute()
    sweep_imports.call_local()
    failed = job_row(job.id)
    assert (failed.status, failed.message) == ("failed", importer.WORKER_LOST)
    with database.connection_context():
        assert snapshot() == before
    page = logged_in_ops.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    assert "stopped before it finished" in page and "Run again" in page and "hx-trigger" not in page
    chinese = logged_in_ops.get(f"/audience/imports/{job.id}", headers={"Accept-Language": "zh-CN"})
    assert "执行它的后台任务在完成前停止了" in chinese.get_data(as_text=True)
    huey.flush()  # the dead worker's message is gone too
    logged_in_ops.post(f"/audience/imports/{job.id}/run", data=SHOP_FORM)
    assert run_queued_imports() == 1
    assert job_row(job.id).status == "done"
    with database.connection_context():
        assert Contact.select().count() == 3


def test_a_run_that_lost_its_job_writes_nothing(app, logged_in_ops, monkeypatch):
    job = queued_job(logged_in_ops)
    with database.connection_context():
        before = snapshot()
        claim = importer.claim_job(job.id)
        real_progress = importer._JobRun.progress

        def stalled(self, rows, final=False):
            real_progress(self, rows, final)
            if final:  # the worker stalls here long enough for the sweeper to give its job up
                importer.sweep_jobs(now=utcnow() + importer.STALE + dt.timedelta(seconds=1))

        monkeypatch.setattr(importer._JobRun, "progress", stalled)
        assert importer.run_job(job.id, claim) == "failed"
        assert snapshot() == before
    assert job_row(job.id).message == importer.WORKER_LOST


def test_the_sweeper_leaves_an_import_that_is_writing_alone(app, logged_in_ops, monkeypatch):
    """On PostgreSQL the writing import holds its job's row, which the sweeper skips; on SQLite the
    sweeper waits for the one writer's lock, and by then the job is done."""
    job = queued_job(logged_in_ops)
    reached, go = threading.Event(), threading.Event()
    real_writing = importer._JobRun.writing

    def slow_writing(self):  # the write phase of a large file: long, and no heartbeat can commit
        real_writing(self)
        reached.set()
        go.wait(30)

    monkeypatch.setattr(importer._JobRun, "writing", slow_writing)

    def run():
        with database.connection_context():
            importer.run_job(job.id, claim)

    with database.connection_context():
        claim = importer.claim_job(job.id)
    importer_thread = threading.Thread(target=run)
    importer_thread.start()
    assert reached.wait(30)

    def sweep():
        with database.connection_context():
            importer.sweep_jobs(now=utcnow() + importer.STALE + dt.timedelta(minutes=1))

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    if is_postgres():
        sweeper.join(30)
        assert not sweeper.is_alive()  # it skipped the locked row instead of waiting for it
    go.set()
    importer_thread.join(30)
    sweeper.join(30)
    done = job_row(job.id)
    assert (done.status, done.message, done.created) == ("done", "", 3)


def test_a_queued_import_whose_message_was_lost_is_enqueued_again(app, logged_in_ops):
    job = queued_job(logged_in_ops)
    huey.flush()
    sweep_imports.call_local()
    assert huey.pending_count() == 0  # queued just now: its message may still be on its way
    with database.connection_context():
        ImportJob.update(heartbeat_at=utcnow() - importer.REQUEUE - dt.timedelta(seconds=1)).where(
            ImportJob.id == job.id).execute()
    sweep_imports.call_local()
    sweep_imports.call_local()  # once is enough until REQUEUE passes again
    assert run_queued_imports() == 1
    assert job_row(job.id).status == "done"


def test_an_import_whose_file_is_gone_fails_with_the_reason(app, logged_in_ops):
    job = queued_job(logged_in_ops)
    Path(job.path).unlink()
    assert run_queued_imports() == 1
    failed = job_row(job.id)
    assert failed.status == "failed" and "can't be read" in failed.message
    page = logged_in_ops.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    assert "The import failed and nothing was imported" in page


def test_an_error_while_writing_fails_the_job_and_writes_nothing(app, logged_in_ops, timeline_write_fails):
    job = queued_job(logged_in_ops)
    with database.connection_context():
        before = snapshot()
    assert run_queued_imports() == 1
    failed = job_row(job.id)
    assert (failed.status, failed.message) == ("failed", "RuntimeError: disk full")
    with database.connection_context():
        assert snapshot() == before


def test_orders_import_on_the_worker(app, logged_in_ops):
    with database.connection_context():
        importer.import_contacts(SHOP_CSV.encode(), MAPPING)
    job = upload(logged_in_ops, ORDERS_CSV.encode(), "orders.csv", kind="orders")
    form = {"map-0": "order_id", "map-1": "contact_external_id", "map-2": "contact_phone", "map-3": "amount",
            "map-4": "occurred_at", "skip_bad_rows": "y"}
    logged_in_ops.post(f"/audience/imports/{job.id}/run", data=form)
    assert run_queued_imports() == 1
    done = job_row(job.id)
    assert (done.status, done.created, done.skipped) == ("done", 2, 2)
    with database.connection_context():
        # The instance's time zone (Asia/Shanghai by default) reads the local times.
        assert str(Order.get(Order.external_id == "O1").occurred_at) == "2024-05-01 02:00:00"


def test_developers_cannot_import(logged_in_developer):
    assert logged_in_developer.get("/audience/imports").status_code == 403


def test_upload_of_an_unreadable_file_shows_why(logged_in_ops):
    page = logged_in_ops.post("/audience/imports", data={
        "kind": "contacts", "encoding": "auto", "file": (io.BytesIO(b"a,a\n1,2\n"), "dup.csv")})
    assert page.status_code == 400 and "two columns" in page.get_data(as_text=True)


def test_cli_imports_with_mappings_and_writes_the_error_report(app, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV.encode("gbk"))
    report = tmp_path / "errors.csv"
    refused = runner.invoke(["audience", "import", str(path), "--strict", "--errors", str(report)])
    assert refused.exit_code == 1 and "nothing imported: 3 of 6 rows" in refused.output
    assert report.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()[1].startswith("3,phone,")
    done = runner.invoke(["audience", "import", str(path), "--strict", "--skip-bad-rows", "--map", "tags=tag_group:level"])
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
