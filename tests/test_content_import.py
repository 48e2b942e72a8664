"""Importing and exporting the library as Markdown files; the sample library loaded on first start."""
from __future__ import annotations

import re

from campaigner.db import database
from tests.fixtures_content import SAMPLE_LIBRARY, library_copy, make_content  # noqa: F401


def _library_state():
    """Everything an import could change: each item's row and every version."""
    from campaigner.content.models import ContentItem, ContentVersion

    with database.connection_context():
        items = [tuple(row) for row in ContentItem.select().order_by(ContentItem.slug).tuples()]
        versions = [tuple(row) for row in ContentVersion.select().order_by(ContentVersion.id).tuples()]
    return items, versions


def test_the_sample_library_is_realistic_and_covers_every_kind():
    from campaigner.content.library_files import read_item_file
    from campaigner.content.models import KINDS

    files = sorted(SAMPLE_LIBRARY.rglob("*.md"))
    assert len(files) >= 20
    items = [read_item_file(path) for path in files]
    assert {i["kind"] for i in items} == set(KINDS)
    text = lambda i: i["title"] + i["body"]  # noqa: E731
    chinese = [i for i in items if re.search(r"[\u4e00-\u9fff]", text(i))]
    english = [i for i in items if not re.search(r"[\u4e00-\u9fff]", text(i))]
    assert len(chinese) >= 10 and len(english) >= 5
    coffee = [i for i in items if {"山野咖啡", "Shanye Coffee"} & set(i["tags"])]
    beauty = [i for i in items if {"青禾护肤", "Qinghe Skin"} & set(i["tags"])]
    assert len(coffee) >= 8 and len(beauty) >= 8
    for brand in (coffee, beauty):
        assert {i["kind"] for i in brand} == set(KINDS)
    assert sum(bool(i["variants"]) for i in items) >= 10
    assert {i["status"] for i in items} == {"draft", "approved", "archived"}


def test_importing_the_sample_library_twice_changes_nothing_the_second_time(runner):
    first = runner.invoke(["content", "import", str(SAMPLE_LIBRARY)])
    assert first.exit_code == 0, first.output
    count = len(list(SAMPLE_LIBRARY.rglob("*.md")))
    assert f"{count} created, 0 updated, 0 unchanged, 0 failed" in first.output
    before = _library_state()
    assert len(before[0]) == count and len(before[1]) == count

    second = runner.invoke(["content", "import", str(SAMPLE_LIBRARY)])
    assert second.exit_code == 0, second.output
    assert f"0 created, 0 updated, {count} unchanged, 0 failed" in second.output
    assert _library_state() == before  # not a timestamp, not a version


def test_a_file_with_broken_front_matter_is_reported_by_name_and_the_others_import(runner, library_copy):
    (library_copy / "coffee" / "broken-front-matter.md").write_text(
        "---\ntitle: 半个引号\"\ntags: [咖啡, \nkind: sms\n---\nBody\n", "utf-8")
    (library_copy / "no-closing-line.md").write_text("---\ntitle: Never closed\nkind: sms\n", "utf-8")
    (library_copy / "bad-kind.md").write_text("---\ntitle: Odd\nkind: poster\n---\nBody\n", "utf-8")
    (library_copy / "unknown-field.md").write_text("---\ntitle: Fields\nkind: sms\n---\nHi {{ shoe_size }}\n", "utf-8")
    (library_copy / "not-utf8.md").write_bytes("---\ntitle: GBK\n---\n你好".encode("gbk"))

    result = runner.invoke(["content", "import", str(library_copy)])
    assert result.exit_code == 1  # something needs fixing ...
    good = len(list(SAMPLE_LIBRARY.rglob("*.md")))
    assert f"{good} created, 0 updated, 0 unchanged, 5 failed" in result.output  # ... and the rest imported
    failures = dict(re.findall(r"FAILED\s+(\S+): (.*)", result.output))
    assert set(failures) == {"coffee/broken-front-matter.md", "no-closing-line.md", "bad-kind.md",
                             "unknown-field.md", "not-utf8.md"}
    assert failures["coffee/broken-front-matter.md"].startswith("broken front matter")
    assert "unknown kind 'poster'" in failures["bad-kind.md"]
    assert "shoe_size" in failures["unknown-field.md"]
    from campaigner.content.models import ContentItem

    with database.connection_context():  # nothing half-written from a failed file
        assert not ContentItem.select().where(ContentItem.title.in_(["Odd", "Fields", "GBK", "Never closed"])).exists()


