"""Logging in to the Streamlit app under AppTest: users seeded with a known password, a valid session token."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.access import users
from pdm.storage.catalog import company_by_slug
from pdm.storage.session import make_engine, session_factory
from tests.helpers.app import APP

SECRET = "test-secret-key-for-session-tokens"
PASSWORD = "correct horse battery"


def seed_user(url: str, username: str, role: str, company: str | None = None) -> str:
    """Adds the user (if new) and returns a fresh session token for it."""
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        if not users.list_users(session) or username not in {u.username for u in users.list_users(session)}:
            cid = company_by_slug(session, company).id if company else None
            users.add_user(session, username=username, password=PASSWORD, role=role, company_id=cid)
        token = users.issue_token(session, username=username, key=SECRET.encode())
    engine.dispose()
    return token


def logged_in(
    monkeypatch,
    url: str,
    username: str = "ana",
    role: str = "technician",
    company: str | None = "alpha",
    timeout: float = 30,
    page: str | None = None,
) -> AppTest:
    """An AppTest whose browser URL carries a valid session token, as after a login and a reload; on ``page``
    (a url path) when given, else on the landing page (the overview)."""
    monkeypatch.setenv("PDM_DATABASE_URL", url)
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params["session"] = seed_user(url, username, role, company)
    if page is not None:
        # Pages are callables, registered by st.navigation under calc_hash(url_path) (tests/helpers/app.open_page).
        at._page_hash = calc_hash(page)
    at.run()
    assert not at.exception, at.exception
    return at
