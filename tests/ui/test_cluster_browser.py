"""A real browser (Debian's Chromium through Playwright) shows a cluster reviewer the cluster page with savings.

Skipped where Chromium or the playwright package is missing; never downloads a browser. The
figures are the hand-checked ones of tests.helpers.savings; a screenshot is saved beside the test's files.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.browser import chromium_page, needs_chromium, streamlit_server
from tests.helpers.login import seed_user
from tests.helpers.savings import ALPHA_TOTAL, BETA_Q3, GAMMA_Q4
from tests.helpers.savings_pages import savings_db

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture
def cluster_url(tmp_path):
    url = savings_db(tmp_path / "pdm.sqlite3", 3)
    token = seed_user(url, "rev", "cluster_reviewer")
    with streamlit_server(url, tmp_path / "var") as base:
        yield f"{base}/cluster?session={token}"  # the cluster page by its URL (a reviewer lands on the overview)


def _metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )


def test_cluster_reviewer_sees_the_savings_figures_in_a_real_browser(cluster_url, tmp_path):
    expect = sync_api.expect
    with chromium_page(sync_api, width=1280, height=2400) as page:
        page.goto(cluster_url)
        expect(page.get_by_role("heading", name="Cluster", exact=True)).to_be_visible()
        # All time: every closing of the three companies.
        expect(_metric(page, "companies")).to_contain_text("3")
        expect(_metric(page, "savings")).to_contain_text(f"{ALPHA_TOTAL + BETA_Q3 + GAMMA_Q4:,}")
        period = page.get_by_role("textbox", name="Period")
        period.fill("2026Q4")
        period.press("Enter")
        # 2026Q4: alpha's four closings and gamma's false alarm; beta's September repair is outside.
        expect(_metric(page, "savings")).to_contain_text(f"{ALPHA_TOTAL + GAMMA_Q4:,}")
        expect(_metric(page, "resolved alerts")).to_contain_text("3")
        expect(_metric(page, "false alarms")).to_contain_text("2")
        expect(_metric(page, "precision")).to_contain_text("60%")
        alpha_row = (
            page.get_by_role("row").filter(has_text="Alpha Foods").filter(has_text=re.compile(r"\d,\d{3}\.\d\d"))
        )
        expect(alpha_row.first).to_contain_text(f"{ALPHA_TOTAL:,}")
        expect(page.get_by_text("SECRET-BETA-ACTION")).to_have_count(0)  # aggregates only, no member's rows
        page.screenshot(path=str(tmp_path / "cluster.png"), full_page=True)
    assert (tmp_path / "cluster.png").stat().st_size > 10_000
