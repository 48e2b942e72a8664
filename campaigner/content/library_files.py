"""The library as files: Markdown with YAML front matter, imported and exported by slug.

One file is one item::

    ---
    title: 周一咖啡小知识
    subject: "{{ name | 你好 }}，周一喝点什么？"
    slug: coffee-monday-tips
    kind: community
    tags: [咖啡, 周一]
    status: approved
    variants:
      sms: 【豆子研究所】周一早安……
    subjects:
      email: A channel's own subject line
    ---
    The Markdown body.

Import is idempotent by slug: a file that matches its item changes nothing and
writes no version. Each file is saved in its own transaction, so a bad file is
reported by name and never half-written, and the other files still import.
Export writes the same format, so export → import round-trips.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

from campaigner.content.models import KINDS, ContentItem
from campaigner.content.services import ContentError, ContentValidationError, save_content
from campaigner.db import database
from campaigner.settings_store import get_value, set_value

FRONT_MATTER = re.compile(r"---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.S | re.M)
FRONT_MATTER_KEYS = ("title", "subject", "slug", "kind", "tags", "status", "variants", "subjects")
SAMPLE_LOADED = "content.sample_library_loaded"


def sample_library_dir() -> Path | None:
    """Where the sample library is installed, or None when it is not.

    The library is the repository's top-level ``content/`` folder, which pyproject.toml
    ships as the package ``campaigner_samples``, so a plain ``pip install .`` has it as
    well as an editable install; it is Markdown only (a namespace package, no code).
    """
    spec = importlib.util.find_spec("campaigner_samples")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


SAMPLE_LIBRARY = sample_library_dir()


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file name, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.errors)} failed")


class FileError(ValueError):
    """A file that cannot be imported; the message says why."""


def read_item_file(path: Path) -> dict:
    """The item fields of one Markdown file; raise FileError saying what is wrong with it."""
    try:
        text = path.read_text("utf-8-sig")
    except UnicodeDecodeError:
        raise FileError("not UTF-8 text") from None
    return parse_item_text(text, Path(path).stem)


def parse_item_text(text: str, default_slug: str = "") -> dict:
    """The item fields of one file's text; the slug defaults to the file's name without .md."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    # Split by hand: python-frontmatter's own split eats blank lines at the start of
    # the body (and its parse strips indentation), so export -> import would not be exact.
    match = FRONT_MATTER.match(text)
    if not text.startswith("---"):
        raise FileError("no front matter (a --- block with title, kind, …) at the top")
    if match is None:
        raise FileError("broken front matter: it has no closing --- line")
    try:
        meta = frontmatter.YAMLHandler().load(match.group(1))
    except yaml.YAMLError as exc:
        raise FileError(f"broken front matter: {' '.join(str(exc).split())}") from None
    if not isinstance(meta, dict) or not meta:
        raise FileError("broken front matter: it must be a mapping of keys (title: …)")
    body = text[match.end():]
    unknown = sorted(set(meta) - set(FRONT_MATTER_KEYS))
    if unknown:
        raise FileError(f"unknown front matter keys: {', '.join(unknown)} "
                        f"(allowed: {', '.join(FRONT_MATTER_KEYS)})")
    if not meta.get("title"):
        raise FileError("front matter has no title")
    kind = meta.get("kind", "article")
    if kind not in KINDS:
        raise FileError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list):
        raise FileError("tags must be a list")
    variants = meta.get("variants") or {}
    if not isinstance(variants, dict):
        raise FileError("variants must map a channel name to its text")
    subjects = meta.get("subjects") or {}
    if not isinstance(subjects, dict):
        raise FileError("subjects must map a channel name to its subject line")
    return {
        "title": str(meta["title"]),
        "subject": str(meta.get("subject") or ""),
        "subjects": {str(k): ("" if v is None else str(v)) for k, v in subjects.items()},
        "slug": str(meta.get("slug") or default_slug).strip().lower(),
        "kind": kind,
        "tags": [str(t) for t in tags],
        "status": str(meta.get("status") or "draft"),
        "variants": {str(k): ("" if v is None else str(v)) for k, v in variants.items()},
        "body": body,
    }


