"""Admin pages: users (add, disable, enable, reset password) and the security audit log."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit, throttle, users
from pdm.access.tenancy import COMPANY_ROLES, ROLES, Principal
from pdm.errors import PdmError
from pdm.ui.common import CompanyRef, iso_local

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
        f"User {s.get('new_user_name')!r} added",
        users.add_user,
        username=s.get("new_user_name", ""),
        password=s.get("new_user_password", ""),
        role=s.get("new_user_role"),
        company_id=company,
        actor=principal.username,
    )
    s["new_user_password"] = ""


def users_page(*, make_session: sessionmaker[Session], principal: Principal, companies: list[CompanyRef]) -> None:
    st.title("Users")
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
                    "user": u.username,
                    "role": u.role,
                    "company": names.get(u.company_id, ""),
                    "enabled": u.enabled,
                    "created": iso_local(u.created_at),
                    "failed logins": failed[u.username],
                }
                for u in rows
            ],
            columns=["user", "role", "company", "enabled", "created", "failed logins"],
        ),
        hide_index=True,
    )
    with st.form("add_user", clear_on_submit=True):
        st.text_input("User name", key="new_user_name")
        st.selectbox("Role", ROLES, key="new_user_role")
        st.selectbox("Company (technician, engineer)", list(names), format_func=names.get, key="new_user_company")
        st.text_input("Initial password", type="password", key="new_user_password")
        st.form_submit_button("Add user", on_click=_add, args=(make_session, principal))
    others = [u.username for u in rows if u.username != principal.username]
    if others:
        name = st.selectbox("User", others, key="admin_pick_user")
        enabled = next(u.enabled for u in rows if u.username == name)
        st.button(
            "Disable" if enabled else "Enable",
            key="toggle_user",
            on_click=_run,
            args=(make_session, f"User {name!r} {'disabled' if enabled else 'enabled'}", users.set_enabled),
            kwargs={"username": name, "enabled": not enabled, "actor": principal.username},
        )
        if failed.get(name):
            # Logins are slowed per source, never locked; this forgets the failures so no source waits.
            st.button(
                f"Forget {failed[name]} failed logins",
                key="unlock_user",
                on_click=_run,
                args=(make_session, f"Failed logins of {name!r} forgotten", users.unlock),
                kwargs={"username": name, "actor": principal.username},
            )
        with st.form("reset_password", clear_on_submit=True):
            st.text_input("New password", type="password", key="reset_password_value")
            st.form_submit_button("Set password", on_click=_reset, args=(make_session, principal, name))


def _reset(make_session, principal: Principal, username: str) -> None:
    password = st.session_state.get("reset_password_value", "")
    st.session_state["reset_password_value"] = ""
    _run(
        make_session,
        f"Password of {username!r} changed",
        users.set_password,
        username=username,
        password=password,
        actor=principal.username,
    )


def audit_page(*, make_session: sessionmaker[Session], principal: Principal) -> None:
    st.title("Audit log")
    action = st.selectbox("Action", [None, *audit.ACTIONS], format_func=lambda a: a or "all", key="audit_action")
    with make_session() as session:
        events = audit.list_events(session, principal=principal, action=action, limit=500)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": iso_local(e.at),
                    "who": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "company": e.company_id,
                    "details": str(e.details or ""),
                }
                for e in events
            ],
            columns=["when", "who", "action", "target", "company", "details"],
        ),
        hide_index=True,
    )
