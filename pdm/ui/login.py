"""Offline login: a user-name/password form against the ``users`` table, no identity provider.

The session survives a reload through a signed token in the URL's query parameters
(``?session=…``). Why the URL and not a cookie: Streamlit can read cookies
(``st.context.cookies``) but has no API to *set* one, which would need a custom JavaScript
component; query parameters are native, work offline and in AppTest. The token is
HMAC-signed, expires (12 h), and dies with logout, a password change or a disabled user
(``token_epoch``). Do not share a URL that carries ``session=``.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit, users
from pdm.access.tenancy import Principal
from pdm.ui.i18n import N_, _

TOKEN_PARAM = "session"
ROLE_WORDS = {
    "technician": N_("technician"),
    "engineer": N_("engineer"),
    "cluster_reviewer": N_("cluster reviewer"),
    "admin": N_("admin"),
}
TOKEN_STATE = "pdm_session_token"


def current_principal(make_session: sessionmaker[Session], var_dir: Path) -> Principal | None:
    """Who is logged in for this run, checked against the database on every run (so revocation is immediate)."""
    token = st.session_state.get(TOKEN_STATE) or st.query_params.get(TOKEN_PARAM)
    if not token:
        return None
    with make_session() as session:
        principal = users.principal_from_token(session, token=token, key=users.secret_key(var_dir))
    if principal is None:
        _forget()
        return None
    st.session_state[TOKEN_STATE] = token
    # Page switches drop query parameters: put the token back so a reload keeps the session.
    if st.query_params.get(TOKEN_PARAM) != token:
        st.query_params[TOKEN_PARAM] = token
    return principal


def _forget() -> None:
    st.session_state.pop(TOKEN_STATE, None)
    if TOKEN_PARAM in st.query_params:
        del st.query_params[TOKEN_PARAM]


def client_source() -> str:
    """The throttle's source: the browser's address as Streamlit sees it (None when on this host)."""
    try:
        address = st.context.ip_address
    except Exception:  # no client context (a bare script run)
        address = None
    # AppTest answers with a mock object, not an address: anything but a string is "local".
    return f"web:{address if isinstance(address, str) and address else 'local'}"


def _refusal(exc: users.LoginRefused) -> str:
    """The refusal in the user's language, saying no more than pdm.access does (never which part was wrong)."""
    if isinstance(exc, users.LoginLocked):
        wait_s = max(1, round(exc.until - time.time()))
        wait = _("{n} s").format(n=wait_s) if wait_s < 120 else _("{n} min").format(n=round(wait_s / 60))
        return _("too many failed logins: try again in {wait}").format(wait=wait)
    return _("wrong user name or password")


def _submit(make_session: sessionmaker[Session], var_dir: Path) -> None:
    name, password = st.session_state.get("login_user", ""), st.session_state.get("login_password", "")
    st.session_state["login_password"] = ""  # never keep the password in session state
    with make_session() as session:
        try:
            principal = users.authenticate(session, username=name, password=password, source=client_source())
            token = users.issue_token(session, username=principal.username, key=users.secret_key(var_dir))
        except users.LoginRefused as exc:
            st.session_state["login_error"] = _refusal(exc)
            return
        finally:
            session.commit()  # the failed attempt and its audit row count even when refused
    st.session_state[TOKEN_STATE] = token
    st.query_params[TOKEN_PARAM] = token


def render(*, make_session: sessionmaker[Session], var_dir: Path) -> None:
    st.title(_("Log in"))
    error = st.session_state.pop("login_error", None)
    if error:
        st.error(error)
    with st.form("login_form"):
        st.text_input(_("User name"), key="login_user", autocomplete="username")
        st.text_input(_("Password"), type="password", key="login_password", autocomplete="current-password")
        st.form_submit_button(_("Log in"), on_click=_submit, args=(make_session, var_dir))


def _logout(make_session: sessionmaker[Session], principal: Principal) -> None:
    with make_session.begin() as session:
        # Bumping the epoch voids every copy of the token (bookmarks, other tabs).
        users.get_user(session, username=principal.username).token_epoch += 1
        audit.record(
            session,
            actor=principal.username,
            action="logout",
            company_id=principal.company_id,
            target=principal.username,
        )
    _forget()


def sidebar(*, make_session: sessionmaker[Session], principal: Principal, company_name: str | None) -> None:
    st.sidebar.markdown(
        f"**{principal.username}** · {_(ROLE_WORDS.get(principal.role, principal.role))}"
        + (f" · {company_name}" if company_name else "")
    )
    st.sidebar.button(_("Log out"), key="logout", on_click=_logout, args=(make_session, principal))
