"""Engineer page ("Endpoints"): health, onboarding (add, browse, map) and enable/disable.

Onboarding works like a config flow: the form goes through the same ``EndpointConfig`` as the
plant file, then the page connects and reads once, and only then saves. Every error is shown
under the field it is about. A password is either typed (write-only, encrypted at once: see
``pdm.ui.endpoint_password``) or named by the environment variable that holds it (``password_env``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit
from pdm.config import EndpointConfig, load_settings, validate_model
from pdm.config import MqttEndpointConfig as MqttConfig
from pdm.errors import ConfigError
from pdm.ingest.health import endpoint_health
from pdm.storage.catalog import list_assets, list_endpoints, list_tags, store_endpoint
from pdm.storage.tables import Endpoint, Site, Tag
from pdm.ui import endpoint_mqtt, endpoint_mqtt_tags, endpoint_password, node_mapping
from pdm.ui.common import CompanyRef, ago, iso_local
from pdm.ui.i18n import N_, _
from pdm.ui.node_mapping import map_node

__all__ = ["map_node", "render"]  # map_node is kept here for callers of this page's API

FORM_FIELDS = {  # widget key -> EndpointConfig field
    "ep_name": "name",
    "ep_url": "endpoint_url",
    "ep_policy": "security_policy",
    "ep_mode": "security_mode",
    "ep_auth": "auth_method",
    "ep_username": "username",
    "ep_password_env": "password_env",
    "ep_trust": "trust_server_certificate",
    "ep_poll": "poll_interval_s",
}
POLICIES = ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]
MODES = ["None", "Sign", "SignAndEncrypt"]
AUTHS = ["anonymous", "username", "certificate"]


USER = "pdm_user"


def render(*, make_session: sessionmaker[Session], company: CompanyRef, user: str = "") -> None:
    st.title(_("Endpoints"))
    st.session_state[USER] = user  # the logged-in user, named in the audit log for every change
    st.caption(company.name)
    var_dir = Path(load_settings().var_dir)
    _endpoints(make_session, company)
    _enable(make_session, company)
    _add_form(make_session, company, var_dir)
    endpoint_password.render(make_session=make_session, company=company, var_dir=var_dir, user_key=USER)
    node_mapping.render(make_session=make_session, company=company, var_dir=var_dir, user_key=USER)
    endpoint_mqtt_tags.render(make_session=make_session, company=company, user_key=USER)


# The frames' headings, marked for the catalogue (shown through ``rename(columns=_)``).
HEADINGS = [N_("name"), N_("enabled"), N_("state"), N_("last reading"), N_("age"), N_("readings/s"), N_("errors 1h")]
HEADINGS += [N_("spool rows"), N_("history"), N_("backfilled"), N_("worker"), N_("readings total"), N_("last error")]
HEADINGS += [N_("node id"), N_("tag"), N_("unit"), N_("asset"), N_("kind")]


def endpoints_frame(
    endpoints: list[Endpoint], now: float, health: dict[int, dict] | None = None, tags: list[Tag] | None = None
) -> pd.DataFrame:
    health = health or {}
    node_ids: dict[int | None, list[str]] = defaultdict(list)  # a broker's tags say whether it is Sparkplug B
    for tag in tags or []:
        node_ids[tag.endpoint_id].append(tag.node_id)
    return pd.DataFrame(
        [
            {
                "name": ep.name,
                "kind": endpoint_mqtt.listed_kind(ep.kind, node_ids[ep.id]),
                "URL": ep.endpoint_url,
                "enabled": ep.enabled,
                "state": ep.state,
                "last reading": iso_local(ep.last_read_at),
                "age": ago(ep.last_read_at, now),
                "readings/s": health.get(ep.id, {}).get("readings_per_s", 0.0),
                "errors 1h": health.get(ep.id, {}).get("errors_last_hour", 0),
                "spool rows": health.get(ep.id, {}).get("spool_rows", 0),
                "history": health.get(ep.id, {}).get("history", "?"),
                "backfilled": health.get(ep.id, {}).get("backfilled", 0),
                "worker": health.get(ep.id, {}).get("worker", ""),
                "readings total": ep.readings_total,
                "last error": ep.last_error or "",
            }
            for ep in endpoints
        ]
    )


def tags_frame(tags: list[Tag], asset_names: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"node id": t.node_id, "tag": t.name, "unit": t.unit, "asset": asset_names.get(t.asset_id, "?")} for t in tags]
    )


# A fragment so state, age and counters stay current in an open tab without a full rerun.
@st.fragment(run_every=5)
def _endpoints(make_session: sessionmaker[Session], company: CompanyRef) -> None:
    with make_session() as session:
        endpoints = list_endpoints(session, company_id=company.id)
        if not endpoints:
            st.info(
                _(
                    "No endpoints for {company}: add one below, or under `endpoints:` in the plant file and run "
                    "`pdmctl config apply <file>` (as an admin, or `pdmctl --local-admin` on the host)."
                ).format(company=company.name)
            )
            return
        health = {h["id"]: h for h in endpoint_health(session, company_id=company.id)}
        tags = list_tags(session, company_id=company.id)
        asset_names = {a.id: a.name or a.slug for a in list_assets(session, company_id=company.id)}
    # Headings translated for display only: the frame's English names are what exports and tests use.
    st.dataframe(endpoints_frame(endpoints, time.time(), health, tags).rename(columns=_), hide_index=True)
    by_endpoint: dict[int | None, list[Tag]] = defaultdict(list)
    for tag in tags:
        by_endpoint[tag.endpoint_id].append(tag)
    st.subheader(_("Mapped tags"))
    for ep in endpoints:
        mapped = by_endpoint.get(ep.id, [])
        with st.expander(_("{name} — {n} tags").format(name=ep.name, n=len(mapped)), expanded=len(endpoints) == 1):
            if mapped and ep.kind == "mqtt":  # its tags' topics and metrics, since a broker is not browsed here
                st.dataframe(endpoint_mqtt.topics_frame(mapped, asset_names).rename(columns=_), hide_index=True)
            elif mapped:
                st.dataframe(tags_frame(mapped, asset_names).rename(columns=_), hide_index=True)
            else:
                st.caption(_("No nodes mapped to tags."))


def _enable(make_session, company: CompanyRef) -> None:
    with make_session() as session:
        endpoints = [(e.id, e.name, e.enabled) for e in list_endpoints(session, company_id=company.id)]
    for ep_id, name, enabled in endpoints:
        st.toggle(
            _("Poll {name}").format(name=name),
            value=enabled,
            key=f"enabled_{ep_id}",
            on_change=_set_enabled,
            args=(make_session, company.id, ep_id),
        )


def _set_enabled(make_session, company_id: int, endpoint_id: int) -> None:
    enabled = bool(st.session_state[f"enabled_{endpoint_id}"])
    with make_session.begin() as session:  # the company filter keeps one tenant off another's endpoints
        done = session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id, Endpoint.company_id == company_id)
            .values(enabled=enabled)
        ).rowcount
        if done:
            audit.record(
                session,
                actor=st.session_state.get(USER, ""),
                company_id=company_id,
                action="endpoint_enabled" if enabled else "endpoint_disabled",
                target=f"endpoint {endpoint_id}",
            )


# ---- add an endpoint -------------------------------------------------------------------------


def validate_form(values: dict) -> tuple[EndpointConfig | None, dict[str, str]]:
    data = {k: v for k, v in values.items() if v not in ("", None)}
    try:
        return validate_model(EndpointConfig, data, "form"), {}
    except ConfigError as exc:
        return None, {
            exc.field.split(".")[0]: _("{reason} (got {value})").format(reason=exc.reason, value=repr(exc.value))
        }


def duplicate_errors(session: Session, company_id: int, config: EndpointConfig | MqttConfig) -> dict[str, str]:
    for ep in list_endpoints(session, company_id=company_id):
        if ep.name == config.name:
            return {"name": _("this company already has an endpoint named {name}").format(name=repr(config.name))}
        if ep.endpoint_url == config.endpoint_url:
            return {"endpoint_url": _("this company already has an endpoint at this URL ({name})").format(name=ep.name)}
    return {}


def save_endpoint(session: Session, *, company_id: int, site_id: int, config: EndpointConfig | MqttConfig) -> Endpoint:
    """Through the plant file's ``store_endpoint``, with its tags (MQTT's form has them, OPC UA's maps them later)."""
    assets = {a.slug: a for a in list_assets(session, company_id=company_id)}
    return store_endpoint(session, company_id=company_id, site_id=site_id, config=config, assets=assets)


