"""The documentation links only to what the repository holds: a reader of a clone or a wheel's sdist
finds every page it names."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_in_the_docs_resolves_inside_the_repository():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text("utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_no_page_sends_the_reader_to_the_shared_design_notes():
    mentions = [f"{page.relative_to(ROOT)}" for page in PAGES
                if re.search(r"shared/(DESIGN|BENCH)\.md|\bDESIGN\.md|\bBENCH\.md", page.read_text("utf-8"))]
    assert mentions == []


def test_the_reliability_model_and_benchmark_format_are_in_docs():
    reliability = (ROOT / "docs" / "reliability.md").read_text("utf-8")
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text("utf-8")
    for term in ("sweeper", "lease", "provider_dedupes", "unknown", "INSERT … SELECT", "pauses itself"):
        assert term in reliability
    for field in ("name", "backend", "n", "value", "unit", "baseline", "ratio", "target", "details"):
        assert f"`{field}`" in benchmarks
