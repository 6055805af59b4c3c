"""Adding an MQTT or Sparkplug B endpoint on the engineer page: the broker, its login, QoS and the tags.

Like the OPC UA form it is a config flow: the values go through ``pdm.config.endpoint_config`` exactly
as a plant file's endpoint does, then through the plant file's checks on tags (an asset of this site,
a tag once), then the page logs in to the broker once (``check_endpoint``), and only then stores the
endpoint and its tags with the engineer page's ``save_endpoint`` (the plant file's ``store_endpoint``).
A refusal is shown under the field it names, with the value; nothing is stored.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access import audit
from pdm.config import MqttEndpointConfig, endpoint_config
from pdm.config.mqtt import PLAIN, SPARKPLUG, SPARKPLUG_PREFIX
from pdm.errors import ConfigError
from pdm.storage.catalog import list_assets, list_tags
from pdm.storage.tables import Tag
from pdm.ui import endpoint_password
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import N_, _

# The add form's kinds; both MQTT ones are ``kind: mqtt`` (Sparkplug B only changes how tags are named).
KINDS = {"opcua": N_("OPC UA"), "mqtt": N_("MQTT"), "sparkplug": N_("Sparkplug B")}
FIELDS = {  # widget key -> MqttEndpointConfig field
    "mq_name": "name",
    "mq_url": "endpoint_url",
    "mq_client_id": "client_id",
    "mq_username": "username",
    "mq_password_env": "password_env",
    "mq_ca_file": "ca_file",
}
PLAIN_TAG = ["topic", "json_path"]
SPARKPLUG_TAG = ["group", "edge_node", "device", "metric"]
REQUIRED = {"topic", "group", "edge_node", "metric"}  # given even when empty, so the refusal names them
ROWS, ERRORS = "mq_rows", "mq_errors"
# Examples, the same in every language.
NAME_EXAMPLE, URL_EXAMPLE = "line-1-broker", "mqtt://broker.plant:1883"
TOPIC_EXAMPLE, PATH_EXAMPLE = "plant/p1/temp", "data.temp"
HEADINGS = [N_("topic"), N_("JSON path"), N_("Sparkplug B metric")]


def kind_name(kind: str) -> str:
    return _(KINDS[kind]) if kind in KINDS else kind


def listed_kind(kind: str, node_ids: list[str]) -> str:
    """The endpoint list's kind: a broker whose tags are all Sparkplug B metrics is a Sparkplug B endpoint.

    Both are ``kind: mqtt``; what tells them apart is how the tags are named (``pdm.config.mqtt``).
    """
    if kind != "mqtt" or not node_ids:
        return kind_name(kind)
    sparkplug = {node_id.startswith(SPARKPLUG) for node_id in node_ids}
    if sparkplug == {True}:
        return kind_name("sparkplug")
    return kind_name("mqtt") if sparkplug == {False} else _("MQTT + Sparkplug B")


def topics_frame(tags: list[Tag], asset_names: dict[int, str]) -> pd.DataFrame:
    """An MQTT endpoint's tags by the topic they arrive on (and the JSON path or Sparkplug metric in it)."""
    rows = []
    for t in tags:
        topic, path, metric = t.node_id, "", ""
        if t.node_id.startswith(PLAIN):
            topic, _sep, path = t.node_id.removeprefix(PLAIN).partition("#")
        elif t.node_id.startswith(SPARKPLUG):
            group, edge, device, metric = (t.node_id.removeprefix(SPARKPLUG).split("/", 3) + ["", "", ""])[:4]
            data = f"DDATA/{edge}/{device}" if device else f"NDATA/{edge}"
            topic = f"{SPARKPLUG_PREFIX}{group}/{data}"
        asset = asset_names.get(t.asset_id, "?")
        rows.append({"tag": t.name, "asset": asset, "unit": t.unit, "topic": topic, "JSON path": path})
        rows[-1]["Sparkplug B metric"] = metric
    return pd.DataFrame(rows)


