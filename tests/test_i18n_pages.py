"""Every page a Chinese reader opens, with data in every state (content, campaigns, deliveries with each
skip reason, every audit action, an import with errors and notes, an engine pause), reads in Chinese:
no English word reaches the visible text but the data itself and a few names (Campaigner, CSV, RFM, …)."""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
from html.parser import HTMLParser

import pytest

from campaigner.audience.models import Contact, ImportJob
from campaigner.audit import record_audit, says
from campaigner.campaigns.forms import DELIVERY_STATUS_LABELS, REASON_LABELS, STATUS_LABELS
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import database, utcnow
from campaigner.deliveries.models import Delivery
from campaigner.labels import ACTIONS
from campaigner.settings_store import set_value
from tests.fixtures_engine import channels  # noqa: F401

# Words a Chinese page may show in Latin letters: names and abbreviations, not messages.
ALLOWED = {"Campaigner", "CSV", "RFM", "GMV", "API", "ID", "Asia", "Shanghai", "openid", "HTML", "Markdown", "URL",
           "UTC", "English", "iCalendar", "ics", "UV", "PV", "CTR", "ROI", "SMTP", "HTTP", "HTTPS", "TLS", "JSON",
           "Token", "Bearer", "cron", "WeCom", "SMS", "KPI", "Webhook", "CST", "phone_unverified",
           "coupon"}  # the {{ coupon }} field editors write, named as written


class VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside script and style, and titles, labels and placeholders."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code", "pre", "option", "textarea"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code", "pre", "option", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(html: str, data_words: set[str]) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(parser.parts)
    text = re.sub(r"\S+@\S+|https?://\S+|\S+\.(csv|ics|png|jpg)\b", " ", text)  # addresses and file names are data
    words = set(re.findall(r"[A-Za-z][A-Za-z_']{2,}", text))
    return {w for w in words if w not in ALLOWED and w not in data_words}


@pytest.fixture
def every_state(app, channels):
    """Content in each status, a campaign in each status, deliveries in each status and skip reason,
    every audit action, an import with errors and notes, a worker heartbeat. Data names are Chinese."""
    from tests.fixtures_engine import make_contacts

    ids = {}
    contacts = make_contacts(20, name="王芳")
    with database.connection_context():
        Contact.update(external_id=Contact.id).execute()
        for status in ("draft", "approved", "archived"):
            ids[f"content_{status}"] = ContentItem.create(title=f"周一早安 {status[:1]}", slug=f"c-{status}",
                                                          body="早安", status=status).id
        content = ids["content_approved"]
        now = utcnow()
        for status in STATUS_LABELS:
            campaign = Campaign.create(name="会员闪购", content=content, channels=["rec"], status=status,
                                       send_at=now + dt.timedelta(hours=3), timezone="Asia/Shanghai")
            ids[f"campaign_{status}"] = campaign.id
        paused = Campaign.get_by_id(ids["campaign_paused"])
        paused.status_reason = "content is no longer approved"
        paused.save()
        engine_paused = Campaign.create(name="会员闪购", content=content, channels=["rec"], status="paused",
                                        status_reason="paused itself after 5 consecutive send errors; last: 超时")
        ids["campaign_engine_paused"] = engine_paused.id
        running = ids["campaign_running"]
        n = 0
        for status in DELIVERY_STATUS_LABELS:
            reasons = list(REASON_LABELS) if status == "skipped" else ["quiet_hours" if status == "deferred" else ""]
            for reason in reasons:
                n += 1
                delivery = Delivery.create(source_type="campaign", source_id=running, contact=contacts[n],
                                           channel="rec", status=status if status != "sending" else "queued",
                                           reason=reason, idempotency_key=f"k{n}", sent_at=now if status == "sent" else None,
                                           error="超时" if status == "failed" else None)
                ids[f"delivery_{status}_{reason}"] = delivery.id
        for action in ACTIONS:
            record_audit(None, action, object_type="campaign", object_id=running, summary="会员闪购")
        record_audit(None, "retried", object_type="campaign", object_id=running, summary="retry 3 failed deliveries",
                     details=says("retry %(num)d failed deliveries", num=3))
        record_audit(None, "scheduled", object_type="campaign", object_id=running, summary="x",
                     details=says("%(name)s at %(at)s", name="会员闪购", at=now.isoformat()))
        job = ImportJob.create(kind="contacts", filename="会员.csv", status="done", total_rows=4, created=2,
                               skipped=1, errors=[{"row": 5, "field": "手机", "code": "phone_too_short",
                                                   "params": {"value": "12345"}, "reason": "x"}],
                               warnings=[{"row": 2, "field": "手机", "code": "phone_unverified",
                                          "params": {"value": "14012345678"}, "reason": "x"},
                                         {"row": 3, "field": "邮箱", "code": "email_invalid", "left_out": True,
                                          "params": {"value": "不是邮箱"}, "reason": "x"},
                                         {"row": 4, "field": "", "code": "merged", "params": {"contact": 1},
                                          "reason": "x"}])
        ids["import"] = job.id
        set_value("worker_heartbeat", now.isoformat())
    return ids


