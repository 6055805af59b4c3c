"""Streamlit entry point: ``streamlit run app_streamlit.py``.

Settings come from the environment (``PDM_DATABASE_URL``); the engine is built once per
database URL and shared by every session. Until login exists, a sidebar picker stands in for
the user's company on the technician and engineer pages; the cluster page spans all members.
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from pdm.config import load_settings
from pdm.errors import ConfigError
from pdm.storage.catalog import list_companies
from pdm.storage.session import is_initialised
from pdm.ui import asset, cluster, engineer, technician
from pdm.ui.common import CompanyRef, company_picker, engine_for, safe_url


def _fail(message: str) -> NoReturn:
    st.error(message)
    st.stop()


def _companies(url: str):
    """Session factory and companies, or a page that says what to run instead of a traceback."""
    try:
        engine, make_session = engine_for(url)
        if not is_initialised(engine):
            _fail(f"The database at `{safe_url(url)}` has no tables yet. Run `pdmctl db upgrade` "
                  "(or `make demo`, which creates and fills a demo database).")
        with make_session() as session:
            companies = [CompanyRef(c.id, c.slug, c.name or c.slug) for c in list_companies(session)]
    except (SQLAlchemyError, ImportError) as exc:  # ImportError: the URL's driver is not installed
        # The driver's own message (orig) is the useful line; the wrapped one adds the SQL.
        _fail(f"Cannot read the database at `{safe_url(url)}`: {getattr(exc, 'orig', None) or exc}")
    if not companies:
        st.info("No companies configured yet. Load the plant config with "
                "`pdmctl config apply config/plants.example.yaml`.")
        st.stop()
    return make_session, companies


def main() -> None:
    st.set_page_config(page_title="Predictive maintenance", layout="wide")
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(f"Invalid settings: {exc}")
    make_session, companies = _companies(settings.database_url)

    # Callables, not page files: each page gets its session factory and tenant explicitly.
    def alerts_page() -> None:
        technician.render(make_session=make_session, company=company_picker(companies))

    def assets_page() -> None:
        asset.render(make_session=make_session, company=company_picker(companies))

    def endpoints_page() -> None:
        engineer.render(make_session=make_session, company=company_picker(companies))

    def cluster_page() -> None:
        cluster.render(make_session=make_session)

    page = st.navigation({
        "Company": [st.Page(alerts_page, title="Alerts", url_path="alerts", icon=":material/notifications:",
                            default=True),
                    st.Page(assets_page, title="Assets", url_path="assets", icon=":material/precision_manufacturing:"),
                    st.Page(endpoints_page, title="Endpoints", url_path="endpoints", icon=":material/lan:")],
        "Cluster": [st.Page(cluster_page, title="Cluster", url_path="cluster", icon=":material/hub:")],
    })
    page.run()


main()
