"""A real browser (Debian's Chromium through Playwright) acknowledges and resolves an alert.

Skipped where Chromium or the playwright package is missing; never downloads a browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert
from tests.conftest import free_port
from pdm.users import SECRET_ENV
from tests.ui.test_app import _db
from tests.ui.test_login import SECRET, seed_user

ROOT = Path(__file__).parents[2]
CHROMIUM = "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed")


@pytest.fixture
def streamlit_url(tmp_path):
    url = _db(tmp_path / "pdm.sqlite3")
    token = seed_user(url, "ana", "technician", "alpha")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app_streamlit.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "PDM_DATABASE_URL": url, SECRET_ENV: SECRET}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield f"{base}/?session={token}", url  # logged in as the technician ana (the login has its own test)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail("streamlit did not become healthy")


def _status(url: str) -> str:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        status = session.execute(select(Alert.status)).scalar_one()
    engine.dispose()
    return status


def test_acknowledge_and_resolve_in_a_real_browser(streamlit_url, tmp_path):
    base, db = streamlit_url
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(base)
            expect = sync_api.expect
            expect.set_options(timeout=60_000)  # a noisy 2-core machine: wait for state, never assert timing
            expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
            page.get_by_role("combobox", name="Alert details").click()
            page.get_by_role("option", name=re.compile(r"Pump A1")).click()
            page.get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_text(re.compile(r"Alert #\d+ acknowledged"))).to_be_visible()
            page.get_by_text("Resolve", exact=True).first.click()  # the expander
            page.get_by_role("textbox", name="Action taken").fill("replaced the bearing")
            page.get_by_role("button", name="Resolve").click()
            expect(page.get_by_text(re.compile(r"Alert #\d+ resolved"))).to_be_visible()
            # The chosen alert stays on screen with its new state (not a reset picker).
            expect(page.get_by_role("button", name="Reopen")).to_be_visible()
            expect(page.get_by_text("RESOLVED", exact=True).first).to_be_visible()
            page.set_viewport_size({"width": 1280, "height": 2400})  # Streamlit scrolls inside the page
            page.screenshot(path=str(tmp_path / "resolved.png"))
            # A phone opens the app with the sidebar folded: the alert and its actions still fit.
            phone = browser.new_page(viewport={"width": 390, "height": 1800})
            phone.goto(base)
            phone.get_by_role("combobox", name="Alert details").click()
            phone.get_by_role("option", name=re.compile(r"Pump A1")).click()
            expect(phone.get_by_role("button", name="Reopen")).to_be_in_viewport()
            expect(phone.get_by_text(re.compile(r"RESOLVED · severity"))).to_be_visible()
            expect(phone.locator(".vega-embed")).to_have_count(2)  # telemetry and score, one under the other
            phone.screenshot(path=str(tmp_path / "phone.png"))
        finally:
            browser.close()
    assert _status(db) == "RESOLVED"
    assert (tmp_path / "resolved.png").stat().st_size > 0 and (tmp_path / "phone.png").stat().st_size > 0