def _submit_endpoint(make_session, company: CompanyRef, var_dir: Path) -> None:
    from pdm.connectors.browse import check_endpoint

    state = st.session_state
    values = {field: state.get(key) for key, field in FORM_FIELDS.items()}
    if errors := endpoint_password.encrypt_typed(values, var_dir):
        state["ep_errors"] = errors
        return
    config, errors = validate_form(values)
    if config is None:
        state["ep_errors"] = errors
        return
    with make_session() as session:
        errors = duplicate_errors(session, company.id, config)
    if not errors:
        errors = check_endpoint(config, var_dir / "pki")
    if "ok" not in errors:
        state["ep_errors"] = errors
        return
    with make_session.begin() as session:
        save_endpoint(session, company_id=company.id, site_id=state["ep_site"], config=config)
        audit.record(
            session,
            actor=state.get(USER, ""),
            action="endpoint_added",
            company_id=company.id,
            target=config.name,
            details={"endpoint_url": config.endpoint_url},
        )
    info = errors["ok"]
    state["ep_errors"] = {}
    state["ep_saved"] = _("Saved {name}: connected to {server}, test read OK, reads split by {n}.").format(
        name=config.name, server=info.get("ProductName", _("the server")), n=info.get("MaxNodesPerRead") or 100
    )


