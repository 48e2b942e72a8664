"""Translations: zh_CN and en ship; the user's setting wins, else the browser's language.

Each feature keeps its strings in ``translations/<locale>/<feature>.po`` so parallel
work never edits one file; at start they are merged and compiled with Babel into
the instance folder (.mo files are build output, not kept in the repository).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

SOURCE = Path(__file__).parent / "translations"
LOCALES = {"en": "English", "zh_CN": "简体中文"}


def compile_catalogs(instance_path: str) -> str:
    """Merge every .po of each locale and write one messages.mo per locale; return the folder."""
    out = Path(instance_path) / "translations"
    for locale_dir in SOURCE.iterdir():
        if not locale_dir.is_dir():
            continue
        merged = Catalog(locale=locale_dir.name)
        for po in sorted(locale_dir.glob("*.po")):
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=locale_dir.name)
            for message in catalog:
                if is_translated(message, catalog.num_plurals):
                    merged[message.id] = message  # keyed by its msgctxt too
        # Flask-Babel looks the catalog up by the parsed locale's name (zh_CN -> zh_Hans_CN).
        target = out / str(Locale.parse(locale_dir.name)) / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        # A temporary file of this process's own, then an atomic replace: two processes starting at once
        # on one instance folder each write their own file, and a reader sees the old or the new catalog.
        fd, tmp = tempfile.mkstemp(prefix="messages.", suffix=".mo.tmp", dir=target)
        try:
            with os.fdopen(fd, "wb") as fh:
                write_mo(fh, merged)
            os.replace(tmp, target / "messages.mo")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return str(out)


def is_translated(message: Message, num_plurals: int) -> bool:
    """Whether a catalogue entry is used: not fuzzy, and each of the locale's plural forms filled in."""
    if not message.id or message.fuzzy:
        return False
    if message.pluralizable:
        forms = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        return len(forms) >= num_plurals and all(forms[:num_plurals])
    return bool(message.string)


def select_locale() -> str | None:
    if not has_request_context():
        return None  # CLI commands and workers: the default locale (lazy strings are read there too)
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    chosen = request.cookies.get("locale")
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["zh_CN", "zh", "zh-CN", "en"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def current_locale() -> str:
    return str(get_locale())