def import_directory(directory, user=None) -> ImportReport:
    """Import every ``*.md`` under `directory` (sorted by path); report each file that fails by name."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    report = ImportReport()
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*.md")):
        try:
            data = read_item_file(path)
        except (FileError, OSError) as exc:
            report.errors.append((str(path.relative_to(root)), str(exc)))
            continue
        _import_one(str(path.relative_to(root)), data, user, report, seen)
    return report


def import_texts(files: dict[str, str], user=None) -> ImportReport:
    """Import files given as {name: text} (the API's import), like `import_directory`."""
    report = ImportReport()
    seen: dict[str, str] = {}
    for name in sorted(files):
        try:
            data = parse_item_text(files[name], Path(name).stem)
        except FileError as exc:
            report.errors.append((name, str(exc)))
            continue
        _import_one(name, data, user, report, seen)
    return report


def _import_one(name: str, data: dict, user, report: ImportReport, seen: dict[str, str]) -> None:
    """Save one parsed file in its own transaction, recording the outcome in `report`."""
    try:
        if data["slug"] in seen:
            raise FileError(f"slug {data['slug']!r} is also used by {seen[data['slug']]}")
        seen[data["slug"]] = name
        with database.atomic():
            item = ContentItem.get_or_none(ContentItem.slug == data["slug"])
            result = save_content(item, data, user, note=f"imported from {Path(name).name}")
    except ContentValidationError as exc:
        report.errors.append((name, "; ".join(f"{k}: {v}" for k, v in exc.errors.items())))
        return
    except (FileError, ContentError) as exc:
        report.errors.append((name, str(exc)))
        return
    if item is None:
        report.created.append(data["slug"])
    elif result.changed:
        report.updated.append(data["slug"])
    else:
        report.unchanged.append(data["slug"])


def item_file_text(item: ContentItem) -> str:
    """One item as Markdown with front matter (what `read_item_file` reads back)."""
    meta = {"title": item.title, "slug": item.slug, "kind": item.kind, "tags": list(item.tags or []),
            "status": item.status}
    if item.subject:
        meta["subject"] = item.subject
    if item.variants:
        meta["variants"] = dict(item.variants)
    if item.subjects:
        meta["subjects"] = dict(item.subjects)
    front = yaml.dump(meta, Dumper=_FrontMatterDumper, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n{item.body}\n"


class _FrontMatterDumper(yaml.SafeDumper):
    """Writes multi-line strings (SMS and chat variants) as readable | blocks."""


def _represent_str(dumper, value):
    style = "|" if "\n" in value and value == value.strip() + ("\n" if value.endswith("\n") else "") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FrontMatterDumper.add_representer(str, _represent_str)


def export_directory(directory, items=None) -> list[Path]:
    """Write each item (default: all) as ``<slug>.md`` into `directory`; return the files written."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for item in (items if items is not None else ContentItem.select().order_by(ContentItem.slug)):
        path = root / f"{item.slug}.md"
        path.write_text(item_file_text(item), "utf-8")
        written.append(path)
    return written


def load_sample_library(directory=None, echo=print) -> ImportReport | None:
    """On the first start, import the sample library; remembered, so deleted samples stay deleted."""
    if get_value(SAMPLE_LOADED):
        return None
    directory = Path(directory) if directory else sample_library_dir()
    if directory is None or not directory.is_dir():
        echo("No sample content library is installed; the library starts empty.")
        return None
    report = import_directory(directory)
    set_value(SAMPLE_LOADED, True)
    echo(f"Sample content library loaded from {directory}: {report.summary()}")
    for name, message in report.errors:
        echo(f"  {name}: {message}")
    return report
