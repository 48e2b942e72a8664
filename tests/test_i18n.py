"""Every UI string is translatable, and zh_CN has each one."""
from campaigner.i18n_check import missing


def test_every_ui_string_has_a_chinese_translation():
    lacking = missing("zh_CN")
    report = "\n".join(f"{', '.join(sorted(files))}: {msgid!r}" for msgid, files in sorted(lacking.items()))
    assert not lacking, f"strings without a zh_CN translation (add them to campaigner/translations/zh_CN/<feature>.po):\n{report}"


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


# The same English words may need different Chinese where the context differs
# ("never" seen vs "never" expires); every other string reads the same everywhere.
CONTEXT_DEPENDENT = {"What", "Created", "When", "never", "Older"}


def test_one_english_string_has_one_chinese_translation_across_features():
    from pathlib import Path

    from babel.messages.pofile import read_po

    seen: dict[str, set[tuple[str, str]]] = {}
    for po in sorted((Path(__file__).parent.parent / "campaigner" / "translations" / "zh_CN").glob("*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if isinstance(m.id, str) and m.id and m.string:
                    seen.setdefault(m.id, set()).add((m.string, po.name))
    conflicts = {k: v for k, v in seen.items() if len({s for s, _ in v}) > 1 and k not in CONTEXT_DEPENDENT}
    assert not conflicts, f"one English string, several translations: {conflicts}"