def form_values(state, *, sparkplug: bool) -> tuple[dict, list[int]]:
    """The endpoint as a plant file would give it, and which form row each of its tags came from."""
    values: dict = {"kind": "mqtt", "qos": state.get("mq_qos")}
    values |= {field: state.get(key) for key, field in FIELDS.items() if state.get(key) not in ("", None)}
    nodes, rows = tag_nodes(state, "mq", sparkplug=sparkplug)
    return values | {"nodes": nodes}, rows


def tag_nodes(state, prefix: str, *, sparkplug: bool) -> tuple[list[dict], list[int]]:
    """The tag rows of a form (widget keys ``<prefix>_<field>_<row>``) as plant-file nodes, and their rows."""
    nodes, rows = [], []
    for i in range(state.get(f"{prefix}_rows", 1)):
        fields = ["tag", "unit"] + tag_fields(sparkplug)
        texts = {f: (state.get(f"{prefix}_{f}_{i}") or "").strip() for f in fields}
        if not any(texts.values()):
            continue  # a row left empty
        node = {f: v for f, v in texts.items() if v or f in REQUIRED} | {"asset": state.get(f"{prefix}_asset_{i}")}
        nodes.append(node)
        rows.append(i)
    return nodes, rows


def tag_fields(sparkplug: bool) -> list[str]:
    return SPARKPLUG_TAG if sparkplug else PLAIN_TAG


def validate(values: dict, rows: list[int]) -> tuple[MqttEndpointConfig | None, dict[str, str]]:
    """Through ``endpoint_config``; a refusal keyed by the form's field (a tag's by its row)."""
    if not values["nodes"]:
        return None, {"nodes": _("Give at least one tag: its name, asset and where it is read.")}
    try:
        config = endpoint_config(values, "form")
    except ConfigError as exc:
        field = re.sub(r"^nodes\[(\d+)\]", lambda m: f"nodes[{rows[int(m[1])]}]", exc.field)
        return None, {field: _("{reason} (got {value})").format(reason=exc.reason, value=repr(exc.value))}
    assert isinstance(config, MqttEndpointConfig)
    return config, {}


def tag_errors(session: Session, company_id: int, site_id: int, config: MqttEndpointConfig, rows: list[int]):
    """The plant file's checks on an endpoint's tags: an asset of this site, each tag mapped once."""
    assets = {a.slug: a for a in list_assets(session, company_id=company_id)}
    seen: dict[tuple[str, str], int] = {}
    for k, node in enumerate(config.nodes):
        asset = assets.get(node.asset)
        if asset is None or asset.site_id != site_id:
            value = repr(node.asset)
            return {f"nodes[{rows[k]}].asset": _("no such asset on this site (got {value})").format(value=value)}
        if (node.asset, node.tag) in seen:
            return {
                f"nodes[{rows[k]}].tag": _("tag given twice for this asset (also in row {row})").format(
                    row=rows[seen[node.asset, node.tag]] + 1
                )
            }
        seen[node.asset, node.tag] = k
        if any(t.name == node.tag for t in list_tags(session, company_id=company_id, asset_id=asset.id)):
            message = _("{asset} already has a tag {tag}").format(asset=node.asset, tag=repr(node.tag))
            return {f"nodes[{rows[k]}].tag": message}
    return {}


def _submit(make_session, company: CompanyRef, var_dir: Path, sparkplug: bool, user_key: str) -> None:
    from pdm.connectors.browse import check_endpoint
    from pdm.ui.engineer import duplicate_errors, save_endpoint  # the OPC UA form's own: one way to save

    state = st.session_state
    values, rows = form_values(state, sparkplug=sparkplug)
    if errors := endpoint_password.encrypt_typed(values, var_dir):
        state[ERRORS] = errors
        return
    config, errors = validate(values, rows)
    if config is None:
        state[ERRORS] = errors
        return
    with make_session() as session:
        errors = duplicate_errors(session, company.id, config) or tag_errors(
            session, company.id, state["mq_site"], config, rows
        )
    if not errors:
        errors = check_endpoint(config, var_dir / "pki")
    if "ok" not in errors:
        state[ERRORS] = errors
        return
    with make_session.begin() as session:
        save_endpoint(session, company_id=company.id, site_id=state["mq_site"], config=config)
        audit.record(
            session,
            actor=state.get(user_key, ""),
            action="endpoint_added",
            company_id=company.id,
            target=config.name,
            details={"endpoint_url": config.endpoint_url, "kind": config.kind, "tags": len(config.nodes)},
        )
    state[ERRORS] = {}
    state["ep_saved"] = _("Saved {name}: the broker {url} took the login; {n} tags stored.").format(
        name=config.name, url=config.endpoint_url, n=len(config.nodes)
    )


