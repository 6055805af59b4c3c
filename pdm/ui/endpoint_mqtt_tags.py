"""Adding tags to a stored MQTT or Sparkplug B endpoint on the engineer page.

The new rows go through ``endpoint_config`` with the endpoint's stored settings, as the add form's do,
then through the plant file's tag checks, and are stored with the add form's ``save_endpoint``: only the
new tags are written, so the endpoint's other tags (and their readings) stay as they are.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit
from pdm.storage.catalog import list_assets, list_endpoints, list_tags
from pdm.storage.tables import Endpoint
from pdm.ui import endpoint_mqtt
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _

PREFIX, ERRORS = "mt", "mt_errors"


def _submit(make_session, company: CompanyRef, user_key: str) -> None:
    from pdm.ui.engineer import save_endpoint  # the add forms' own: one way to save

    state = st.session_state
    sparkplug = state.get("mt_kind") == "sparkplug"
    nodes, rows = endpoint_mqtt.tag_nodes(state, PREFIX, sparkplug=sparkplug)
    with make_session() as session:
        ep = session.execute(
            select(Endpoint).where(
                Endpoint.id == state.get("mt_endpoint"), Endpoint.company_id == company.id, Endpoint.kind == "mqtt"
            )
        ).scalar_one_or_none()
        if ep is None:
            state[ERRORS] = {"endpoint": _("endpoint {id} not found").format(id=state.get("mt_endpoint"))}
            return
        # The stored endpoint as it is (its enabled switch included), with the new tags only.
        values = {**(ep.settings or {}), "kind": "mqtt", "name": ep.name, "endpoint_url": ep.endpoint_url}
        values |= {"enabled": ep.enabled, "nodes": nodes}
        site_id = ep.site_id
        config, errors = endpoint_mqtt.validate(values, rows)
        if config is not None:
            errors = endpoint_mqtt.tag_errors(session, company.id, site_id, config, rows)
    if config is None or errors:
        state[ERRORS] = errors
        return
    with make_session.begin() as session:
        save_endpoint(session, company_id=company.id, site_id=site_id, config=config)
        for node in config.nodes:
            audit.record(
                session,
                actor=state.get(user_key, ""),
                action="tag_mapped",
                company_id=company.id,
                target=f"{node.asset}/{node.tag}",
                details={"node_id": node.node_id, "endpoint": config.name},
            )
    state[ERRORS] = {}
    for i in range(state.get(f"{PREFIX}_rows", 1)):  # emptied, so the same tags are not sent twice
        for field in ["tag", "unit", *endpoint_mqtt.PLAIN_TAG, *endpoint_mqtt.SPARKPLUG_TAG]:
            state.pop(f"{PREFIX}_{field}_{i}", None)
    state[f"{PREFIX}_rows"] = 1
    state["mt_saved"] = _("Added {n} tags to {name}; its other tags and their readings are kept.").format(
        n=len(config.nodes), name=config.name
    )


def render(*, make_session: sessionmaker[Session], company: CompanyRef, user_key: str) -> None:
    with make_session() as session:
        brokers = {
            e.id: (e.name, e.site_id) for e in list_endpoints(session, company_id=company.id) if e.kind == "mqtt"
        }
        assets = [(a.slug, a.name or a.slug, a.site_id) for a in list_assets(session, company_id=company.id)]
        tags = list_tags(session, company_id=company.id)
    if not brokers:
        return
    state = st.session_state
    st.subheader(_("Add tags to an MQTT endpoint"))
    ep_id = st.selectbox(_("Endpoint"), list(brokers), format_func=lambda i: brokers[i][0], key="mt_endpoint")
    node_ids = [t.node_id for t in tags if t.endpoint_id == ep_id]
    sparkplug_now = endpoint_mqtt.listed_kind("mqtt", node_ids) == endpoint_mqtt.kind_name("sparkplug")
    kinds = {"mqtt": _("Topics"), "sparkplug": _("Sparkplug B metrics")}
    sparkplug = (
        st.radio(_("Tags as"), list(kinds), format_func=kinds.get, index=int(sparkplug_now), key="mt_kind")
        == "sparkplug"
    )
    site_assets = {slug: name for slug, name, site in assets if site == brokers[ep_id][1]}
    errors: dict[str, str] = state.get(ERRORS, {})
    shown: set[str] = set()

    def field_error(field: str) -> None:
        shown.add(field)
        if field in errors:
            st.error(errors[field])

    if saved := state.pop("mt_saved", None):
        st.success(saved)
    with st.form("add_mqtt_tags"):
        field_error("nodes")
        for i in range(state.get(f"{PREFIX}_rows", 1)):
            endpoint_mqtt.tag_row(i, site_assets, sparkplug, field_error, prefix=PREFIX)
        for field in sorted(set(errors) - shown):  # a refusal no widget above is about
            st.error(_("{field}: {message}").format(field=field, message=errors[field]))
        st.form_submit_button(_("Check and add the tags"), on_click=_submit, args=(make_session, company, user_key))
    st.button(_("Add a tag row"), key="mt_more", on_click=endpoint_mqtt.more_rows, args=(PREFIX,))
