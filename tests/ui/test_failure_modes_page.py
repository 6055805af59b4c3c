"""Failure modes page: cluster reviewers and admins extend the shared list; others cannot open it."""

from __future__ import annotations

import pytest
from streamlit.util import calc_hash

from pdm.alerts import feedback
from pdm.storage.session import make_engine, session_factory
from tests.helpers.app import app_db
from tests.helpers.login import logged_in


@pytest.fixture
def url(tmp_path) -> str:
    return app_db(tmp_path / "pdm.sqlite3")


def _page(monkeypatch, url, username, role, company=None):
    at = logged_in(monkeypatch, url, username, role, company)
    at._page_hash = calc_hash("failure-modes")
    at.run()
    assert not at.exception, at.exception
    return at


def _add(at, code, label, asset_class=""):
    at.text_input(key="fm_code").set_value(code)
    at.text_input(key="fm_label").set_value(label)
    at.selectbox(key="fm_class").set_value(asset_class)
    at.button(key="fm_add").click().run()
    assert not at.exception, at.exception
    return at


def _stored(url):
    engine = make_engine(url)
    with session_factory(engine)() as s:
        modes = {m.code: (m.label, m.asset_class) for m in feedback.list_failure_modes(s)}
    engine.dispose()
    return modes


def test_reviewer_adds_a_mode_then_a_duplicate_is_refused(monkeypatch, url):
    at = _page(monkeypatch, url, "rev", "cluster_reviewer")
    assert at.title[0].value == "Failure modes"
    (table,) = [d.value for d in at.dataframe]
    assert "bearing_wear" in set(table["code"])
    assert at.selectbox(key="fm_class").options == ["every class", "fan", "press", "pump"]
    _add(at, "belt_slip", "Belt slip", "fan")
    assert [s.value for s in at.success] == ["Failure mode 'belt_slip' added"]
    assert _stored(url)["belt_slip"] == ("Belt slip", "fan")
    (table,) = [d.value for d in at.dataframe]
    assert table.set_index("code").loc["belt_slip", "asset class"] == "fan"
    before = _stored(url)
    _add(at, "belt_slip", "Another label")
    assert [e.value for e in at.error] == ["code = 'belt_slip': failure mode already exists"]
    assert _stored(url) == before  # nothing stored changed
    assert at.text_input(key="fm_label").value == "Another label"  # the input stays for correction


@pytest.mark.parametrize(
    ("code", "label", "message"),
    [
        ("Belt Slip", "Belt slip", "code = 'Belt Slip': use lowercase letters, digits and _"),
        ("", "Belt slip", "code = '': required"),
        ("belt_slip", "   ", "label = '': required"),
        ("x" * 65, "long", "code = 'xxxxxxxxxxxxxxxxxxxx…': longer than 64 characters"),
    ],
)
def test_bad_input_is_refused_naming_field_and_value(monkeypatch, url, code, label, message):
    at = _page(monkeypatch, url, "root", "admin")
    before = _stored(url)
    _add(at, code, label)
    assert len(at.error) == 1 and at.error[0].value.startswith(message)
    assert _stored(url) == before


def test_technician_cannot_open_the_page(monkeypatch, url):
    at = _page(monkeypatch, url, "tech", "technician", "alpha")
    assert at.title[0].value == "Overview"  # asking for the page by URL falls back to the default page
    assert all(t.key != "fm_code" for t in at.text_input)
