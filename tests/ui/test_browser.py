"""A real browser (Debian's Chromium through Playwright) logs in as a technician, acknowledges and
resolves an alert.

Skipped where Chromium or the playwright package is missing; never downloads a browser.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert
from tests.helpers.app import app_db
from tests.helpers.browser import chromium_page, needs_chromium, streamlit_server
from tests.helpers.login import PASSWORD, seed_user

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture
def streamlit_url(tmp_path):
    url = app_db(tmp_path / "pdm.sqlite3")
    seed_user(url, "ana", "technician", "alpha")
    with streamlit_server(url, tmp_path / "var") as base:
        yield base, url


def _status(url: str) -> str:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        status = session.execute(select(Alert.status)).scalar_one()
    engine.dispose()
    return status


def _idle(page) -> None:
    """Wait until Streamlit has finished its rerun: a click landing in one can be dropped."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"] *')", timeout=60_000)


def _open_resolve_form(page) -> None:
    """Open the Resolve expander; on a loaded machine the click can land while the page is still
    re-rendering after the acknowledgement, and the expander stays closed: click again."""
    action = page.get_by_role("textbox", name="Action taken")
    for _ in range(4):
        page.get_by_text("Resolve", exact=True).first.click()
        try:
            sync_api.expect(action).to_be_visible(timeout=15_000)
            return
        except AssertionError:
            continue
    sync_api.expect(action).to_be_visible()


def _submit_once_taken(page, button: str, done: re.Pattern) -> None:
    """Submit a form and wait for its message. The expander's own rerun (it keeps its open state)
    can swallow a submit clicked while it runs; the form still shows its filled fields then, and a
    technician clicks again. A second click is only made while the alert has not moved on."""
    message = page.get_by_text(done)
    for _ in range(3):
        _idle(page)
        page.get_by_role("button", name=button).click()
        try:
            sync_api.expect(message).to_be_visible(timeout=20_000)
            return
        except AssertionError:
            if page.get_by_text(re.compile(r"RESOLVED · severity")).count():
                break  # taken, only its message was missed: clicking again would be refused
    sync_api.expect(message).to_be_visible()


def test_acknowledge_and_resolve_in_a_real_browser(streamlit_url, tmp_path):
    base, db = streamlit_url
    expect = sync_api.expect
    with chromium_page(sync_api) as page:
        page.goto(base)
        page.get_by_role("textbox", name="User name").fill("ana")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # The landing page: the overview's tiles; one click from the pump's tile to its alert.
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        base = page.url  # carries the session, for the phone-width pages below
        page.get_by_role("link", name=re.compile(r"Alert #\d+ of Pump A1")).click()
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile(r"Pump A1: alert #\d+"))).to_be_visible()
        # Picked again by hand, as a technician would: a pick only the link made was once seen to drop after
        # the Resolve form's rerun on a loaded machine (the alerts page's picker, pdm/ui/technician.py).
        page.get_by_role("combobox", name="Alert details").click()
        page.get_by_role("option", name=re.compile(r"Pump A1")).click()
        _idle(page)
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text(re.compile(r"Alert #\d+ acknowledged"))).to_be_visible()
        _idle(page)
        _open_resolve_form(page)
        page.get_by_role("textbox", name="Action taken").fill("replaced the bearing")
        _submit_once_taken(page, "Resolve", re.compile(r"Alert #\d+ resolved"))
        # The chosen alert stays on screen with its new state (not a reset picker).
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        expect(page.get_by_text(re.compile(r"RESOLVED · severity"))).to_be_visible()
        page.set_viewport_size({"width": 1280, "height": 2400})  # Streamlit scrolls inside the page
        page.screenshot(path=str(tmp_path / "resolved.png"))
        # A phone opens the app with the sidebar folded: the alert and its actions still fit.
        phone = page.context.browser.new_page(viewport={"width": 390, "height": 1800})
        # The overview on a phone: tiles one under the other, its state in words, nothing wider than the screen.
        phone.goto(base)
        expect(phone.get_by_role("heading", name="Overview")).to_be_visible()
        expect(phone.get_by_role("link", name=re.compile(r"Fan A2: asset page"))).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.goto(urlunsplit(urlsplit(base)._replace(path="/alerts")))
        phone.get_by_role("combobox", name="Alert details").click()
        phone.get_by_role("option", name=re.compile(r"Pump A1")).click()
        expect(phone.get_by_role("button", name="Reopen")).to_be_in_viewport()
        expect(phone.get_by_text(re.compile(r"RESOLVED · severity"))).to_be_visible()
        expect(phone.locator(".vega-embed")).to_have_count(2)  # telemetry and score, one under the other
        # Nothing wider than the phone: the charts take the column's width, the page never scrolls sideways.
        for chart in phone.locator(".vega-embed").all():
            box = chart.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        # From the alert to its asset page, and back to the same alert.
        phone.get_by_role("link", name=re.compile(r"Pump A1: asset page")).click()
        expect(phone.get_by_role("heading", name="Assets")).to_be_visible()
        expect(phone.get_by_text("Alert history")).to_be_visible()
        phone.get_by_role("link", name=re.compile(r"Back to alert #\d+")).click()
        expect(phone.get_by_role("button", name="Reopen")).to_be_visible()
    assert _status(db) == "RESOLVED"
    assert (tmp_path / "resolved.png").stat().st_size > 0 and (tmp_path / "phone.png").stat().st_size > 0
