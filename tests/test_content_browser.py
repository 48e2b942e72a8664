"""In headless Chromium: an editor writes a post, sees the SMS preview warn, approves it, finds it again."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_editor_writes_post_sees_sms_warning_approves_and_finds_it_by_chinese_term(page, browser_login):
    browser_login("editor")
    page.goto("/content/new")
    page.fill("#title", "桂花燕麦拿铁上新")
    page.select_option("#kind", "moments")
    page.fill("#tags", "咖啡, 秋季")
    page.fill("#body", "{{ name | 朋友 }}，秋天的第一杯**桂花燕麦拿铁**来了 🍂\n\n本周会员第二杯半价。")

    sms_preview = page.locator('article[data-channel="sms"]')
    page.fill("#variant_sms", "桂花燕麦拿铁上新，会员第二杯半价。")
    expect(sms_preview.locator(".preview-text")).to_have_text(re.compile("桂花燕麦拿铁上新，会员第二杯半价"))
    expect(sms_preview.locator(".preview-warning")).to_have_count(0)

    long_sms = "桂花燕麦拿铁上新啦！本周会员第二杯半价，门店和小程序同步上线，" * 3  # past 70 characters
    page.fill("#variant_sms", long_sms)
    warning = sms_preview.locator(".preview-warning").first
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("SMS parts")
    # The other channels' previews stand beside it, rendered as the editor typed.
    expect(page.locator('article[data-channel="email"] .preview-html strong')).to_have_text("桂花燕麦拿铁")

    page.click("#content-form button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("桂花燕麦拿铁上新")
    expect(page.locator("#content-status")).to_have_text("Draft")
    page.click("button[data-status=approved]")
    expect(page.locator("#content-status")).to_have_text("Approved")

    page.goto("/content/")
    page.fill("#content-q", "桂花")
    results = page.locator("#results")
    expect(results).to_contain_text("1 item")
    expect(results.get_by_role("link", name="桂花燕麦拿铁上新")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=%E6%A1%82%E8%8A%B1"))  # the search is in the address, to share
    page.fill("#content-q", "没有这个词")
    expect(results).to_contain_text("Nothing matches")
    page.fill("#content-q", "桂花")
    page.select_option("#content-status", "approved")
    results.get_by_role("link", name="桂花燕麦拿铁上新").click()
    expect(page.locator("#content-status")).to_have_text("Approved")
