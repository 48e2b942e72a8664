"""The shell in a real browser: sign in, navigate, an htmx form with its CSRF header."""
import re

import pytest

pytestmark = pytest.mark.browser


def test_user_signs_in_and_creates_api_token_through_htmx(page, browser_login, tmp_path):
    browser_login("editor")
    assert page.locator("nav.mainnav a").count() >= 7
    page.click("text=Settings")
    page.fill("#token-name", "laptop")
    page.click("text=Create token")
    token = page.locator("code.token")
    token.wait_for()
    assert token.inner_text().startswith("cmp_")
    # the swap was done by htmx (no full reload): the page kept its URL
    assert re.search(r"/settings/$", page.url)
    page.screenshot(path=str(tmp_path / "settings.png"))


def test_chinese_browser_sees_chinese_login(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.goto("/login")
    assert page.locator("h1").inner_text() == "登录"
    context.close()