def test_an_edited_file_updates_its_item_with_one_new_version(runner, library_copy):
    runner.invoke(["content", "import", str(library_copy)])
    path = library_copy / "coffee" / "coffee-sms-restock.md"
    path.write_text(path.read_text("utf-8").replace("满99减20", "满99减30"), "utf-8")
    result = runner.invoke(["content", "import", str(library_copy)])
    assert "updated   coffee-sms-restock" in result.output
    from campaigner.content.models import ContentItem

    with database.connection_context():
        item = ContentItem.get(ContentItem.slug == "coffee-sms-restock")
        assert "满99减30" in item.body and item.version == 2
        assert [v.note for v in item.versions] == ["imported from coffee-sms-restock.md"] * 2


def test_export_writes_the_format_import_reads_so_it_round_trips(runner, tmp_path, make_content):
    runner.invoke(["content", "import", str(SAMPLE_LIBRARY)])
    make_content(title="Edge: quotes \" and : colons", slug="edge-case", kind="script", tags=["a: b", "#hash"],
                 body="\n  Leading blank line and indent\n\ttab\n\n```\ncode\n```",
                 variants={"sms": "多行\n短信", "chat": "  leading spaces"})
    before = {row[2]: row for row in _library_state()[0]}  # by slug

    exported = runner.invoke(["content", "export", str(tmp_path / "out")])
    assert exported.exit_code == 0 and f"Exported {len(before)} item(s)" in exported.output
    from campaigner.content.models import ContentItem

    with database.connection_context():
        ContentItem.delete().execute()
    reimported = runner.invoke(["content", "import", str(tmp_path / "out")])
    assert reimported.exit_code == 0, reimported.output
    with database.connection_context():
        after = {i.slug: i for i in ContentItem.select()}
    fields = ("title", "kind", "body", "tags", "status", "variants")
    from campaigner.content.models import ContentItem as Model

    names = [f.name for f in Model._meta.sorted_fields]
    for slug, row in before.items():
        original = dict(zip(names, row))
        assert {f: original[f] for f in fields} == {f: getattr(after[slug], f) for f in fields}, slug
    again = runner.invoke(["content", "import", str(tmp_path / "out")])
    assert f"0 created, 0 updated, {len(before)} unchanged" in again.output


def test_export_can_take_only_approved_items(runner, tmp_path):
    runner.invoke(["content", "import", str(SAMPLE_LIBRARY)])
    runner.invoke(["content", "export", "--status", "approved", str(tmp_path / "approved")])
    statuses = {re.search(r"^status: (\w+)$", p.read_text("utf-8"), re.M).group(1)
                for p in (tmp_path / "approved").glob("*.md")}
    assert statuses == {"approved"}


def test_first_start_loads_the_sample_library_once(app):
    from campaigner.cli import prepare_instance
    from campaigner.content.models import ContentItem

    prepare_instance(app, quiet=True)
    with database.connection_context():
        loaded = ContentItem.select().count()
        assert loaded == len(list(SAMPLE_LIBRARY.rglob("*.md")))
        ContentItem.get(ContentItem.slug == "coffee-sms-restock").delete_instance()
    prepare_instance(app, quiet=True)  # a restart
    with database.connection_context():
        assert ContentItem.select().count() == loaded - 1  # the deleted sample stays deleted
