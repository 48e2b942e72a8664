"""Small things a new user notices, in a real browser: charts that use the card's width with nothing cut off
and named axes."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner.db import database

pytestmark = pytest.mark.browser

TEXT_OUTSIDE_VIEWBOX = """svg => {
  const box = svg.getBoundingClientRect();  // on screen, so turned text (the y axis title) counts as drawn
  return [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBoundingClientRect();
    return b.left < box.left - 0.5 || b.top < box.top - 0.5 || b.right > box.right + 0.5
        || b.bottom > box.bottom + 0.5;
  }).map(t => t.textContent);
}"""


@pytest.fixture
def rfm_history(app):
    """Thirty days of RFM class sizes, so the RFM page draws its charts."""
    from campaigner.analytics.services import snapshot_rfm

    today = dt.date.today()
    with database.connection_context():
        for back in range(30):
            snapshot_rfm(today - dt.timedelta(days=back))


@pytest.mark.parametrize("path", ["/analytics/", "/analytics/rfm"])
def test_charts_fill_their_card_keep_every_label_and_name_their_axes(page, browser_login, rfm_history, path):
    browser_login("ops")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(path)
    charts = page.locator("svg.chart-lines")
    assert charts.count() >= 1
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.evaluate(TEXT_OUTSIDE_VIEWBOX) == []  # the last day's label is not cut off
        titles = chart.locator("text.axis-title")
        assert titles.count() == 2 and all(t.strip() for t in titles.all_text_contents())
        width = chart.evaluate("svg => svg.getBoundingClientRect().width")
        card = chart.evaluate("svg => { const c = svg.parentElement, s = getComputedStyle(c);"
                              " return c.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }")
        assert width >= card - 1, (width, card)
        assert width > 900  # not held to a narrow column on a wide screen
