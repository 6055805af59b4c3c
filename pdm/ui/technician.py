"""Technician page ("Alerts"): the company's alerts and, for one alert, what the sensors did."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import get_alert, list_alerts, score_series
from pdm.storage.catalog import get_asset
from pdm.storage.readings import asset_readings
from pdm.storage.tables import Alert, Asset
from pdm.ui.common import CompanyRef, iso_local, percent

# Enough context before the alert to see the sensors leave their normal band, and a little after.
BEFORE_S = 30 * 60
AFTER_S = 10 * 60


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title("Alerts")
    st.caption(company.name)
    _alerts(make_session, company)


def _top_sensors(sensors: list[dict] | None) -> str:
    return ", ".join(f"{s.get('tag', '?')} {percent(s.get('contribution'))}" for s in sensors or [])


def alerts_frame(rows: list[tuple[Alert, Asset]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "asset": asset.name or asset.slug,
        "status": alert.status,
        "severity": alert.severity,
        "opened at": iso_local(alert.opened_at),
        "last seen": iso_local(alert.last_seen_at),
        "peak / threshold": f"{alert.peak_score:.2f} / {alert.threshold:.2f}",
        "top sensors": _top_sensors(alert.sensors),
    } for alert, asset in rows])


def _label(alert: Alert, asset: Asset) -> str:
    return f"#{alert.id} · {asset.name or asset.slug} · {alert.severity} · {alert.status}"


# A fragment so an open browser tab picks up new alerts without reloading the whole app.
# It receives the session factory, never a session: a fragment rerun outlives the full run.
@st.fragment(run_every=5)
def _alerts(make_session: sessionmaker[Session], company: CompanyRef) -> None:
    with make_session() as session:
        rows = list_alerts(session, company_id=company.id)
        if not rows:
            st.info(f"No alerts for {company.name}")
            return
        st.dataframe(alerts_frame(rows), hide_index=True)
        labels = {alert.id: _label(alert, asset) for alert, asset in rows}
        chosen = st.selectbox("Alert details", list(labels), index=None, format_func=labels.get,
                              placeholder="Choose an alert to see its sensors",
                              # Per company: an alert id picked for one tenant must not follow to another.
                              key=f"alert_pick_{company.id}")
        if chosen is not None:
            _details(session, company, chosen)


def _details(session: Session, company: CompanyRef, alert_id: int) -> None:
    alert = get_alert(session, company_id=company.id, alert_id=alert_id)
    asset = get_asset(session, company_id=company.id, asset_id=alert.asset_id)
    st.subheader(f"{asset.name or asset.slug}: alert #{alert.id}")
    st.write(f"Contributing sensors: {_top_sensors(alert.sensors) or 'none recorded'}")
    # The window is in the data's own time (the alert's timestamps), not wall-clock "now":
    # replayed or simulated plants run on their own clocks.
    start, end = alert.opened_at - BEFORE_S, alert.last_seen_at + AFTER_S
    tags = [s["tag"] for s in alert.sensors or [] if s.get("tag")] or None
    readings = asset_readings(session, company_id=company.id, asset_id=asset.id, start=start, end=end, tags=tags)
    scores = score_series(session, company_id=company.id, asset_id=asset.id, start=start, end=end)
    left, right = st.columns(2)
    with left:
        st.markdown("**Telemetry**")
        _telemetry_chart(readings)
    with right:
        st.markdown("**Anomaly score**")
        _score_chart(scores, alert)


def _times(ts: pd.Series) -> pd.Series:
    # Vega-Lite renders UTC instants in the viewer's own time zone.
    return pd.to_datetime(ts, unit="s", utc=True)


def _telemetry_chart(readings: pd.DataFrame) -> None:
    if readings.empty:
        st.info("No readings stored around this alert.")
        return
    df = readings.assign(time=_times(readings["ts"]))
    # One row per sensor with its own y scale: units differ (mm/s next to °C).
    chart = (alt.Chart(df).mark_line()
             .encode(x=alt.X("time:T", title=None), y=alt.Y("value:Q", title=None),
                     color=alt.Color("tag:N", legend=None), tooltip=["tag", "time:T", "value:Q"])
             .properties(height=110)
             .facet(row=alt.Row("tag:N", title=None))
             .resolve_scale(y="independent"))
    st.altair_chart(chart)


def _score_chart(scores: list[tuple[float, float, float]], alert: Alert) -> None:
    if not scores:
        st.info("No scores stored around this alert.")
        return
    df = pd.DataFrame(scores, columns=["ts", "score", "threshold"])
    df["time"] = _times(df["ts"])
    window = pd.DataFrame({"start": _times(pd.Series([alert.opened_at])),
                           "end": _times(pd.Series([alert.last_seen_at]))})
    shade = alt.Chart(window).mark_rect(opacity=0.15, color="orange").encode(x="start:T", x2="end:T")
    line = alt.Chart(df).mark_line().encode(x=alt.X("time:T", title=None), y=alt.Y("score:Q", title="score"),
                                            tooltip=["time:T", "score:Q"])
    rule = (alt.Chart(pd.DataFrame({"threshold": [alert.threshold]}))
            .mark_rule(color="red", strokeDash=[4, 4]).encode(y="threshold:Q"))
    st.altair_chart(alt.layer(shade, line, rule).properties(height=300))
