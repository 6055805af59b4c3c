"""The asset page's "Remaining time" panel and its list of the limits coming within a week.

Both show what ``pdmctl assets forecast`` prints, from the same functions: ``pdm.models.health``
reads the health indicator and the limit (where past confirmed failures of the class were
stopped, the cluster's anonymity rule applied) and ``pdm.models.forecast`` fits the trend. Only
the words are this page's: the forecast's reason code (``pdm.models.forecast.Reason``) picks the
words in the session's language (``REASONS``) and its fields give the numbers, never its English
sentence.

The week's list runs every asset's forecast (one grouped query and one bootstrap each), too much
for the overview's tiles, which refresh every 15 s: it is its own section of the asset page, and
runs only when asked.
"""

from __future__ import annotations

import re

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from pdm.models.forecast import DAY_S, Forecast, Reason, TrendSettings
from pdm.models.health import (
    WINDOW_S,
    AssetForecast,
    asset_forecast,
    company_forecasts,
    failure_levels,
    indicator,
    latest_score,
)
from pdm.savings.kanon import K_MIN
from pdm.storage.tables import Asset
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import N_, _, ngettext, number, share, when

SOON_S = 7 * DAY_S
TRENDS = {"linear": N_("linear"), "quadratic": N_("quadratic"), "exponential": N_("exponential")}
# The words for each of pdm.models.forecast's reasons; the numbers come from the forecast's fields.
REASONS = {
    Reason.FEW_ROWS: N_("Not enough data: {n} scored rows in the window."),
    Reason.FEW_BINS: N_("Not enough data: {n} of {bins} time bins hold scores."),
    Reason.NOT_RISING: N_("No trend: the indicator is not clearly rising toward its limit."),
    Reason.POOR_FIT: N_("No trend: the best fit ({trend}) explains {pct} of the indicator's moves."),
    Reason.TOO_FAR: N_(
        "No trend: it would reach the limit beyond {horizon}, too far to forecast from {span} of scores."
    ),
    Reason.REACHED: N_("The indicator is at {level} of its limit now."),
}


def span(seconds: float) -> str:
    """A duration in words: days from 2 days (a tenth of a day below 10, where whole days would make a
    narrow interval look like none), hours from 2 h, else minutes."""
    if seconds >= 2 * DAY_S:
        return _("{n} days").format(n=number(seconds / DAY_S, digits=1 if seconds < 10 * DAY_S else 0))
    if seconds >= 2 * 3600:
        return _("{n} h").format(n=number(seconds / 3600, digits=0))
    return _("{n} min").format(n=number(max(seconds, 0) / 60, digits=0))


def forecast_words(f: Forecast) -> str:
    """What ``Forecast.sentence`` says, in the session's language."""
    if f.status == "forecast" and f.eta_s is not None and f.low_s is not None:
        high = span(f.high_s) if f.high_s is not None else _("more than {n}").format(n=span(f.horizon_s or 0))
        words = _("Limit in about {eta} ({pct} interval {low}–{high}).").format(
            eta=span(f.eta_s), pct=share(f.interval), low=span(f.low_s), high=high
        )
        trend = _("{trend} trend over the last {span}").format(
            trend=_(TRENDS.get(f.trend or "", f.trend or "")), span=span(f.based_on_s or 0)
        )
        return f"{words} {trend[:1].upper()}{trend[1:]}."
    reason = REASONS.get(f.code)
    if reason is None:
        return f.reason
    return _(reason).format(
        n=number(f.n_bins if f.code is Reason.FEW_BINS else f.n_rows, digits=0),
        bins=number(f.bins, digits=0),
        trend=_(TRENDS.get(f.trend or "", f.trend or "")),
        pct=share(f.r2),
        horizon=span(f.horizon_s or 0),
        span=span(f.based_on_s or 0),
        level=number(f.level),
    )


def limit_words(where: str) -> str:
    """``pdm.models.health.failure_levels``' "where the limit comes from", in the session's language."""
    if where.startswith("the alert threshold"):
        return _("the alert threshold (no confirmed failure of this class yet)")
    found = re.fullmatch(r"where (?P<n>\d+) confirmed failure\(s\) of this class (?P<who>.+) were stopped", where)
    if not found:
        return where
    n = int(found["n"])
    members = re.fullmatch(r"across (?P<m>\d+) members", found["who"])
    if members:
        return ngettext(
            "where {n} confirmed failure of this class across {m} members was stopped",
            "where {n} confirmed failures of this class across {m} members were stopped",
            n,
        ).format(n=n, m=members["m"])
    return ngettext(
        "where {n} confirmed failure of this class of this company was stopped",
        "where {n} confirmed failures of this class of this company were stopped",
        n,
    ).format(n=n)


