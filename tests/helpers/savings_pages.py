"""The savings, cluster and cost pages under AppTest on the hand-checked plant (tests.helpers.savings)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.storage.session import make_engine, session_factory, upgrade
from tests.helpers.app import page_text
from tests.helpers.savings import fill


def savings_db(path, n_companies: int) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        fill(s, n_companies)
    engine.dispose()
    return url


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def open_titled(at: AppTest, url_path: str, title: str, company: str | None = None) -> AppTest:
    at._page_hash = calc_hash(url_path)
    ok(at.run())
    if company:  # the admin picks the tenant in the sidebar
        ok(at.sidebar.selectbox(key="company_picker").set_value(company).run())
    assert at.title[0].value == title
    return at


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def all_text(at: AppTest) -> str:
    return page_text(at) + "\n".join(t.value.to_string() for t in at.table)
