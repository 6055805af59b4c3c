"""A real browser logs in with the form, survives a reload, and logs out (Debian's Chromium via Playwright).

Skipped where Chromium or the playwright package is missing; never downloads a browser.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.app import app_db
from tests.helpers.browser import chromium_page, needs_chromium, streamlit_server
from tests.helpers.login import PASSWORD, seed_user

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture
def base(tmp_path):
    url = app_db(tmp_path / "pdm.sqlite3")
    seed_user(url, "ana", "technician", "alpha")
    with streamlit_server(url, tmp_path / "var") as base:
        yield base


def test_login_reload_and_logout_in_a_real_browser(base):
    expect = sync_api.expect
    with chromium_page(sync_api) as page:
        page.goto(base)
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_role("textbox", name="User name").fill("ana")
        page.get_by_role("textbox", name="Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("wrong user name or password")).to_be_visible()
        page.get_by_role("textbox", name="User name").fill("ana")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()  # the landing page
        expect(page).to_have_url(re.compile(r"[?&]session="))
        page.reload()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        expect(page.get_by_role("link", name=re.compile(r"Pump A1: asset page"))).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.reload()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
