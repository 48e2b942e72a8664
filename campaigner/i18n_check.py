"""Which UI strings lack a zh_CN translation, and which get two (used by the test suite and by contributors).

Run ``python -m campaigner.i18n_check`` to list them per source file.

A message is its context and its English text: ``pgettext("expiry", "never")`` and ``_("never")`` are
two messages, each with its own translation, for the English words that need two Chinese ones. A
message used with a count (``ngettext``, ``{% trans count=n %}…{% pluralize %}``) needs a plural entry
(``msgid_plural``) with every plural form of the locale translated; a singular entry does not serve it.
A translation keeps its English text's ``%`` placeholders and ``%%`` escapes (``format_mismatches``).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from campaigner.i18n import SOURCE, is_translated

ROOT = Path(__file__).resolve().parent.parent
METHOD_MAP = [
    ("campaigner/**.py", "python"),
    ("plugins/**.py", "python"),
    ("campaigner/templates/**.html", "jinja2"),
    ("plugins/**/templates/**.html", "jinja2"),
]
# babel.cfg names the same keywords for `pybabel extract` (tests/test_i18n.py keeps the two alike).
KEYWORDS = {
    "_": None, "gettext": None, "lazy_gettext": None, "_l": None,
    "ngettext": (1, 2), "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "lazy_npgettext": ((1, "c"), 2, 3),
}

Key = tuple[str | None, str]  # (msgctxt, msgid): what a catalogue looks a message up by


@dataclass
class Usage:
    """Where the source uses a message, and how: None for without a count, else the plural text."""

    files: set[str] = field(default_factory=set)
    forms: set[str | None] = field(default_factory=set)


@dataclass(frozen=True)
class Problem:
    """A message the locale cannot show as the source uses it."""

    key: Key
    files: frozenset[str]
    reason: str

    def __str__(self) -> str:
        return f"{', '.join(sorted(self.files))}: {describe(self.key)}: {self.reason}"


def describe(key: Key) -> str:
    context, msgid = key
    return f"{msgid!r}" if context is None else f"{msgid!r} (context {context!r})"


def extracted(root: Path = ROOT) -> dict[Key, Usage]:
    """Every message the source uses."""
    found: dict[Key, Usage] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        root, method_map=METHOD_MAP, keywords=KEYWORDS,
        options_map={"campaigner/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        singular, plural = message if isinstance(message, tuple) else (message, None)
        if singular and not filename.startswith(("tests", ".venv", "bench")):
            usage = found.setdefault((context, singular), Usage())
            usage.files.add(filename)
            usage.forms.add(plural)
    return found


def catalogue(locale: str = "zh_CN", translations: Path = SOURCE) -> dict[Key, list[tuple[Message, int, str]]]:
    """Every entry of the locale's .po files: key -> (entry, the file's number of plural forms, file name)."""
    entries: dict[Key, list[tuple[Message, int, str]]] = {}
    for po in sorted((translations / locale).glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        for m in catalog:
            if m.id:
                msgid = m.id[0] if isinstance(m.id, (tuple, list)) else m.id
                entries.setdefault((m.context, msgid), []).append((m, catalog.num_plurals, po.name))
    return entries


def _reason(usage: Usage, entries: list[tuple[Message, int, str]]) -> str | None:
    """Why the entries cannot show the message as the source uses it; None when they can."""
    if len(usage.forms) > 1:
        return "used both with and without a count, or with two plural texts: give one of them a context"
    (plural,) = usage.forms
    usable = [(m, n) for m, n, _po in entries if is_translated(m, n)]
    if plural is None:
        if any(not m.pluralizable for m, _n in usable):
            return None
        return "translated only as a plural (msgid_plural), but used without a count" if usable else "no translation"
    if any(m.pluralizable for m, _n in usable):
        return None
    partial = [(m, n, po) for m, n, po in entries if m.pluralizable and not m.fuzzy]
    if partial:
        m, n, po = partial[0]
        forms = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
        empty = [f"msgstr[{i}]" for i in range(n) if i >= len(forms) or not forms[i]]
        return f"{', '.join(empty)} empty in {po}"
    return f"used with a count: needs a plural entry (msgid_plural {plural!r}, msgstr[0] …)"


def missing(locale: str = "zh_CN", root: Path = ROOT, translations: Path = SOURCE) -> list[Problem]:
    """The messages the source uses that the locale's catalogue cannot show as used."""
    have = catalogue(locale, translations)
    problems = []
    for key, usage in extracted(root).items():
        reason = _reason(usage, have.get(key, []))
        if reason:
            problems.append(Problem(key, frozenset(usage.files), reason))
    return sorted(problems, key=lambda p: (sorted(p.files), p.key[1], p.key[0] or ""))


def conflicts(locale: str = "zh_CN", translations: Path = SOURCE) -> dict[Key, set[tuple[str | tuple, str]]]:
    """Messages translated differently in two .po files: the merged catalogue would keep only one.

    An English word that needs two Chinese ones gets a context where it is used (pgettext) instead.
    """
    found = {}
    for key, entries in catalogue(locale, translations).items():
        strings = {(m.string, po) for m, n, po in entries if is_translated(m, n)}
        if len({s for s, _po in strings}) > 1:
            found[key] = strings
    return found


# A named placeholder (%(name)s), a positional one (%s, %.1f), an escape (%%) or a lone %. The space
# flag is left out on purpose: "% of contacts" is English prose with a lone %, not a conversion.
FORMAT_TOKEN = re.compile(r"%(?:\(\w+\))?[-#0+]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]|%")


def format_tokens(text: str) -> Counter:
    """The ``%`` sequences of a message: what Python's ``%`` operator will read in it."""
    return Counter(FORMAT_TOKEN.findall(text))


def format_mismatches(locale: str = "zh_CN", translations: Path = SOURCE) -> list[Problem]:
    """Translations whose ``%`` placeholders or escapes differ from their English text's.

    Jinja's ``_()`` formats every message with ``%`` (new-style gettext), so one lone ``%`` in a
    translation makes a page fail in that locale only. Babel's own python-format checker misses
    it: it skips messages whose English text has no placeholder, and it reads "% of" as a
    conversion. Here each msgstr must hold the very ``%`` sequences its msgid holds (each plural
    form those of ``msgid_plural``, or of ``msgid`` where the locale's one form drops the count).
    """
    problems = []
    for key, entries in catalogue(locale, translations).items():
        for message, num_plurals, po in entries:
            if not is_translated(message, num_plurals):
                continue
            if message.pluralizable:
                singular, plural = message.id[0], message.id[1]
                forms = list(message.string)[:num_plurals]
                wanted = [format_tokens(plural), format_tokens(singular)]
            else:
                forms, wanted = [message.string], [format_tokens(message.id)]
            for index, form in enumerate(forms):
                have = format_tokens(form)
                if have not in wanted:
                    expected = " ".join(sorted(wanted[0].elements())) or "none"
                    found = " ".join(sorted(have.elements())) or "none"
                    where = f"msgstr[{index}]" if message.pluralizable else "msgstr"
                    problems.append(Problem(key, frozenset({po}), f"{where} has % sequences {found}, "
                                                                  f"the English has {expected}: keep the same ones"))
    return sorted(problems, key=lambda p: (sorted(p.files), p.key[1], p.key[0] or ""))


if __name__ == "__main__":
    for problem in missing():
        print(problem)
    for problem in format_mismatches():
        print(problem)
    for key, strings in conflicts().items():
        print(f"{describe(key)}: translated differently: {sorted(strings, key=str)}")
