"""Overview page: "how are my machines right now?" — every asset of the company as a tile, by site, in its
state (``pdm.alerts.overview``), with one click to its alert or its asset page; the cluster's version
(counts per state per company) for the cluster reviewer and the admin.

Each tile says its state in words beside the colour (a colour alone is lost on a colour-blind reader and
on a sunlit phone). Tiles sit in ``COLUMNS`` columns, which Streamlit stacks into one on a phone-width
screen, so a tile is never squeezed to a few characters.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access.tenancy import ADMIN, CLUSTER_REVIEWER
from pdm.alerts.overview import (
    ALERT,
    HEALTHY,
    NO_DATA,
    NO_MODEL,
    STATES,
    STOPPED,
    WATCH,
    AssetHealth,
    cluster_state_counts,
    company_health,
)
from pdm.savings import kanon
from pdm.ui.common import CompanyRef, ago, page_link, tenant

COLUMNS = 3
# Longer than the alerts page's 5 s: this page reads every asset of the company at each refresh.
REFRESH_S = 15
# Colour, icon and words per state: Streamlit's badge colours, Material icons.
LOOK = {
    ALERT: ("red", "error", "Alert"),
    NO_DATA: ("gray", "signal_disconnected", "No data"),
    STOPPED: ("blue", "pause_circle", "Stopped"),
    NO_MODEL: ("violet", "hourglass_empty", "No model yet"),
    WATCH: ("orange", "visibility", "Watch"),
    HEALTHY: ("green", "check_circle", "Healthy"),
}
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def render(*, make_session: sessionmaker[Session], principal, companies: list[CompanyRef]) -> None:
    st.title("Overview")
    if principal.role == CLUSTER_REVIEWER:
        # Cross-company counts only: a reviewer never sees a member's assets.
        _cluster(make_session)
        return
    company = tenant(principal, companies)
    st.caption(company.name)
    _tiles(make_session, company)
    if principal.role == ADMIN:
        st.subheader("Cluster")
        _cluster(make_session)


def badge(state: str, text: str | None = None) -> str:
    colour, icon, words = LOOK[state]
    return f":{colour}-badge[:material/{icon}: {text or words}]"


def _md(text: str) -> str:
    """A name from the plant file, shown as itself (no markdown, no badge syntax)."""
    return text.translate(_MARKDOWN)


def _tile(h: AssetHealth) -> None:
    words = LOOK[h.state][2] + (f" · {h.severity}" if h.severity else "")
    st.markdown(
        f"**{_md(h.name)}**  \n{badge(h.state, words)} {_md(h.detail)}  \nlast reading {ago(h.last_received_at)}"
    )
    if h.alert_id is not None:
        page_link("alerts", f"Alert #{h.alert_id} of {h.name}", alert=h.alert_id)
    # The asset's name in the label: a screen reader lists links out of their tile.
    page_link("assets", f"{h.name}: asset page", asset=h.asset_id)


# A fragment so an open tab (a wall screen, a phone in a pocket) follows the plant without a reload.
# It gets the session factory, never a session: a fragment rerun outlives the full run.
@st.fragment(run_every=REFRESH_S)
def _tiles(make_session: sessionmaker[Session], company: CompanyRef) -> None:
    with make_session() as session:
        rows = company_health(session, company_id=company.id)
    if not rows:
        st.info(f"No assets for {company.name}")
        return
    counts = Counter(h.state for h in rows)
    st.markdown(" ".join(badge(s, f"{counts[s]} {LOOK[s][2].lower()}") for s in STATES if counts[s]))
    for (_site_id, site), group in groupby(rows, key=lambda h: (h.site_id, h.site)):
        st.subheader(site)
        # The most urgent first within a site: an alert is never below the fold behind healthy machines.
        ordered = sorted(group, key=lambda h: STATES.index(h.state))
        for start in range(0, len(ordered), COLUMNS):
            for column, h in zip(st.columns(COLUMNS), ordered[start : start + COLUMNS]):
                with column.container(border=True):
                    _tile(h)


def cluster_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"company": r["name"], **{LOOK[s][2].lower(): r[s] for s in STATES}} for r in rows],
        columns=["company", *(LOOK[s][2].lower() for s in STATES)],
    )


@st.fragment(run_every=REFRESH_S)
def _cluster(make_session: sessionmaker[Session]) -> None:
    with make_session() as session:
        rows = cluster_state_counts(session)
    if not rows:
        st.info("No companies yet.")
        return
    df = cluster_frame(rows)
    # Two rows of three metrics: readable on a phone, where the columns stack.
    names = list(df.columns[1:])
    for start in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[start : start + 3]):
            column.metric(f"assets: {name}", int(df[name].sum()))
    if kanon.benchmark_allowed(len(df)):
        st.dataframe(df, hide_index=True)
    else:
        st.info(f"Per-company counts: {kanon.hidden_reason(len(df))}")
