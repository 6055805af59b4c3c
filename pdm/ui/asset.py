"""Asset page ("Assets"): one asset's alert history and feedback, its model, its telemetry; and the
charts the alert page shares.

Charts are in the data's own time (alert timestamps), not wall-clock "now": replayed or
simulated plants run on their own clocks.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts.rules import list_alerts
from pdm.storage.catalog import list_assets
from pdm.storage.downsample import RAW_SPAN_S, chart_series, latest_reading_ts
from pdm.storage.gaps import GapRow, gaps_for_asset
from pdm.storage.tables import Alert, Asset, Site
from pdm.ui.common import CompanyRef, iso_local, page_link, take_id_param
from pdm.ui.i18n import N_, _, money, ngettext, number, severity, status
from pdm.ui.model_card import render_model
from pdm.ui.remaining_time import render_remaining_time, render_soon

BACK_STATE = "pdm_asset_back"
RANGES = {
    N_("1 hour"): 3600,
    N_("6 hours"): 6 * 3600,
    N_("24 hours"): 86400,
    N_("7 days"): 7 * 86400,
    N_("30 days"): 30 * 86400,
}
LEVELS = {
    "raw": N_("every stored reading"),
    "1m": N_("1-minute aggregates where raw readings have expired (older than retention.raw_days)"),
}


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title(_("Assets"))
    st.caption(company.name)
    with make_session() as session:
        assets = list_assets(session, company_id=company.id)
        if not assets:
            st.info(_("No assets for {company}").format(company=company.name))
            return
        sites = site_names(session, company_id=company.id)
        by_id = {a.id: a for a in assets}
        _follow_link(company, by_id)
        render_soon(session, company)
        chosen = st.selectbox(
            _("Asset"), list(by_id), format_func=lambda i: _asset_label(by_id[i], sites), key=f"asset_pick_{company.id}"
        )
        _history(session, company, by_id[chosen])
        render_model(session, company, by_id[chosen])
        render_remaining_time(session, company, by_id[chosen])
        _telemetry(session, company, by_id[chosen])
    back = st.session_state.get(BACK_STATE)
    if back and back[0] == company.id and back[1] == chosen:
        page_link("alerts", _("← Back to alert #{id}").format(id=back[2]), alert=back[2])


def _follow_link(company: CompanyRef, by_id: dict[int, Asset]) -> None:
    """Arriving from an alert's link: show that asset (of this company only) and offer the way back."""
    asset_id, alert_id = take_id_param("asset"), take_id_param("alert")
    if asset_id is None:
        return
    if asset_id not in by_id:
        # The same words for an asset of another company as for one that does not exist.
        st.warning(
            _("Ignored the link's `asset` parameter: {company} has no asset {id}.").format(
                company=company.name, id=asset_id
            )
        )
        return
    st.session_state[f"asset_pick_{company.id}"] = asset_id
    if alert_id is not None:
        st.session_state[BACK_STATE] = (company.id, asset_id, alert_id)


def site_names(session: Session, *, company_id: int) -> dict[int, str]:
    rows = session.execute(select(Site.id, Site.name, Site.slug).where(Site.company_id == company_id))
    return {i: name or slug for i, name, slug in rows}


def _asset_label(asset: Asset, sites: dict[int, str]) -> str:
    return f"{asset.name or asset.slug} · {sites.get(asset.site_id, '?')}"


def history_frame(alerts: list[Alert]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                _("alert"): f"#{a.id}",
                _("status"): status(a.status),
                _("severity"): severity(a.severity),
                _("opened at"): iso_local(a.opened_at),
                _("closed at"): iso_local(a.closed_at),
                _("closed by"): a.closed_by or "",
                _("failure mode"): a.failure_mode or "",
                _("action taken"): a.action_taken or "",
                _("downtime avoided (h)"): a.downtime_avoided_h,
                _("repair cost"): money(a.repair_cost) if a.repair_cost is not None else "",
                _("false alarm because"): a.false_alarm_reason or "",
            }
            for a in alerts
        ]
    )


