"""Helpers shared by the pages: engine and sessions, tenant and role navigation, time formatting."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pdm.storage.session import make_engine, session_factory
from pdm.ui.i18n import _, share, use_zone, when

# The widget's own key is dropped by Streamlit whenever a page without the picker runs
# (the cluster page); this plain key keeps the choice across page switches.
COMPANY_STATE = "pdm_company"
PAGES_STATE = "pdm_pages"


@dataclass(frozen=True)
class CompanyRef:
    """The tenant a page works for: plain values, safe to hand to a fragment between runs."""

    id: int
    slug: str
    name: str
    # The company's default language (None: English) and its sites' time zone (None: UTC).
    locale: str | None = None
    timezone: str | None = None


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """One engine (and its connection pool) per database URL for the whole server process."""
    engine = make_engine(url)
    return engine, session_factory(engine)


def safe_url(url: str) -> str:
    """The URL for messages: a PostgreSQL password must never reach the page."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def company_picker(companies: list[CompanyRef]) -> CompanyRef:
    """Sidebar choice of the company, for the admin only (everyone else works for their own company)."""
    by_slug = {c.slug: c for c in companies}
    slugs = list(by_slug)
    current = st.session_state.get(COMPANY_STATE)
    slug = st.sidebar.selectbox(
        _("Company"),
        slugs,
        index=slugs.index(current) if current in by_slug else 0,
        format_func=lambda s: by_slug[s].name,
        key="company_picker",
    )
    st.session_state[COMPANY_STATE] = slug
    return by_slug[slug]


def iso_local(ts: float | None) -> str:
    """Epoch seconds in the page's site zone and the user's language: "14 nov. 2023, 23:53"."""
    return when(ts)


def ago(ts: float | None, now: float | None = None) -> str:
    """A short "how long since" for status columns: "12 s ago", "5 min ago", "3 h ago"."""
    if ts is None:
        return _("never")
    delta = (time.time() if now is None else now) - ts
    if delta < 0:
        # Clock skew between a plant server and us: say so rather than print a negative age.
        return _("in the future")
    if delta < 60:
        return _("{n} s ago").format(n=int(delta))
    if delta < 3600:
        return _("{n} min ago").format(n=int(delta // 60))
    if delta < 86_400:
        return _("{n} h ago").format(n=int(delta // 3600))
    return _("{n} d ago").format(n=int(delta // 86_400))


def percent(fraction: float | None) -> str:
    return share(fraction)


def role_navigation(principal, sections: dict[str, list]):
    """``st.navigation`` with only the pages the principal's role may open (hidden, not just greyed out).

    A page's role list lives in ``pdm.access.tenancy.ROLE_PAGES`` under its ``url_path``; a page no
    role names (a new page nobody assigned yet) is shown to the admin only, never to everyone.
    """
    from streamlit.util import calc_hash

    from pdm.access.tenancy import ADMIN, pages_for

    # A default page reports url_path "" but is registered under the hash of the path it was given.
    allowed = {calc_hash(url_path) for url_path in pages_for(principal)}
    kept = {
        name: [p for p in pages if p._script_hash in allowed or principal.role == ADMIN]
        for name, pages in sections.items()
    }
    # Without its default page (overview), st.navigation makes the first visible page the default.
    kept = {name: pages for name, pages in kept.items() if pages}
    # A link to a page defined by a callable needs its Page object: kept for this run's links.
    st.session_state[PAGES_STATE] = {p._script_hash: p for pages in kept.values() for p in pages}
    return st.navigation(kept)


def page_link(url_path: str, label: str, **params: str | int) -> None:
    """A link to another page of the app carrying ``params``; nothing when the user may not open it."""
    from streamlit.util import calc_hash

    page = st.session_state.get(PAGES_STATE, {}).get(calc_hash(url_path))
    if page is not None:
        st.page_link(page, label=label, query_params={k: str(v) for k, v in params.items()})


def take_param(name: str) -> str | None:
    """A query parameter a link carried here, removed once read so the user's own choices stick."""
    value = st.query_params.get(name)
    if value is not None:
        del st.query_params[name]
    return value


# An id is at most 18 ASCII digits: it fits the databases' 64-bit integers and int() never refuses it
# ("²".isdigit() is True, and int() of a 5,000-digit string raises).
ID_DIGITS = 18
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def shown(value: str, limit: int = 80) -> str:
    """A value from the URL for a one-line message: cut to ``limit`` characters, invisible and
    direction-changing characters escaped, nothing Streamlit's markdown would interpret."""
    cut = value if len(value) <= limit else value[:limit] + "…"
    return repr(cut).translate(_MARKDOWN)


def take_id_param(name: str) -> int | None:
    """An id a link carried here (``take_param``); a malformed one is ignored with a one-line warning."""
    value = take_param(name)
    if value is None or not value.strip():
        return None
    digits = value.strip()
    if digits.isascii() and digits.isdigit() and len(digits) <= ID_DIGITS:
        return int(digits)
    st.warning(
        _("Ignored the link's `{name}` parameter: {value} is not an id (up to {digits} digits 0 to 9).").format(
            name=name, value=shown(value), digits=ID_DIGITS
        )
    )
    return None


def tenant(principal, companies: list[CompanyRef]) -> CompanyRef:
    """The company a company page works for: the user's own; only the admin picks one."""
    found: CompanyRef | None
    if principal.company_id is None:
        found = company_picker(companies)
    else:
        found = next((c for c in companies if c.id == principal.company_id), None)
    if found is None:
        st.error(_("Your company no longer exists; ask an admin."))
        st.stop()
    # The page's times are this company's site clock.
    use_zone(found.timezone)
    return found