def more_rows(prefix: str = "mq") -> None:
    st.session_state[f"{prefix}_rows"] = st.session_state.get(f"{prefix}_rows", 1) + 1


LABELS = {
    "tag": N_("Tag"),
    "unit": N_("Unit"),
    "topic": N_("Topic"),
    "json_path": N_("JSON path"),
    "group": N_("Group"),
    "edge_node": N_("Edge node"),
    "device": N_("Device"),
    "metric": N_("Metric"),
}
HELP = {
    "json_path": N_("For a JSON payload: the keys to the number, with [n] for a list item. Empty: a bare number."),
    "device": N_("Empty for a metric of the edge node itself."),
}


def render_form(
    make_session: sessionmaker[Session],
    company: CompanyRef,
    var_dir: Path,
    sites: dict[int, str],
    *,
    sparkplug: bool,
    user_key: str,
) -> None:
    """The add form for a broker: plain topics, or Sparkplug B metrics when ``sparkplug``."""
    state = st.session_state
    with make_session() as session:
        assets = {a.slug: a.name or a.slug for a in list_assets(session, company_id=company.id)}
    errors: dict[str, str] = state.get(ERRORS, {})
    shown: set[str] = set()

    def field_error(field: str) -> None:
        shown.add(field)
        if field in errors:
            st.error(errors[field])

    st.caption(_("To find the topics and metrics a broker carries: `pdmctl endpoint browse <broker URL>`."))
    with st.form("add_mqtt"):
        st.selectbox(_("Site"), list(sites), format_func=lambda site: sites[site], key="mq_site")
        st.text_input(_("Name"), key="mq_name", placeholder=NAME_EXAMPLE)
        field_error("name")
        st.text_input(_("Broker URL"), key="mq_url", placeholder=URL_EXAMPLE)
        field_error("endpoint_url")
        st.text_input(
            _("Client id"),
            key="mq_client_id",
            help=_("Fixed, so the broker keeps this endpoint's session across restarts. Empty: pdm-<name>."),
        )
        field_error("client_id")
        endpoint_password.credential_inputs("mq", field_error)
        st.text_input(_("CA file"), key="mq_ca_file", help=_("For mqtts:// only; empty: the system's CAs."))
        field_error("ca_file")
        st.number_input(
            _("QoS"), min_value=0, max_value=2, value=1, step=1, key="mq_qos", help=_("0, 1 or 2; 1 loses nothing.")
        )
        field_error("qos")
        st.markdown("**" + (_("Tags (Sparkplug B metrics)") if sparkplug else _("Tags (topics)")) + "**")
        field_error("nodes")
        for i in range(state.get(ROWS, 1)):
            tag_row(i, assets, sparkplug, field_error)
        for field in sorted(set(errors) - shown):  # a refusal no widget above is about
            st.error(_("{field}: {message}").format(field=field, message=errors[field]))
        st.form_submit_button(
            _("Test and save"), on_click=_submit, args=(make_session, company, var_dir, sparkplug, user_key)
        )
    st.button(_("Add a tag row"), key="mq_more", on_click=more_rows)


def tag_row(i: int, assets: dict[str, str], sparkplug: bool, field_error, prefix: str = "mq") -> None:
    fields = ["tag", "asset", "unit"] + tag_fields(sparkplug)
    for column, field in zip(st.columns(len(fields)), fields, strict=True):
        with column:
            if field == "asset":
                st.selectbox(_("Asset"), list(assets), format_func=lambda slug: assets[slug], key=f"{prefix}_asset_{i}")
            else:
                example = {"topic": TOPIC_EXAMPLE, "json_path": PATH_EXAMPLE}.get(field)
                help_text = _(HELP[field]) if field in HELP else None
                st.text_input(_(LABELS[field]), key=f"{prefix}_{field}_{i}", placeholder=example, help=help_text)
            field_error(f"nodes[{i}].{field}")