def _history(session: Session, company: CompanyRef, asset: Asset) -> None:
    silent = asset.silent_period_min
    st.write(
        _("Class {cls} · criticality {n}").format(cls=asset.asset_class, n=asset.criticality)
        + (_(" · silent {n} min after closing").format(n=number(silent)) if silent is not None else "")
    )
    alerts = [a for a, _ in list_alerts(session, company_id=company.id, asset_ids=[asset.id])]
    if not alerts:
        st.info(_("No alerts for {asset} yet").format(asset=asset.name or asset.slug))
        return
    closed = [a for a in alerts if a.closed_at is not None]
    # Metrics wrap on a narrow screen; two per row keeps them readable on a phone.
    row1, row2 = st.columns(2), st.columns(2)
    row1[0].metric(_("alerts"), len(alerts))
    row1[1].metric(_("false alarms"), sum(a.status == "FALSE_ALARM" for a in closed))
    row2[0].metric(_("resolved"), sum(a.status == "RESOLVED" for a in closed))
    row2[1].metric(_("downtime avoided (h)"), number(sum(a.downtime_avoided_h or 0 for a in closed)))
    st.subheader(_("Alert history"))
    st.dataframe(history_frame(alerts), hide_index=True)


def _telemetry(session: Session, company: CompanyRef, asset: Asset) -> None:
    """The asset's sensors over a chosen range ending at its newest reading (the data's own clock)."""
    st.subheader(_("Telemetry"))
    # The words as options (not a format_func): see technician._filters.
    ranges = {_(name): seconds for name, seconds in RANGES.items()}
    label = st.selectbox(_("Range"), list(ranges), index=2, key=f"asset_range_{company.id}")
    end = latest_reading_ts(session, company_id=company.id, asset_id=asset.id)
    if end is None:
        st.info(_("No readings stored for {asset}").format(asset=asset.name or asset.slug))
        return
    start = end - ranges.get(label, RANGES["24 hours"])
    gaps = gaps_for_asset(session, company_id=company.id, asset_id=asset.id, start=start, end=end)
    telemetry_chart(
        chart_series(session, company_id=company.id, asset_id=asset.id, start=start, end=end),
        gaps=gaps,
        shown=(start, end),
    )


def level_caption(readings: pd.DataFrame) -> str:
    """Which level a chart shows, oldest first: raw, 1-minute aggregates, or coarser buckets."""
    levels = list(dict.fromkeys(readings["level"]))
    shown = [
        _(LEVELS[level])
        if level in LEVELS
        else _("{level} buckets computed from the stored readings").format(level=level)
        for level in levels
    ]
    band = "" if levels == ["raw"] else _("; line: mean of the Good readings, band: min to max")
    return _("Shown: {levels}{band}. Ranges over {n} h are bucketed.").format(
        levels=_(", then ").join(shown), band=band, n=RAW_SPAN_S // 3600
    )


def _times(ts: pd.Series) -> pd.Series:
    # Vega-Lite renders UTC instants in the viewer's own time zone.
    return pd.to_datetime(ts, unit="s", utc=True)


def gaps_caption(gaps: list[GapRow], shown: tuple[float, float] | None = None) -> str:
    """What the grey spans are: how many stretches were never stored, for how long in all (within the range
    shown), and why."""
    lo, hi = shown if shown is not None else (float("-inf"), float("inf"))
    distinct = {g.id: g for g in gaps}.values()
    seconds = sum(max(0.0, min(g.end_ts, hi) - max(g.start_ts, lo)) for g in distinct)
    reasons = ", ".join(dict.fromkeys(g.reason or "unknown" for g in gaps))
    spans = len(distinct)
    return ngettext(
        "Grey: data never stored ({n} gap, {min} min in all, not backfilled after an outage): {reasons}.",
        "Grey: data never stored ({n} gaps, {min} min in all, not backfilled after an outage): {reasons}.",
        spans,
    ).format(n=spans, min=number(seconds / 60, digits=1, fixed=True), reasons=reasons)


