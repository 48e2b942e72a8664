"""Small things a new user notices: a favicon, and a delivery log found by name or part of an email with the
campaign chosen from a list."""
from __future__ import annotations

import re

from tests.fixtures_engine import channels, make_contacts, new_campaign, run_campaign  # noqa: F401  (fixtures)


def test_favicon_is_served_to_anyone_and_every_page_links_it(client, logged_in_editor):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    for page in (client.get("/login"), logged_in_editor.get("/"), logged_in_editor.get("/content/")):
        link = re.search(r'<link rel="icon" href="([^"]+)"', page.get_data(as_text=True))
        assert link, page.request.path
        assert client.get(link.group(1)).status_code == 200


def _names(page: str) -> set[str]:
    return set(re.findall(r"<td>(王[^<]*|Contact \d)</td>", page))


def test_delivery_log_finds_contacts_by_name_and_part_of_an_email(app, channels, logged_in_ops):
    make_contacts(3, name=lambda i: ["王芳", "王小明", "李雷"][i], email=lambda i: f"{['fang', 'ming', 'lei'][i]}@shop.example")
    run_campaign(new_campaign(name="春季上新").id)

    def log(contact):
        return logged_in_ops.get("/deliveries/", query_string={"contact": contact}).get_data(as_text=True)

    assert _names(log("王")) == {"王芳", "王小明"}
    assert _names(log("小明")) == {"王小明"}
    assert _names(log("FANG@")) == {"王芳"}  # part of an email, any case
    assert "No deliveries match" in log("%")  # a wildcard is just a character


def test_delivery_log_campaign_filter_is_a_choice_of_campaigns(app, channels, logged_in_ops):
    make_contacts(1)
    spring, autumn = new_campaign(name="春季上新"), new_campaign(name="秋季清仓")
    page = logged_in_ops.get("/deliveries/").get_data(as_text=True)
    select = re.search(r'<select id="f-campaign" name="campaign">(.*?)</select>', page, re.S).group(1)
    assert f'<option value="{spring.id}">春季上新 (#{spring.id})</option>' in select
    assert f'<option value="{autumn.id}">秋季清仓 (#{autumn.id})</option>' in select
    chosen = logged_in_ops.get(f"/deliveries/?campaign={autumn.id}").get_data(as_text=True)
    assert f'<option value="{autumn.id}" selected>' in chosen
