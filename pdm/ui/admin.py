"""Admin pages: users (add, disable, enable, reset password) and the security audit log."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit, throttle, users
from pdm.access.tenancy import COMPANY_ROLES, ROLES, Principal
from pdm.errors import PdmError
from pdm.ui.common import CompanyRef, iso_local
from pdm.ui.i18n import _

FLASH = "pdm_admin_flash"


def _run(make_session: sessionmaker[Session], done: str, step, **kwargs) -> None:
    try:
        with make_session.begin() as session:
            step(session, **kwargs)
        st.session_state[FLASH] = ("success", done)
    except PdmError as exc:
        st.session_state[FLASH] = ("error", str(exc))


def _add(make_session, principal: Principal) -> None:
    s = st.session_state
    company = s.get("new_user_company") if s.get("new_user_role") in COMPANY_ROLES else None
    _run(
        make_session,
        _("User {name} added").format(name=repr(s.get("new_user_name"))),
        users.add_user,
        username=s.get("new_user_name", ""),
        password=s.get("new_user_password", ""),
        role=s.get("new_user_role"),
        company_id=company,
        actor=principal.username,
    )
    s["new_user_password"] = ""


def users_page(*, make_session: sessionmaker[Session], principal: Principal, companies: list[CompanyRef]) -> None:
    st.title(_("Users"))
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])
    names = {c.id: c.name for c in companies}
    with make_session() as session:
        rows = users.list_users(session)
        failed = {u.username: throttle.failures(session, username=u.username) for u in rows}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("user"): u.username,
                    _("role"): u.role,
                    _("company"): names.get(u.company_id, ""),
                    _("enabled"): u.enabled,
                    _("created"): iso_local(u.created_at),
                    _("failed logins"): failed[u.username],
                }
                for u in rows
            ],
            columns=[_("user"), _("role"), _("company"), _("enabled"), _("created"), _("failed logins")],
        ),
        hide_index=True,
    )
    with st.form("add_user", clear_on_submit=True):
        st.text_input(_("User name"), key="new_user_name")
        st.selectbox(_("Role"), ROLES, key="new_user_role")
        st.selectbox(_("Company (technician, engineer)"), list(names), format_func=names.get, key="new_user_company")
        st.text_input(_("Initial password"), type="password", key="new_user_password")
        st.form_submit_button(_("Add user"), on_click=_add, args=(make_session, principal))
    others = [u.username for u in rows if u.username != principal.username]
    if others:
        name = st.selectbox(_("User"), others, key="admin_pick_user")
        enabled = next(u.enabled for u in rows if u.username == name)
        toggled = _("User {name} disabled") if enabled else _("User {name} enabled")
        st.button(
            _("Disable") if enabled else _("Enable"),
            key="toggle_user",
            on_click=_run,
            args=(make_session, toggled.format(name=repr(name)), users.set_enabled),
            kwargs={"username": name, "enabled": not enabled, "actor": principal.username},
        )
        if failed.get(name):
            # Logins are slowed per source, never locked; this forgets the failures so no source waits.
            st.button(
                _("Forget {n} failed logins").format(n=failed[name]),
                key="unlock_user",
                on_click=_run,
                args=(make_session, _("Failed logins of {name} forgotten").format(name=repr(name)), users.unlock),
                kwargs={"username": name, "actor": principal.username},
            )
        with st.form("reset_password", clear_on_submit=True):
            st.text_input(_("New password"), type="password", key="reset_password_value")
            st.form_submit_button(_("Set password"), on_click=_reset, args=(make_session, principal, name))


def _reset(make_session, principal: Principal, username: str) -> None:
    password = st.session_state.get("reset_password_value", "")
    st.session_state["reset_password_value"] = ""
    _run(
        make_session,
        _("Password of {name} changed").format(name=repr(username)),
        users.set_password,
        username=username,
        password=password,
        actor=principal.username,
    )


def audit_page(*, make_session: sessionmaker[Session], principal: Principal) -> None:
    st.title(_("Audit log"))
    action = st.selectbox(_("Action"), [None, *audit.ACTIONS], format_func=lambda a: a or _("all"), key="audit_action")
    with make_session() as session:
        events = audit.list_events(session, principal=principal, action=action, limit=500)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("when"): iso_local(e.at),
                    _("who"): e.actor,
                    _("action"): e.action,
                    _("target"): e.target,
                    _("company"): e.company_id,
                    _("details"): str(e.details or ""),
                }
                for e in events
            ],
            columns=[_("when"), _("who"), _("action"), _("target"), _("company"), _("details")],
        ),
        hide_index=True,
    )
