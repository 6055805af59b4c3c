"""Login gate and role navigation through AppTest: who sees which pages, and a session that survives a reload."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.access import users
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import AuditEvent
from tests.helpers.app import APP, app_db, page_text
from tests.helpers.login import PASSWORD, SECRET, logged_in, seed_user


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = app_db(tmp_path_factory.mktemp("login") / "pdm.sqlite3")
    for name, role, company in (
        ("tech", "technician", "alpha"),
        ("eng", "engineer", "alpha"),
        ("rev", "cluster_reviewer", None),
        ("root", "admin", None),
    ):
        seed_user(url, name, role, company)
    return url


def _reachable(at: AppTest, url_path: str, title: str) -> bool:
    """True when asking for the page by URL really opens it (not the default page in its place)."""
    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    return bool(at.title) and at.title[0].value == title


ALL = {
    "overview": "Overview",
    "alerts": "Alerts",
    "assets": "Assets",
    "endpoints": "Endpoints",
    "savings": "Savings",
    "costs": "Costs",
    "cluster": "Cluster",
    "failure-modes": "Failure modes",
    "users": "Users",
    "audit": "Audit log",
}
VISIBLE = {
    "tech": {"overview", "alerts", "assets"},
    "eng": {"overview", "alerts", "assets", "endpoints", "savings", "costs"},
    "rev": {"overview", "cluster", "failure-modes"},
    "root": set(ALL),
}


def test_logged_out_visitor_sees_only_login(monkeypatch, db):
    monkeypatch.setenv("PDM_DATABASE_URL", db)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert [t.value for t in at.title] == ["Log in"]
    for url_path in ALL:
        assert not _reachable(at, url_path, ALL[url_path])
    assert "Pump A1" not in page_text(at)


@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_each_role_sees_only_its_pages(monkeypatch, db, username):
    at = logged_in(monkeypatch, db, username)
    got = {p for p, title in ALL.items() if _reachable(at, p, title)}
    assert got == VISIBLE[username]


def test_login_form_then_reload_keeps_session(monkeypatch, db):
    monkeypatch.setenv("PDM_DATABASE_URL", db)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="login_user").set_value("tech")
    at.text_input(key="login_password").set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview" and "Pump A1" in page_text(at)  # the landing page
    assert [s.key for s in at.sidebar.selectbox] == ["pdm_lang_pick"]  # no company picker for a technician
    token = at.query_params["session"]
    token = token[0] if isinstance(token, list) else token
    # A reload is a new session with the same URL.
    again = AppTest.from_file(APP, default_timeout=30)
    again.query_params["session"] = token
    again.run()
    assert again.title[0].value == "Overview"
    # Log out: the same URL no longer opens anything but the login.
    again.sidebar.button(key="logout").click().run()
    third = AppTest.from_file(APP, default_timeout=30)
    third.query_params["session"] = token
    assert third.run().title[0].value == "Log in"


def test_wrong_password_is_refused_and_audited(monkeypatch, db):
    monkeypatch.setenv("PDM_DATABASE_URL", db)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="login_user").set_value("eng")
    at.text_input(key="login_password").set_value("not the password")
    at.button[0].click().run()
    assert at.title[0].value == "Log in"
    assert "wrong user name or password" in page_text(at)
    engine = make_engine(db)
    with session_factory(engine)() as session:
        actions = [e.action for e in session.query(AuditEvent).filter_by(actor="eng")]
    engine.dispose()
    assert "login_failed" in actions


def test_forged_token_is_ignored(monkeypatch, db):
    monkeypatch.setenv("PDM_DATABASE_URL", db)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    token = seed_user(db, "root", "admin")
    payload, _sig = token.split(".")
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["session"] = f"{payload}.AAAA"
    assert at.run().title[0].value == "Log in"


def test_admin_adds_a_user_and_reads_the_audit_log(monkeypatch, tmp_path):
    url = app_db(tmp_path / "pdm.sqlite3")
    at = logged_in(monkeypatch, url, "root", "admin", None)
    assert _reachable(at, "users", "Users")
    at.text_input(key="new_user_name").set_value("newtech")
    at.selectbox(key="new_user_role").set_value("technician")
    at.text_input(key="new_user_password").set_value("short")
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    assert [e.value for e in at.error] == ["password: at least 8 characters"]
    at.text_input(key="new_user_name").set_value("newtech")
    at.selectbox(key="new_user_role").set_value("technician")
    at.text_input(key="new_user_password").set_value(PASSWORD)
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    assert [s.value for s in at.success] == ["User 'newtech' added"]
    at.selectbox(key="admin_pick_user").set_value("newtech").run()
    at.button(key="toggle_user").click().run()
    assert [s.value for s in at.success] == ["User 'newtech' disabled"]
    assert _reachable(at, "audit", "Audit log")
    log = at.dataframe[0].value
    assert {"user_added", "user_disabled"} <= set(log["action"])
    assert PASSWORD not in log.to_string()


def test_wrong_passwords_slow_the_browser_and_the_admin_forgets_them(monkeypatch, tmp_path):
    from pdm.access import throttle

    url = app_db(tmp_path / "pdm.sqlite3")
    seed_user(url, "tech", "technician", "alpha")
    monkeypatch.setenv("PDM_DATABASE_URL", url)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    at = AppTest.from_file(APP, default_timeout=30).run()
    for _ in range(throttle.FREE_FAILURES):
        at.text_input(key="login_user").set_value("tech")
        at.text_input(key="login_password").set_value("not the password")
        at.button[0].click().run()
    # More failures from the same browser, stamped now: a wait of a minute, longer than this test's steps.
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        for _ in range(5):
            throttle.failed(session, username="tech", source="web:local", now=time.time(), company_id=None)
    engine.dispose()
    at.text_input(key="login_user").set_value("tech")
    at.text_input(key="login_password").set_value(PASSWORD)
    at.button[0].click().run()
    assert at.title[0].value == "Log in" and "too many failed logins: try again in" in page_text(at)
    admin = logged_in(monkeypatch, url, "root", "admin", None)
    assert _reachable(admin, "users", "Users")
    table = admin.dataframe[0].value.set_index("user")
    assert table.loc["tech", "failed logins"] == throttle.FREE_FAILURES + 5
    admin.selectbox(key="admin_pick_user").set_value("tech").run()
    admin.button(key="unlock_user").click().run()
    assert [s.value for s in admin.success] == ["Failed logins of 'tech' forgotten"]
    at.text_input(key="login_user").set_value("tech")
    at.text_input(key="login_password").set_value(PASSWORD)
    at.button[0].click().run()
    assert at.title[0].value != "Log in"
    engine = make_engine(url)
    with session_factory(engine)() as session:
        events = {(e.action, e.actor) for e in session.query(AuditEvent)}
        sources = {e.details.get("source") for e in session.query(AuditEvent).filter_by(action="login_failed")}
    engine.dispose()
    assert {("login_throttled", "tech"), ("login_locked", "tech"), ("login_unlocked", "root")} <= events
    assert sources == {"web:local"}  # AppTest has no client address: the host's own browser
