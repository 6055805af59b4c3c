"""Endpoint passwords on the engineer page, write-only.

A typed password is encrypted at once (``pdm.access.crypto``) and only its token is kept; the page
says whether a password is set, never shows it (nor its token), and empties the field after
each submit. Replacing a password connects and test-reads with it before saving, as adding
an endpoint does, and the change goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit, crypto
from pdm.config import MqttEndpointConfig, endpoint_config
from pdm.errors import ConfigError
from pdm.storage.catalog import endpoint_settings, list_endpoints
from pdm.storage.tables import Endpoint
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _

ADD_KEY = "ep_password"


def take_typed(key: str) -> str:
    """The typed password, and the field emptied so it is never sent back to the browser."""
    typed = st.session_state.get(key) or ""
    st.session_state[key] = ""
    return typed


def encrypt_typed(values: dict, var_dir: Path) -> dict[str, str]:
    """Add form: a typed password becomes ``password_encrypted`` before validation sees it.

    Returns errors by field (a key that cannot be used), empty when all is well.
    """
    typed = take_typed(ADD_KEY)
    if typed:
        try:
            values["password_encrypted"] = crypto.encrypt(typed, var_dir=var_dir)
        except crypto.SecretError as exc:
            return {"password_encrypted": str(exc)}
    return {}


def password_state(settings: dict) -> str:
    if settings.get("password_encrypted"):
        return _("password is set (stored encrypted)")
    if settings.get("password_env"):
        return _("password read from ${name} in the worker's environment").format(name=settings["password_env"])
    return _("no password")


def render(*, make_session: sessionmaker[Session], company: CompanyRef, var_dir: Path, user_key: str) -> None:
    with make_session() as session:
        endpoints = [
            (e.id, e.name, dict(e.settings or {}))
            for e in list_endpoints(session, company_id=company.id)
            # OPC UA's user-name identity, or a broker that logs in with a user name (MQTT, Sparkplug B)
            if (e.settings or {}).get("auth_method") == "username"
            or (e.kind == "mqtt" and (e.settings or {}).get("username"))
        ]
    if not endpoints:
        return
    st.subheader(_("Endpoint passwords"))
    state = st.session_state
    for ep_id, name, settings in endpoints:
        is_set = bool(settings.get("password_encrypted"))
        with st.form(f"pw_form_{ep_id}"):
            st.markdown(f"**{name}** — {password_state(settings)}")
            st.text_input(_("New password") if is_set else _("Password"), type="password", key=f"pw_{ep_id}")
            if error := state.get(f"pw_error_{ep_id}"):
                st.error(error)
            if saved := state.pop(f"pw_saved_{ep_id}", None):
                st.success(saved)
            st.form_submit_button(
                _("Replace password") if is_set else _("Set password"),
                on_click=_replace,
                args=(make_session, company.id, ep_id, var_dir, user_key),
            )


def _replace(make_session, company_id: int, endpoint_id: int, var_dir: Path, user_key: str) -> None:
    from pdm.connectors.browse import check_endpoint

    state = st.session_state
    typed = take_typed(f"pw_{endpoint_id}")
    state[f"pw_error_{endpoint_id}"] = None
    if not typed:
        state[f"pw_error_{endpoint_id}"] = _("type the new password")
        return
    with make_session() as session:
        ep = session.execute(
            select(Endpoint).where(Endpoint.id == endpoint_id, Endpoint.company_id == company_id)
        ).scalar_one_or_none()
        if ep is None:
            state[f"pw_error_{endpoint_id}"] = _("endpoint {id} not found").format(id=endpoint_id)
            return
        data = {**ep.settings, "kind": ep.kind, "password_env": None, "nodes": []}
    try:
        data["password_encrypted"] = crypto.encrypt(typed, var_dir=var_dir)
        config = endpoint_config(data, f"endpoint {data.get('name')}")
    except (ConfigError, crypto.SecretError) as exc:
        state[f"pw_error_{endpoint_id}"] = str(exc)
        return
    errors = check_endpoint(login_check(config), var_dir / "pki")
    if "ok" not in errors:
        reason = next(iter(errors.values()))
        state[f"pw_error_{endpoint_id}"] = (
            _("not saved: {reason} (user {user})").format(reason=reason, user=repr(config.username))
            if isinstance(config, MqttEndpointConfig)
            else _("not saved: {reason}").format(reason=reason)
        )
        return
    with make_session.begin() as session:
        session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id, Endpoint.company_id == company_id)
            .values(settings=endpoint_settings(config))
        )
        audit.record(
            session,
            actor=state.get(user_key, ""),
            action="endpoint_password_set",
            company_id=company_id,
            target=config.name,
        )
    state[f"pw_saved_{endpoint_id}"] = _("Password replaced: connected and test-read with it.")


def login_check(config):
    """What logs in to test a replaced password. A broker gets a client id of its own, kept by no session:
    the endpoint's id would take over the worker's session (and the messages queued for it)."""
    if not isinstance(config, MqttEndpointConfig):
        return config
    return config.model_copy(update={"client_id": config.session_client_id[:58] + "-check", "session_expiry_s": 0})


def credential_inputs(prefix: str, field_error: Callable[[str], None]) -> None:
    """The add forms' user name, password and password variable, each with its refusal below it."""
    st.text_input(_("User name"), key=f"{prefix}_username")
    field_error("username")
    st.text_input(
        _("Password"),
        type="password",
        key=ADD_KEY,
        help=_("Stored encrypted, never shown again. Or leave empty and name a variable below."),
    )
    field_error("password_encrypted")
    st.text_input(
        _("Password environment variable"),
        key=f"{prefix}_password_env",
        help=_("The name of a variable set for the worker, never the password itself."),
    )
    field_error("password_env")
