"""A real browser logs in with the form, survives a reload, and logs out (Debian's Chromium via Playwright).

Skipped where Chromium or the playwright package is missing; never downloads a browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pdm.users import SECRET_ENV
from tests.conftest import free_port
from tests.ui.test_app import _db
from tests.ui.test_browser import CHROMIUM, ROOT, _wait_healthy
from tests.ui.test_login import PASSWORD, SECRET, seed_user

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed")


@pytest.fixture
def base(tmp_path):
    url = _db(tmp_path / "pdm.sqlite3")
    seed_user(url, "ana", "technician", "alpha")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app_streamlit.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "PDM_DATABASE_URL": url, SECRET_ENV: SECRET, "PDM_VAR_DIR": str(tmp_path / "var")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_login_reload_and_logout_in_a_real_browser(base):
    expect = sync_api.expect
    expect.set_options(timeout=60_000)  # a noisy 2-core machine: wait for state, never assert timing
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(base)
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.get_by_role("textbox", name="User name").fill("ana")
            page.get_by_role("textbox", name="Password").fill("wrong password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_text("wrong user name or password")).to_be_visible()
            page.get_by_role("textbox", name="User name").fill("ana")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
            expect(page).to_have_url(re.compile(r"[?&]session="))
            page.reload()
            expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
            expect(page.get_by_role("combobox", name="Alert details")).to_be_visible()
            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.reload()
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        finally:
            browser.close()
