"""Which UI strings lack a zh_CN translation (used by the test suite and by contributors).

Run ``python -m campaigner.i18n_check`` to list them per source file.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHOD_MAP = [
    ("campaigner/**.py", "python"),
    ("plugins/**.py", "python"),
    ("campaigner/templates/**.html", "jinja2"),
    ("plugins/**/templates/**.html", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def extracted() -> dict[str, set[str]]:
    """msgid -> the files it appears in."""
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map=METHOD_MAP, keywords=KEYWORDS,
        options_map={"campaigner/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid and not filename.startswith(("tests", ".venv", "bench")):
                found.setdefault(msgid, set()).add(filename)
    return found


def translated(locale: str = "zh_CN") -> set[str]:
    ids = set()
    for po in sorted((ROOT / "campaigner" / "translations" / locale).glob("*.po")):
        with po.open("rb") as fh:
            ids |= {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id and m.string}
    return ids


def missing(locale: str = "zh_CN") -> dict[str, set[str]]:
    have = translated(locale)
    return {msgid: files for msgid, files in extracted().items() if msgid not in have}


if __name__ == "__main__":
    for msgid, files in sorted(missing().items(), key=lambda kv: sorted(kv[1])):
        print(f"{', '.join(sorted(files))}: {msgid!r}")
