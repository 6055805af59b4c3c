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
    STALE_S,
    STATES,
    STOPPED,
    WATCH,
    AssetHealth,
    cluster_state_counts,
    company_health,
)
from pdm.savings import kanon
from pdm.ui.common import CompanyRef, ago, page_link, tenant
from pdm.ui.i18n import N_, _, hidden_reason, number, severity, share, status

COLUMNS = 3
# Longer than the alerts page's 5 s: this page reads every asset of the company at each refresh.
REFRESH_S = 15
# Colour, icon and words per state: Streamlit's badge colours, Material icons.
LOOK = {
    ALERT: ("red", "error", N_("Alert")),
    NO_DATA: ("gray", "signal_disconnected", N_("No data")),
    STOPPED: ("blue", "pause_circle", N_("Stopped")),
    NO_MODEL: ("violet", "hourglass_empty", N_("No model yet")),
    WATCH: ("orange", "visibility", N_("Watch")),
    HEALTHY: ("green", "check_circle", N_("Healthy")),
}
# The words for each state's reason come from the row's own fields (severity, alert status and
# sensors, ``worst_ratio``, ``last_received_at``, the running rule), never from its English ``detail``.
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def render(*, make_session: sessionmaker[Session], principal, companies: list[CompanyRef]) -> None:
    st.title(_("Overview"))
    if principal.role == CLUSTER_REVIEWER:
        # Cross-company counts only: a reviewer never sees a member's assets.
        _cluster(make_session)
        return
    company = tenant(principal, companies)
    st.caption(company.name)
    _tiles(make_session, company)
    if principal.role == ADMIN:
        st.subheader(_("Cluster"))
        _cluster(make_session)


def badge(state: str, text: str | None = None) -> str:
    colour, icon, words = LOOK[state]
    return f":{colour}-badge[:material/{icon}: {text or _(words)}]"


def state_word(state: str) -> str:
    return _(LOOK[state][2])


def detail(h: AssetHealth) -> str:
    """The state's reason in the user's language (an open alert's: severity, status, sensors)."""
    if h.state == ALERT and h.severity is not None and h.alert_status is not None:
        # "high · in progress · vibration 62%": the words translated, the sensors as they are.
        words = [severity(h.severity), status(h.alert_status).replace("_", " ").lower()]
        return " · ".join([*words, h.alert_sensors] if h.alert_sensors else words)
    pct = share(h.worst_ratio) if h.worst_ratio is not None else None
    if h.state == NO_DATA:
        if h.last_received_at is None:
            return _("no reading stored")
        return _("no reading for over {n} min").format(n=number(STALE_S / 60, digits=0))
    if h.state == NO_MODEL:
        return _("not enough data to train a model yet")
    if h.state == WATCH and pct is not None:
        return _("score reached {pct} of its threshold").format(pct=pct)
    if h.state == HEALTHY:
        return _("no score yet") if pct is None else _("score at most {pct} of its threshold").format(pct=pct)
    if h.state == STOPPED and h.running_tag is not None and h.running_above is not None:
        return _("{tag} at or below {n}").format(tag=h.running_tag, n=number(h.running_above))
    return h.detail


def _md(text: str) -> str:
    """A name from the plant file, shown as itself (no markdown, no badge syntax)."""
    return text.translate(_MARKDOWN)


def _tile(h: AssetHealth) -> None:
    words = state_word(h.state) + (f" · {severity(h.severity)}" if h.severity else "")
    last = _("last reading {age}").format(age=ago(h.last_received_at))
    st.markdown(f"**{_md(h.name)}**  \n{badge(h.state, words)} {_md(detail(h))}  \n{last}")
    if h.alert_id is not None:
        page_link("alerts", _("Alert #{id} of {asset}").format(id=h.alert_id, asset=h.name), alert=h.alert_id)
    # The asset's name in the label: a screen reader lists links out of their tile.
    page_link("assets", _("{asset}: asset page").format(asset=h.name), asset=h.asset_id)


# A fragment so an open tab (a wall screen, a phone in a pocket) follows the plant without a reload.
# It gets the session factory, never a session: a fragment rerun outlives the full run.
@st.fragment(run_every=REFRESH_S)
def _tiles(make_session: sessionmaker[Session], company: CompanyRef) -> None:
    with make_session() as session:
        rows = company_health(session, company_id=company.id)
    if not rows:
        st.info(_("No assets for {company}").format(company=company.name))
        return
    counts = Counter(h.state for h in rows)
    st.markdown(" ".join(badge(s, f"{counts[s]} {state_word(s).lower()}") for s in STATES if counts[s]))
    for (_site_id, site), group in groupby(rows, key=lambda h: (h.site_id, h.site)):
        st.subheader(site)
        # The most urgent first within a site: an alert is never below the fold behind healthy machines.
        ordered = sorted(group, key=lambda h: STATES.index(h.state))
        for start in range(0, len(ordered), COLUMNS):
            for column, h in zip(st.columns(COLUMNS), ordered[start : start + COLUMNS]):
                with column.container(border=True):
                    _tile(h)


def cluster_frame(rows: list[dict]) -> pd.DataFrame:
    company, states = _("company"), [state_word(s).lower() for s in STATES]
    return pd.DataFrame(
        [{company: r["name"], **{word: r[s] for s, word in zip(STATES, states)}} for r in rows],
        columns=[company, *states],
    )


@st.fragment(run_every=REFRESH_S)
def _cluster(make_session: sessionmaker[Session]) -> None:
    with make_session() as session:
        rows = cluster_state_counts(session)
    if not rows:
        st.info(_("No companies yet."))
        return
    df = cluster_frame(rows)
    # Two rows of three metrics: readable on a phone, where the columns stack.
    names = list(df.columns[1:])
    for start in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[start : start + 3]):
            column.metric(_("assets: {state}").format(state=name), int(df[name].sum()))
    if kanon.benchmark_allowed(len(df)):
        st.dataframe(df, hide_index=True)
    else:
        st.info(_("Per-company counts: {reason}").format(reason=hidden_reason(len(df))))
