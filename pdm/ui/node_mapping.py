"""Browsing an endpoint's address space and mapping its variables to asset tags, on the engineer page.

A mapping goes through the same ``NodeMap`` as the plant file and is refused, with the field
named, for an unknown asset, a tag the asset already has, or another company's endpoint.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit
from pdm.config import EndpointConfig, NodeMap, validate_model
from pdm.errors import ConfigError
from pdm.storage.catalog import list_assets, list_endpoints, list_tags
from pdm.storage.tables import Endpoint, Tag
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _


def _browse(make_session, company_id: int, var_dir: Path) -> None:
    from pdm.connectors.browse import browse_endpoint
    from pdm.errors import EndpointRefused, EndpointUnavailable

    state = st.session_state
    with make_session() as session:
        ep = session.execute(
            select(Endpoint).where(Endpoint.id == state["map_endpoint"], Endpoint.company_id == company_id)
        ).scalar_one_or_none()
        if ep is None:
            state["browse_error"], state["browsed"] = (
                _("endpoint {id} not found").format(id=state["map_endpoint"]),
                None,
            )
            return
        config = validate_model(EndpointConfig, {**ep.settings, "nodes": []}, f"endpoint {ep.name}")
    try:
        nodes, truncated = browse_endpoint(config, var_dir / "pki", depth=int(state["browse_depth"]))
    except (EndpointUnavailable, EndpointRefused) as exc:
        state["browse_error"], state["browsed"] = str(exc), None
        return
    state["browse_error"] = None
    state["browsed"] = {
        "endpoint": ep.id,
        "truncated": truncated,
        "nodes": [(n.depth, n.name, n.node_class, n.node_id, n.data_type) for n in nodes],
    }


def map_node(session: Session, *, company_id: int, endpoint_id: int, values: dict) -> dict[str, str]:
    """Validate through ``NodeMap`` and add the tag; returns errors by field (empty when saved)."""
    try:
        node = validate_model(NodeMap, {k: v for k, v in values.items() if v is not None}, "mapping")
    except ConfigError as exc:
        return {exc.field: _("{reason} (got {value})").format(reason=exc.reason, value=repr(exc.value))}
    if endpoint_id not in {e.id for e in list_endpoints(session, company_id=company_id)}:
        # A stale or forged id must not attach this company's tag to another company's endpoint.
        return {"endpoint": _("endpoint {id} not found").format(id=endpoint_id)}
    asset = next((a for a in list_assets(session, company_id=company_id) if a.slug == node.asset), None)
    if asset is None:
        return {"asset": _("no asset {asset} in this company").format(asset=repr(node.asset))}
    if any(t.name == node.tag for t in list_tags(session, company_id=company_id, asset_id=asset.id)):
        return {"tag": _("{asset} already has a tag {tag}").format(asset=node.asset, tag=repr(node.tag))}
    session.add(
        Tag(
            company_id=company_id,
            asset_id=asset.id,
            endpoint_id=endpoint_id,
            node_id=node.node_id,
            name=node.tag,
            unit=node.unit,
        )
    )
    return {}


def _submit_mapping(make_session, company_id: int, endpoint_id: int, user_key: str) -> None:
    state = st.session_state
    values = {
        "node_id": state.get("map_node"),
        "asset": state.get("map_asset"),
        "tag": state.get("map_tag"),
        "unit": state.get("map_unit") or "",
    }
    with make_session.begin() as session:
        state["map_errors"] = map_node(session, company_id=company_id, endpoint_id=endpoint_id, values=values)
        if not state["map_errors"]:
            audit.record(
                session,
                actor=state.get(user_key, ""),
                action="tag_mapped",
                company_id=company_id,
                target=f"{values['asset']}/{values['tag']}",
                details={"node_id": values["node_id"]},
            )
    if not state["map_errors"]:
        state["map_saved"] = _("Mapped {node} to {asset}/{tag}.").format(
            node=values["node_id"], asset=values["asset"], tag=values["tag"]
        )


def render(*, make_session: sessionmaker[Session], company: CompanyRef, var_dir: Path, user_key: str) -> None:
    """The browse tree and the mapping form; ``user_key`` holds the user named in the audit log."""
    with make_session() as session:
        # OPC UA's address space only: an MQTT endpoint lists its tags' topics above instead.
        endpoints = {e.id: e.name for e in list_endpoints(session, company_id=company.id) if e.kind == "opcua"}
        assets = {a.slug: a.name or a.slug for a in list_assets(session, company_id=company.id)}
    if not endpoints:
        return
    st.subheader(_("Browse and map nodes"))
    st.selectbox(_("Endpoint"), list(endpoints), format_func=endpoints.get, key="map_endpoint")
    st.number_input(_("Depth"), min_value=1, max_value=6, value=3, key="browse_depth")
    st.button(_("Browse"), key="browse_btn", on_click=_browse, args=(make_session, company.id, var_dir))
    state = st.session_state
    if state.get("browse_error"):
        st.error(state["browse_error"])
    browsed = state.get("browsed")
    if not browsed or browsed["endpoint"] != state.get("map_endpoint"):
        return
    tree = pd.DataFrame(
        [
            {_("node"): "  " * (d - 1) + name, _("class"): cls, _("node id"): nid, _("type"): dtype}
            for d, name, cls, nid, dtype in browsed["nodes"]
        ]
    )
    st.dataframe(tree, hide_index=True)
    if browsed["truncated"]:
        st.caption(_("Browse stopped at its node limit: lower the depth or map from a narrower branch."))
    variables = [nid for _, _, cls, nid, _ in browsed["nodes"] if cls == "Variable"]
    if saved := state.pop("map_saved", None):
        st.success(saved)
    errors = state.get("map_errors", {})
    with st.form("map_form"):
        st.selectbox(_("Node"), variables, key="map_node")
        st.selectbox(_("Asset"), list(assets), format_func=assets.get, key="map_asset")
        if "asset" in errors:
            st.error(errors["asset"])
        st.text_input(_("Tag"), key="map_tag", placeholder="bearing_temp")
        if "tag" in errors:
            st.error(errors["tag"])
        st.text_input(_("Unit"), key="map_unit", placeholder="degC")
        if "unit" in errors or "node_id" in errors:
            st.error(errors.get("unit") or errors["node_id"])
        st.form_submit_button(
            _("Map"), on_click=_submit_mapping, args=(make_session, company.id, browsed["endpoint"], user_key)
        )