def render_remaining_time(session: Session, company: CompanyRef, asset: Asset) -> None:
    """The indicator's recent trend, its limit, and how long until it gets there (or why no one can say)."""
    st.subheader(_("Remaining time"))
    levels, where = failure_levels(
        session, company_id=company.id, asset_class=asset.asset_class, pool_min_companies=K_MIN
    )
    f = asset_forecast(session, company_id=company.id, asset_id=asset.id, limit=levels)
    t, h = indicator(session, company_id=company.id, asset_id=asset.id, window_s=WINDOW_S)
    end = latest_score(session, company_id=company.id, asset_id=asset.id)
    limit = float(np.median(levels))
    if end is not None and len(t) >= TrendSettings().min_bins:
        _chart(t, h, f, limit, end)
    (st.success if f.status == "forecast" else st.info)(forecast_words(f))
    if end is not None:
        st.caption(_("Counted from the latest score, {when}, on the data's own clock.").format(when=when(end)))
    st.caption(
        _("Health indicator: the score over its alert threshold (1 = an alert opens). Limit {level}: {where}.").format(
            level=number(limit), where=limit_words(where)
        )
    )


def _times(ts: pd.Series | np.ndarray | list[float]) -> pd.Series:
    return pd.to_datetime(pd.Series(ts), unit="s", utc=True)


def _chart(t: np.ndarray, h: np.ndarray, f: Forecast, limit: float, end: float) -> None:
    df = pd.DataFrame({"time": _times(t), "indicator": h})
    x = alt.X("time:T", title=None)
    line = (
        alt.Chart(df)
        .mark_line()
        .encode(x=x, y=alt.Y("indicator:Q", title=_("health indicator")), tooltip=["time:T", "indicator:Q"])
    )
    rule = alt.Chart(pd.DataFrame({"limit": [limit]})).mark_rule(color="red", strokeDash=[4, 4]).encode(y="limit:Q")
    layers: list[alt.Chart] = [line, rule]
    if f.status == "forecast" and f.low_s is not None and f.horizon_s is not None:
        # The interval in which the limit is reached, ahead of the latest score, shaded.
        high = f.high_s if f.high_s is not None else f.horizon_s
        span_df = pd.DataFrame({"start": _times([end + f.low_s]), "end": _times([end + high])})
        layers.insert(0, alt.Chart(span_df).mark_rect(opacity=0.15, color="orange").encode(x="start:T", x2="end:T"))
    chart = alt.layer(*layers).properties(title=_("Health indicator and its limit"), height=220)
    st.altair_chart(chart, width="stretch")


def soon_frame(found: list[AssetForecast], horizon_s: float = SOON_S) -> pd.DataFrame:
    """The assets whose limit is reached now or forecast within ``horizon_s``, soonest first (as found)."""
    rows = [
        {
            _("asset"): a.name or a.asset,
            _("remaining time"): forecast_words(a.forecast),
            _("criticality"): a.criticality,
            _("limit"): limit_words(a.limit),
        }
        for a in found
        if a.forecast.status == "reached"
        or (a.forecast.status == "forecast" and a.forecast.eta_s is not None and a.forecast.eta_s <= horizon_s)
    ]
    return pd.DataFrame(rows, columns=[_("asset"), _("remaining time"), _("criticality"), _("limit")])


def render_soon(session: Session, company: CompanyRef) -> None:
    """On request: every asset of the company whose limit comes within 7 days, soonest first."""
    st.subheader(_("Limits within 7 days"))
    if not st.toggle(_("Forecast every asset of {company}").format(company=company.name), key=f"soon_{company.id}"):
        st.caption(_("Runs the forecast of each asset with a model, as `pdmctl assets forecast` does."))
        return
    found = company_forecasts(session, company_id=company.id, pool_min_companies=K_MIN)
    df = soon_frame(found)
    if df.empty:
        st.info(
            ngettext(
                "No limit within 7 days ({n} asset forecast).",
                "No limit within 7 days ({n} assets forecast).",
                len(found),
            ).format(n=len(found))
        )
        return
    st.dataframe(df, hide_index=True)
    st.caption(_("Counted from each asset's latest score, on the data's own clock."))
