"""A translation keeps its English text's % placeholders and escapes, so no locale can break a page:
one lone % in a zh_CN msgstr made /analytics/goals a 500 in Chinese only."""
import textwrap

from campaigner.i18n_check import describe, format_mismatches


def test_every_translation_keeps_the_english_placeholders():
    found = format_mismatches("zh_CN")
    assert not found, "translations that would fail or lose a value when formatted:\n" + "\n".join(map(str, found))


def test_goals_page_in_chinese(logged_in_ops):
    logged_in_ops.post("/settings/", data={"prefs-name": "Ops", "prefs-locale": "zh_CN"})
    response = logged_in_ops.get("/analytics/goals")
    assert response.status_code == 200
    assert "60 表示百分之六十" in response.get_data(as_text=True)


def _catalogue(tmp_path, po: str, nplurals: int = 1):
    (tmp_path / "zh_CN").mkdir()
    header = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
              f'"Plural-Forms: nplurals={nplurals}; plural={"0" if nplurals == 1 else "(n != 1)"};\\n"\n\n')
    (tmp_path / "zh_CN" / "page.po").write_text(header + textwrap.dedent(po), encoding="utf-8")
    return {describe(p.key): p.reason for p in format_mismatches("zh_CN", tmp_path)}


def test_checker_refuses_a_lone_percent_the_english_lacks(tmp_path):
    assert _catalogue(tmp_path, """
        msgid "60 means 60 percent."
        msgstr "60 表示 60%。"
    """) == {"'60 means 60 percent.'": "msgstr has % sequences %, the English has none: keep the same ones"}


def test_checker_refuses_a_lost_renamed_or_unescaped_placeholder(tmp_path):
    found = _catalogue(tmp_path, """
        msgid "%(n)s entries"
        msgstr "条目"

        msgid "Moved to %(when)s."
        msgstr "已移到 %(time)s。"

        msgid "%(final)d settled (%(progress)s%%)"
        msgstr "%(final)d 已结束（%(progress)s%）"

        msgid "%(sent)s sent of %(targeted)s"
        msgstr "%(targeted)s 中已发送 %(sent)s"

        msgid "Active rate (% of contacts)"
        msgstr "活跃率（联系人占比 %）"

        msgid "Untranslated %(n)s"
        msgstr ""
    """)
    assert set(found) == {"'%(n)s entries'", "'Moved to %(when)s.'", "'%(final)d settled (%(progress)s%%)'"}
    assert found["'Moved to %(when)s.'"] == ("msgstr has % sequences %(time)s, the English has %(when)s: "
                                            "keep the same ones")


def test_checker_reads_each_plural_form(tmp_path):
    found = _catalogue(tmp_path, """
        msgid "%(num)d cat"
        msgid_plural "%(num)d cats"
        msgstr[0] "%(num)d 只猫"

        msgid "one hen"
        msgid_plural "%(num)d hens"
        msgstr[0] "%(num)d 只母鸡"

        msgid "%(num)d fox"
        msgid_plural "%(num)d foxes"
        msgstr[0] "%(num)d 只狐狸"
        msgstr[1] "%(num)d% foxes"
    """, nplurals=2)
    assert found == {"'%(num)d fox'": "msgstr[1] has % sequences % %(num)d, the English has %(num)d: "
                                      "keep the same ones"}
