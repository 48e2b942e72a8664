"""Every UI string is translatable, zh_CN has each one in every plural form, and one English string
reads one way unless a context (pgettext) says which sense it has."""
import configparser
import textwrap
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.frontend import parse_keywords

from campaigner.i18n_check import KEYWORDS, conflicts, describe, missing
from tests.fixtures_links import manual_link  # noqa: F401

ROOT = Path(__file__).parent.parent


def test_every_ui_string_has_a_chinese_translation():
    lacking = missing("zh_CN")
    report = "\n".join(str(problem) for problem in lacking)
    assert not lacking, ("strings without a zh_CN translation (add them to campaigner/translations/zh_CN/<feature>.po):\n"
                         f"{report}")


def test_one_english_string_has_one_chinese_translation_across_features():
    found = conflicts("zh_CN")
    report = "\n".join(f"{describe(key)}: {sorted(strings, key=str)}" for key, strings in found.items())
    assert not found, ("one English string, several translations: unify them, or where the word has two senses "
                       f"give each use a context (pgettext / msgctxt):\n{report}")


def test_chinese_browser_gets_chinese_pages(client):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "登录" in page


def test_english_browser_gets_english_pages(client):
    page = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "Sign in" in page and "登录" not in page


def test_user_language_setting_wins_over_browser(logged_in_editor):
    logged_in_editor.post("/settings/", data={"prefs-name": "Ed", "prefs-locale": "zh_CN"})
    page = logged_in_editor.get("/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "概览" in page


def test_a_word_with_two_senses_reads_as_each_sense_in_chinese(logged_in_editor, manual_link):
    manual_link(label="poster")  # no expiry: "never" expires
    logged_in_editor.post("/settings/", data={"prefs-name": "Ed", "prefs-locale": "zh_CN"})
    links = logged_in_editor.get("/links/").get_data(as_text=True)
    dashboard = logged_in_editor.get("/").get_data(as_text=True)
    builder = logged_in_editor.get("/campaigns/new").get_data(as_text=True)
    assert '<span class="muted">永不</span>' in links and "从未" not in links
    assert "后台任务最近心跳： 从未" in dashboard and "永不" not in dashboard  # no worker has run: "never" seen
    assert "发送时机" in builder


# ---------------------------------------------------------------- the checker itself


def _tree(tmp_path, template: str, po: str, locale: str = "zh_CN", nplurals: int = 1) -> Path:
    (tmp_path / "campaigner" / "templates").mkdir(parents=True)
    (tmp_path / "campaigner" / "templates" / "page.html").write_text(textwrap.dedent(template), encoding="utf-8")
    (tmp_path / "translations" / locale).mkdir(parents=True)
    header = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
              f'"Plural-Forms: nplurals={nplurals}; plural={"0" if nplurals == 1 else "(n != 1)"};\\n"\n\n')
    (tmp_path / "translations" / locale / "page.po").write_text(header + textwrap.dedent(po), encoding="utf-8")
    return tmp_path


def _problems(root: Path, locale: str = "zh_CN") -> dict[str, str]:
    return {describe(p.key): p.reason for p in missing(locale, root=root, translations=root / "translations")}


def test_checker_wants_each_plural_form_translated(tmp_path):
    root = _tree(tmp_path, """
        {{ ngettext("%(num)d cat", "%(num)d cats", n) }}
        {{ ngettext("%(num)d dog", "%(num)d dogs", n) }}
        {{ ngettext("%(num)d fox", "%(num)d foxes", n) }}
        {% trans count=n %}{{ count }} hen{% pluralize %}{{ count }} hens{% endtrans %}
        {% trans count=n %}{{ count }} cow{% pluralize %}{{ count }} cows{% endtrans %}
    """, """
        msgid "%(num)d cat"
        msgid_plural "%(num)d cats"
        msgstr[0] ""

        msgid "%(num)d dog"
        msgstr "%(num)d 只狗"

        msgid "%(num)d dogs"
        msgstr "%(num)d 只狗"

        msgid "%(num)d fox"
        msgid_plural "%(num)d foxes"
        msgstr[0] "%(num)d 只狐狸"

        msgid "%(count)s hen"
        msgid_plural "%(count)s hens"
        msgstr[0] ""

        msgid "%(count)s cow"
        msgid_plural "%(count)s cows"
        msgstr[0] "%(count)s 头牛"
    """)
    assert _problems(root) == {
        "'%(num)d cat'": "msgstr[0] empty in page.po",
        "'%(num)d dog'": "used with a count: needs a plural entry (msgid_plural '%(num)d dogs', msgstr[0] …)",
        "'%(count)s hen'": "msgstr[0] empty in page.po",
    }


def test_checker_wants_every_form_the_locale_has(tmp_path):
    root = _tree(tmp_path, """{{ ngettext("%(num)d cat", "%(num)d cats", n) }}""", """
        msgid "%(num)d cat"
        msgid_plural "%(num)d cats"
        msgstr[0] "%(num)d chat"
    """, locale="fr", nplurals=2)
    assert _problems(root, "fr") == {"'%(num)d cat'": "msgstr[1] empty in page.po"}


def test_checker_tells_contexts_apart(tmp_path):
    root = _tree(tmp_path, """
        {{ _("never") }} {{ pgettext("expiry", "never") }} {{ pgettext("schedule", "When") }} {{ _("Older") }}
    """, """
        msgid "never"
        msgstr "从未"

        msgctxt "schedule"
        msgid "When"
        msgstr "发送时机"

        msgid "Older"
        msgstr "较早"

        msgctxt "pagination"
        msgid "Older"
        msgstr "更早"
    """)
    assert _problems(root) == {"'never' (context 'expiry')": "no translation"}


def test_checker_finds_a_string_translated_two_ways(tmp_path):
    root = _tree(tmp_path, "", """
        msgid "Older"
        msgstr "较早"

        msgctxt "expiry"
        msgid "never"
        msgstr "永不"
    """)
    (root / "translations" / "zh_CN" / "other.po").write_text(textwrap.dedent("""
        msgid "Older"
        msgstr "更早"

        msgid "never"
        msgstr "从未"
    """), encoding="utf-8")
    assert conflicts("zh_CN", root / "translations") == {
        (None, "Older"): {("较早", "page.po"), ("更早", "other.po")}}


def test_babel_cfg_extracts_what_the_checker_extracts():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "babel.cfg", encoding="utf-8")
    for section in cfg.sections():
        if section.startswith("python:"):
            keywords = {**DEFAULT_KEYWORDS, **parse_keywords(cfg[section].get("keywords", "").split())}
            assert {k: keywords.get(k) for k in KEYWORDS} == KEYWORDS, section
