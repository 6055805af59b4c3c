"""Streamlit entry point: ``streamlit run app_streamlit.py``.

Settings come from the environment (``PDM_DATABASE_URL``); the engine is built once per
database URL and shared by every session. A logged-out visitor sees only the login page; a
logged-in user sees only the pages of their role (``pdm.access.tenancy.ROLE_PAGES``), and the company
pages work for the user's own company (only the admin picks one in the sidebar).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import streamlit as st
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pdm.config import load_settings
from pdm.errors import ConfigError
from pdm.storage.catalog import list_companies
from pdm.storage.session import is_initialised
from pdm.storage.tables import Site
from pdm.ui import (
    admin,
    asset,
    cluster,
    costs,
    engineer,
    failure_modes,
    i18n,
    login,
    overview,
    savings,
    share_notes,
    technician,
)
from pdm.ui.common import CompanyRef, engine_for, role_navigation, safe_url, tenant
from pdm.ui.i18n import _


def _fail(message: str) -> NoReturn:
    st.error(message)
    st.stop()


def _companies(url: str):
    """Session factory and companies, or a page that says what to run instead of a traceback."""
    try:
        engine, make_session = engine_for(url)
        if not is_initialised(engine):
            _fail(
                _(
                    "The database at `{url}` has no tables yet. Run `pdmctl --local-admin db upgrade` "
                    "(or `make demo`, which creates and fills a demo database)."
                ).format(url=safe_url(url))
            )
        with make_session() as session:
            companies = _company_refs(session)
    except (SQLAlchemyError, ImportError) as exc:  # ImportError: the URL's driver is not installed
        # The driver's own message (orig) is the useful line; the wrapped one adds the SQL.
        reason = getattr(exc, "orig", None) or exc
        _fail(_("Cannot read the database at `{url}`: {reason}").format(url=safe_url(url), reason=reason))
    if not companies:
        st.info(
            _(
                "No companies configured yet. Load the plant config with "
                "`pdmctl --local-admin config apply config/plants.example.yaml`."
            )
        )
        st.stop()
    return make_session, companies


def _company_refs(session) -> list[CompanyRef]:
    """Each company with its locale and the zone of its first site that names one (UTC without)."""
    zones: dict[int, str] = {}
    for company_id, zone in session.execute(select(Site.company_id, Site.timezone).order_by(Site.id)):
        if zone:
            zones.setdefault(company_id, zone)
    return [
        CompanyRef(c.id, c.slug, c.name or c.slug, locale=c.locale, timezone=zones.get(c.id))
        for c in list_companies(session)
    ]


def main() -> None:
    st.set_page_config(page_title=_("Predictive maintenance"), layout="wide")
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(_("Invalid settings: {error}").format(error=exc))
    make_session, companies = _companies(settings.database_url)
    var_dir = Path(settings.var_dir)
    principal = login.current_principal(make_session, var_dir)
    if principal is None:
        i18n.picker(make_session, username=None)
        st.navigation(
            [
                st.Page(
                    lambda: login.render(make_session=make_session, var_dir=var_dir),
                    title=_("Log in"),
                    url_path="login",
                    icon=":material/login:",
                )
            ]
        ).run()
        return
    own_ref = next((c for c in companies if c.id == principal.company_id), None)
    own = own_ref.name if own_ref else None
    # The user's own choice, else the company's locale; English for the cluster roles without one.
    i18n.resolve(make_session, username=principal.username, company_locale=own_ref.locale if own_ref else None)
    i18n.picker(make_session, username=principal.username)
    login.sidebar(make_session=make_session, principal=principal, company_name=own)

    # Callables, not page files: each page gets its session factory and tenant explicitly.
    def overview_page() -> None:
        overview.render(make_session=make_session, principal=principal, companies=companies)

    def alerts_page() -> None:
        technician.render(make_session=make_session, company=tenant(principal, companies), user=principal.username)

    def assets_page() -> None:
        asset.render(make_session=make_session, company=tenant(principal, companies))

    def endpoints_page() -> None:
        engineer.render(make_session=make_session, company=tenant(principal, companies), user=principal.username)

    def cluster_page() -> None:
        cluster.render(make_session=make_session)

    def failure_modes_page() -> None:
        # The members' figures for a company's classes: the admin picks the company; a reviewer has none.
        company = tenant(principal, companies) if principal.role == "admin" else None
        failure_modes.render(make_session=make_session, company=company)

    def savings_page() -> None:
        savings.render(make_session=make_session, company=tenant(principal, companies))

    def costs_page() -> None:
        company = tenant(principal, companies)
        costs.render(make_session=make_session, company=company)
        share_notes.render(make_session=make_session, company=company, principal=principal)

    def users_page() -> None:
        admin.users_page(make_session=make_session, principal=principal, companies=companies)

    def audit_page() -> None:
        admin.audit_page(make_session=make_session, principal=principal)

    page = role_navigation(
        principal,
        {
            # First, and the default: where every role lands after logging in (the reviewer gets counts only).
            _("Home"): [
                st.Page(
                    overview_page, title=_("Overview"), url_path="overview", icon=":material/dashboard:", default=True
                ),
            ],
            _("Company"): [
                st.Page(alerts_page, title=_("Alerts"), url_path="alerts", icon=":material/notifications:"),
                st.Page(assets_page, title=_("Assets"), url_path="assets", icon=":material/precision_manufacturing:"),
                st.Page(endpoints_page, title=_("Endpoints"), url_path="endpoints", icon=":material/lan:"),
                st.Page(savings_page, title=_("Savings"), url_path="savings", icon=":material/savings:"),
                st.Page(costs_page, title=_("Costs"), url_path="costs", icon=":material/euro:"),
            ],
            _("Cluster"): [
                st.Page(cluster_page, title=_("Cluster"), url_path="cluster", icon=":material/hub:"),
                st.Page(
                    failure_modes_page, title=_("Failure modes"), url_path="failure-modes", icon=":material/build:"
                ),
            ],
            _("Admin"): [
                st.Page(users_page, title=_("Users"), url_path="users", icon=":material/group:"),
                st.Page(audit_page, title=_("Audit log"), url_path="audit", icon=":material/policy:"),
            ],
        },
    )
    page.run()


main()