def pages(ids: dict) -> list[str]:
    urls = ["/", "/campaigns/", "/deliveries/", "/deliveries/audit", "/content/", "/audience/imports",
            f"/audience/imports/{ids['import']}", "/analytics/", "/settings/",
            f"/campaigns/{ids['campaign_engine_paused']}", "/settings/users"]
    urls += [f"/campaigns/{v}" for k, v in ids.items() if k.startswith("campaign_")]
    urls += [f"/content/{v}" for k, v in ids.items() if k.startswith("content_")]
    urls += [f"/deliveries/{v}" for k, v in ids.items() if k.startswith("delivery_")]
    urls += [f"/analytics/campaigns/{ids['campaign_running']}"]
    return urls


# The channels' names (identifiers a page shows as they are) and the test channel's label.
DATA_WORDS = {"rec", "Recording", "sms", "email", "chat", "miniprogram", "webhook"}


def third_party_words(app) -> set[str]:
    """The words of channel labels from installed third-party packages (entry points): their translations are
    theirs to ship (tests/test_plugins.py pip-installs docs/example-plugin into the environment)."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="campaigner")}
    with app.test_request_context():
        labels = [str(ch.label) for name, ch in app.extensions["campaigner"].plugins.channels().items() if name in names]
    return {w for label in labels for w in re.findall(r"[A-Za-z][A-Za-z_']{2,}", label)}


def test_every_page_reads_in_chinese_with_data_in_every_state(app, every_state, logged_in_admin):
    logged_in_admin.post("/settings/", data={"prefs-name": "管理员", "prefs-locale": "zh_CN"})
    found = {}
    data_words = DATA_WORDS | third_party_words(app)
    for url in pages(every_state):
        response = logged_in_admin.get(url)
        assert response.status_code == 200, url
        words = english_words(response.get_data(as_text=True), data_words)
        if words:
            found[url] = sorted(words)
    assert not found, f"English on Chinese pages: {found}"


def test_the_checker_finds_an_english_word(every_state, logged_in_admin):
    page = "<html><body><p>已发送</p><p>approved</p><script>var ok = 1</script></body></html>"
    assert english_words(page, set()) == {"approved"}


def test_times_read_in_the_user_zone_and_the_page_names_it_once(every_state, logged_in_admin):
    logged_in_admin.post("/settings/", data={"prefs-name": "管理员", "prefs-locale": "zh_CN",
                                             "prefs-timezone": "America/New_York"})
    with database.connection_context():
        heartbeat = dt.datetime(2026, 12, 1, 21, 27, 23)
        set_value("worker_heartbeat", heartbeat.isoformat())
    page = logged_in_admin.get("/").get_data(as_text=True)
    assert "2026年12月1日 16:27:23" in page  # 21:27 UTC is 16:27 in New York
    assert page.count("America/New_York") == 1 and "(UTC)" not in page
    logged_in_admin.post("/settings/", data={"prefs-name": "管理员", "prefs-locale": "en", "prefs-timezone": ""})
    page = logged_in_admin.get("/").get_data(as_text=True)
    assert "Dec 2, 2026, 05:27:23" in page and "Times are in Asia/Shanghai." in page  # the instance's zone


def test_a_time_zone_that_is_not_one_is_refused(every_state, logged_in_admin):
    response = logged_in_admin.post("/settings/", data={"prefs-name": "x", "prefs-timezone": "Mars/Olympus"})
    assert response.status_code == 400 and "Choose a time zone from the list." in response.get_data(as_text=True)
    with database.connection_context():
        from campaigner.accounts.models import User

        assert User.get_by_id(logged_in_admin.user.id).timezone is None


def test_log_and_lists_show_local_times(every_state, logged_in_admin):
    with database.connection_context():
        Delivery.update(updated_at=dt.datetime(2026, 12, 1, 21, 27, 23)).execute()
    page = logged_in_admin.get("/deliveries/").get_data(as_text=True)
    assert "Dec 2, 2026, 05:27:23" in page and "21:27:23" not in page