def telemetry_chart(
    readings: pd.DataFrame,
    sensors: list[dict] | None = None,
    *,
    gaps: list[GapRow] | None = None,
    shown: tuple[float, float] | None = None,
) -> None:
    """One small chart per sensor with its own y scale (units differ); the normal range shaded when known,
    and the stretches recorded as gaps (never stored) shaded grey, cut to ``shown`` (start, end).

    Separate charts, not a Vega-Lite facet: a faceted chart has a fixed width and overflows a phone
    screen, while a plain chart takes its container's width.
    """
    if readings.empty:
        st.info(_("No readings stored around this alert."))
        return
    df = readings.assign(time=_times(readings["ts"]))
    bucketed = "level" in df and (df["level"] != "raw").any()
    if "level" in df:
        st.caption(level_caption(df))
    ranges = {s["tag"]: (s["low"], s["high"]) for s in sensors or [] if "low" in s and "high" in s}
    spans = _gap_spans(gaps or [], shown)
    if gaps:
        st.caption(gaps_caption(gaps, shown))
    x, y = alt.X("time:T", title=None), alt.Y("value:Q", title=None, scale=alt.Scale(zero=False))
    for tag, part in df.groupby("tag", sort=False):
        line = alt.Chart(part).mark_line().encode(x=x, y=y, tooltip=["tag", "time:T", "value:Q"])
        chart = line
        if bucketed:  # what the mean hides: each bucket's spread
            spread = alt.Chart(part).mark_area(opacity=0.3).encode(x=x, y="min:Q", y2="max:Q")
            chart = alt.layer(spread, line)
        if tag in ranges:
            band = (
                alt.Chart(part.assign(low=ranges[tag][0], high=ranges[tag][1]))
                .mark_area(opacity=0.2, color="green")
                .encode(x=x, y="low:Q", y2="high:Q")
            )
            chart = alt.layer(band, chart)
        if str(tag) in spans:
            shade = (
                alt.Chart(spans[str(tag)])
                .mark_rect(opacity=0.25, color="grey")
                .encode(x="start:T", x2="end:T", tooltip=["reason", "start:T", "end:T"])
            )
            chart = alt.layer(shade, chart)
        st.altair_chart(chart.properties(title=str(tag), height=160), width="stretch")


def _gap_spans(gaps: list[GapRow], shown: tuple[float, float] | None) -> dict[str, pd.DataFrame]:
    """Per tag name: its gaps' start, end (cut to the range shown) and reason, as chart data."""
    lo, hi = shown if shown is not None else (float("-inf"), float("inf"))
    by_tag: dict[str, list[tuple[float, float, str]]] = {}
    for g in gaps:
        if g.tag is not None:
            by_tag.setdefault(g.tag, []).append((max(g.start_ts, lo), min(g.end_ts, hi), g.reason))
    return {
        tag: pd.DataFrame(
            {
                "start": _times(pd.Series([p[0] for p in parts])),
                "end": _times(pd.Series([p[1] for p in parts])),
                "reason": [p[2] for p in parts],
            }
        )
        for tag, parts in by_tag.items()
    }


def score_chart(scores: list[tuple[float, float, float]], alert: Alert) -> None:
    """The anomaly score around the alert: the alert's window shaded, the threshold as a red rule."""
    if not scores:
        st.info(_("No scores stored around this alert."))
        return
    df = pd.DataFrame(scores, columns=["ts", "score", "threshold"])
    df["time"] = _times(df["ts"])
    window = pd.DataFrame(
        {"start": _times(pd.Series([alert.opened_at])), "end": _times(pd.Series([alert.last_seen_at]))}
    )
    shade = alt.Chart(window).mark_rect(opacity=0.15, color="orange").encode(x="start:T", x2="end:T")
    line = (
        alt.Chart(df)
        .mark_line()
        .encode(x=alt.X("time:T", title=None), y=alt.Y("score:Q", title=_("score")), tooltip=["time:T", "score:Q"])
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [alert.threshold]}))
        .mark_rule(color="red", strokeDash=[4, 4])
        .encode(y="threshold:Q")
    )
    st.altair_chart(alt.layer(shade, line, rule).properties(height=300), width="stretch")
