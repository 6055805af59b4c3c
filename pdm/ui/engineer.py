"""Engineer page ("Endpoints"): the company's OPC UA endpoints, their health and tag maps.

Read-only for now; onboarding (validate, connect, test read, save) comes with its own issue.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.storage.catalog import list_assets, list_endpoints, list_tags
from pdm.storage.tables import Endpoint, Tag
from pdm.ui.common import CompanyRef, ago, iso_local


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title("Endpoints")
    st.caption(company.name)
    _endpoints(make_session, company)


def endpoints_frame(endpoints: list[Endpoint], now: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "name": ep.name,
        "URL": ep.endpoint_url,
        "enabled": ep.enabled,
        "state": ep.state,
        "last reading": iso_local(ep.last_read_at),
        "age": ago(ep.last_read_at, now),
        "readings total": ep.readings_total,
        "last error": ep.last_error or "",
    } for ep in endpoints])


def tags_frame(tags: list[Tag], asset_names: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"node id": t.node_id, "tag": t.name, "unit": t.unit,
                          "asset": asset_names.get(t.asset_id, "?")} for t in tags])


# A fragment so state, age and counters stay current in an open tab without a full rerun.
@st.fragment(run_every=5)
def _endpoints(make_session: sessionmaker[Session], company: CompanyRef) -> None:
    with make_session() as session:
        endpoints = list_endpoints(session, company_id=company.id)
        if not endpoints:
            st.info(f"No endpoints for {company.name}: add them under `endpoints:` in the plant file "
                    "and run `pdmctl config apply <file>`.")
            return
        tags = list_tags(session, company_id=company.id)
        asset_names = {a.id: a.name or a.slug for a in list_assets(session, company_id=company.id)}
    st.dataframe(endpoints_frame(endpoints, time.time()), hide_index=True)
    by_endpoint: dict[int | None, list[Tag]] = defaultdict(list)
    for tag in tags:
        by_endpoint[tag.endpoint_id].append(tag)
    st.subheader("Mapped tags")
    for ep in endpoints:
        mapped = by_endpoint.get(ep.id, [])
        with st.expander(f"{ep.name} — {len(mapped)} tags", expanded=len(endpoints) == 1):
            if mapped:
                st.dataframe(tags_frame(mapped, asset_names), hide_index=True)
            else:
                st.caption("No nodes mapped to tags.")