def _add_form(make_session, company: CompanyRef, var_dir: Path) -> None:
    st.subheader(_("Add an endpoint"))
    with make_session() as session:
        sites = {
            s.id: s.name or s.slug
            for s in session.execute(select(Site).where(Site.company_id == company.id).order_by(Site.slug)).scalars()
        }
    if not sites:
        st.caption(_("This company has no site yet: add one in the plant file first."))
        return
    if saved := st.session_state.pop("ep_saved", None):
        st.success(saved)
    kind = st.radio(_("Kind"), list(endpoint_mqtt.KINDS), format_func=endpoint_mqtt.kind_name, key="ep_kind")
    if kind != "opcua":
        endpoint_mqtt.render_form(make_session, company, var_dir, sites, sparkplug=kind == "sparkplug", user_key=USER)
        return
    errors = st.session_state.get("ep_errors", {})

    def field_error(field: str) -> None:
        if field in errors:
            st.error(errors[field])

    with st.form("add_endpoint"):
        st.selectbox(_("Site"), list(sites), format_func=sites.get, key="ep_site")
        st.text_input(_("Name"), key="ep_name", placeholder="line-1-plc")
        field_error("name")
        st.text_input(_("Endpoint URL"), key="ep_url", placeholder="opc.tcp://host:4840/path")
        field_error("endpoint_url")
        st.selectbox(_("Security policy"), POLICIES, key="ep_policy")
        field_error("security_policy")
        st.selectbox(_("Security mode"), MODES, key="ep_mode")
        field_error("security_mode")
        st.selectbox(_("Identity"), AUTHS, key="ep_auth")
        field_error("auth_method")
        endpoint_password.credential_inputs("ep", field_error)
        st.checkbox(_("Trust the server certificate without checking it"), key="ep_trust")
        field_error("trust_server_certificate")
        st.number_input(_("Poll interval (s)"), min_value=0.1, value=1.0, key="ep_poll")
        field_error("poll_interval_s")
        st.form_submit_button(_("Test and save"), on_click=_submit_endpoint, args=(make_session, company, var_dir))
