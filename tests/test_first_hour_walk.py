"""A new user's first hour, walked in Debian's chromium against `campaigner up` on a port of its own.

The story of issue 15 end to end: the one-time admin password replaced at the first sign-in, a messy
Chinese CSV (GBK, Chinese headers, a mobile number in a range the phone library does not list) imported
without losing anyone, content with a personalised subject, an email campaign to a real SMTP server, the
short link and the unsubscribe link of the received message followed (a confirmation page first, the opt-out
only on its button), and the delivery log read in Chinese with times in the reader's own zone.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import requests

from campaigner.testing import SmtpServer
from tests.conftest import free_port
from tests.test_core_cli import instance_env, start_up  # noqa: F401  (fixture)
from tests.test_public_address import own_queue, stop_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_PASSWORD = "first-hour-new-password-1"
CSV_FILE = (
    "会员ID,姓名,手机,邮箱,标签\r\n"
    "M1,王芳,14012345678,fang@example.com,新客\r\n"  # 140: possible for the region, not listed as allocated
    "M2,李娜,13800138000,li@example.com,新客\r\n"
).encode("gbk")


def _one_time_password(startup: str) -> str:
    return re.search(r"One-time password: (\S+)", startup).group(1)


def test_a_new_user_walks_the_first_hour(instance_env, browser, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpServer() as smtp:
        env = {**own_queue(instance_env),
               "CAMPAIGNER_CHANNEL_EMAIL_HOST": smtp.host, "CAMPAIGNER_CHANNEL_EMAIL_PORT": str(smtp.port),
               "CAMPAIGNER_CHANNEL_EMAIL_SECURITY": "none",
               "CAMPAIGNER_CHANNEL_EMAIL_FROM_ADDRESS": "hello@beans.example"}
        proc, startup = start_up(env, port)
        context = browser.new_context(base_url=base, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(20000)
        try:
            _walk(page, smtp, base, startup, tmp_path)
        finally:
            context.close()
            stop_up(proc)


def _walk(page, smtp, base, startup, tmp_path):
    # The printed one-time password signs in once, and nothing is reachable until it is replaced.
    page.goto("/login")
    page.fill("#email", "admin@example.com")
    page.fill("#password", _one_time_password(startup))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/settings/.*change_password"))
    page.goto("/campaigns/")
    assert "change_password" in page.url
    page.fill("#pw-current", _one_time_password(startup))
    page.fill("#pw-new", NEW_PASSWORD)
    page.fill("#pw-confirm", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    page.goto("/campaigns/")
    assert re.search(r"/campaigns/$", page.url)

    # A messy Chinese CSV: both people are kept, the unlisted mobile range is a warning, not an error.
    csv_path = tmp_path / "会员.csv"
    csv_path.write_bytes(CSV_FILE)
    page.goto("/audience/imports")
    page.set_input_files("input[type=file]", str(csv_path))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_url(re.compile(r".*/audience/imports/\d+$"))
    page.click("form[action$='/run'] button[type=submit]")
    page.wait_for_selector("#import-job[data-status=done]", timeout=60000)
    assert page.inner_text("#import-created") == "2"
    assert page.inner_text("#import-skipped") == "0"
    assert page.locator("tr[data-code=phone_unverified]").count() == 1

    # Content with a personalised subject; the title stays the library's name for it.
    page.goto("/content/new")
    page.fill("#title", "朋友圈 · 周一早安拿铁")
    page.fill("#subject", "{{ name }}，春季新豆到了")
    page.fill("#body", "春季新豆到了：[看菜单](https://shop.example.com/menu)")
    page.click("button:has-text('Save')")
    page.wait_for_url(re.compile(r".*/content/\d+$"))
    page.click("button[data-status=approved]")
    page.wait_for_selector("button[data-status=draft]")  # approved: what is left is going back to draft

    # An email campaign to the imported people.
    page.goto("/campaigns/new")
    page.fill("#name", "春季新豆")
    page.select_option("#content", label="朋友圈 · 周一早安拿铁")
    page.select_option("#channel_1", "email")
    page.fill("#audience", "tag:新客")
    page.wait_for_selector("text=2 contacts are reachable on the chosen channels now.")
    page.click(".campaign-builder button[type=submit]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    page.click("button:has-text('Schedule')")
    page.wait_for_selector("text=Campaign scheduled.")
    received = smtp.wait_for(2, timeout=120)
    by_address = {message["To"]: message for message in received}
    fang = by_address["fang@example.com"]
    assert str(fang["Subject"]) == "王芳，春季新豆到了"
    text = fang.get_body(("plain",)).get_content()

    # The links in the message point at the port this server listens on, and work.
    short = re.search(r"(http://[^\s)]+/s/[\w-]+)", text).group(1)
    assert short.startswith(f"{base}/s/"), text
    click = requests.get(short, allow_redirects=False, timeout=10)
    assert click.status_code == 302
    assert click.headers["Location"].startswith("https://shop.example.com/menu")

    # Unsubscribe: opening the link only asks; the button opts out.
    unsubscribe = re.fullmatch(r"<([^>]+)>", fang["List-Unsubscribe"]).group(1)
    assert unsubscribe.startswith(f"{base}/u/")
    visitor = page.context.browser.new_context(locale="en-US")
    reader = visitor.new_page()
    reader.goto(unsubscribe)
    reader.wait_for_selector("button:has-text('Unsubscribe')")
    page.goto("/audience/?q=王芳")
    page.click("a:has-text('王芳')")
    assert "email" not in _opt_outs(page)  # a GET alone opts nobody out
    reader.click("button:has-text('Unsubscribe')")
    reader.wait_for_selector("button:has-text('Subscribe again')")
    visitor.close()
    page.reload()
    assert "email" in _opt_outs(page)

    # The log in Chinese, in the reader's own zone, named once on the page.
    page.goto("/settings/")
    page.select_option("#prefs-locale", "zh_CN")
    page.select_option("#prefs-timezone", "America/New_York")
    page.click("form[action$='/settings/'] button[type=submit]")
    page.goto("/deliveries/")
    assert page.locator("h1").inner_text() == "投递日志"
    assert page.locator("#page-zone").inner_text() == "时间均为 America/New_York 时区。"
    assert "(UTC)" not in page.inner_text("main")
    shown = page.locator("table.delivery-log tbody tr").first.locator("td").nth(6).inner_text()
    local_now = dt.datetime.now(ZoneInfo("America/New_York"))
    clock = re.search(r"(\d{1,2}):(\d{2}):\d{2}", shown)
    minutes = int(clock.group(1)) * 60 + int(clock.group(2))
    assert abs(minutes - (local_now.hour * 60 + local_now.minute)) % (24 * 60) <= 10, shown
    assert f"{local_now.year}年" in shown


def _opt_outs(page) -> str:
    """The opt-outs the contact page lists, one a line (empty when there are none)."""
    section = page.locator("section.card", has=page.locator("h2", has_text="Opt-outs"))
    return "\n".join(section.locator("li").all_inner_texts())
