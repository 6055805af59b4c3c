"""Member page: what predictive maintenance saved one company, and the alerts behind each euro.

Also holds the pieces the cluster page shares: the period picker, the figures with their
method, the cumulative chart.
"""

from __future__ import annotations

from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.errors import InvalidInput
from pdm.savings import report
from pdm.savings.coverage import coverage
from pdm.savings.figures import FORMULA, benchmark, member_view
from pdm.savings.periods import parse_period
from pdm.ui.common import CompanyRef, percent

METHOD = {
    "savings": f"Σ over alerts closed in the period. RESOLVED: {FORMULA}. Totals rounded once to cents (half up).",
    "precision": "RESOLVED / (RESOLVED + FALSE_ALARM) among alerts closed in the period.",
    "lead time": "Mean over RESOLVED alerts of (taken in hand, else closed) − opened.",
    "coverage": "readings / (tags × (⌊span / poll_interval_s⌋ + 1)), span = oldest stored reading → last read, "
    "cut to the period; readings = those stored in the period, raw or in the 1-minute aggregates retention "
    "folds them into (all time: every reading received); "
    "capped at 100 %. gaps, gap_s: stretches an outage took that backfill could not read back from the "
    "server's history (how many overlap the period, and the seconds of it in which any tag was missing, overlaps "
    "counted once); they are shaded grey on the charts.",
}


def money(value: Decimal) -> str:
    return f"{value:,}"


def period_input(key: str) -> str | None:
    """The period text box; returns the valid period (None: all time) or stops the page with the error."""
    text = st.text_input("Period", key=key, placeholder="2026Q4, 2026-11, 2026 — empty: all time")
    try:
        parse_period(text)
    except InvalidInput as exc:
        st.error(str(exc))
        st.stop()
    return text or None


def figures(view: dict) -> None:
    s = view["summary"]
    cols = st.columns(5)
    cols[0].metric("savings", money(s["savings"]), help=METHOD["savings"])
    cols[1].metric("resolved alerts", s["resolved"])
    cols[2].metric("false alarms", s["false_alarms"], help=f"inspection cost {money(s['false_alarm_cost'])}")
    cols[3].metric("precision", percent(s["precision"]), help=METHOD["precision"])
    lead = "—" if s["mean_lead_time_h"] is None else f"{s['mean_lead_time_h']:.1f} h"
    cols[4].metric("mean lead time", lead, help=METHOD["lead time"])
    st.caption(f"Method: {METHOD['savings']} Inputs are flagged *reported* (technician) or *default* (cost model).")


def cumulative_chart(view: dict) -> None:
    if not view["cumulative"]:
        st.info(f"No alerts closed in {view['period']}.")
        return
    df = pd.DataFrame(view["cumulative"])
    df["closed_at"] = pd.to_datetime(df["closed_at"])
    st.altair_chart(
        alt.Chart(df)
        .mark_line(point=True, interpolate="step-after")
        .encode(x=alt.X("closed_at:T", title="closed"), y=alt.Y("cumulative_savings:Q", title="cumulative savings")),
        width="stretch",
    )


def breakdown(view: dict, group: str, label: str) -> None:
    rows = [
        {
            label: name,
            "savings": money(s["savings"]),
            "resolved": s["resolved"],
            "false alarms": s["false_alarms"],
            "precision": percent(s["precision"]),
        }
        for name, s in view[group].items()
    ]
    if rows:
        st.subheader(f"Per {label}")
        st.table(pd.DataFrame(rows).set_index(label))


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title("Savings")
    period = period_input(f"savings_period_{company.id}")
    with make_session() as session:
        view = member_view(session, company_id=company.id, period=period)
        bench = benchmark(session, company_id=company.id, period=period)
        view["coverage"] = coverage(session, company_id=company.id, period=period)
    st.caption(f"{company.name} — {view['period']}")
    figures(view)
    cumulative_chart(view)
    breakdown(view, "by_month", "month")
    breakdown(view, "by_class", "asset class")
    _benchmark(bench)
    st.subheader("Alerts behind the figure")
    st.dataframe(pd.DataFrame([a.row() for a in view["alerts"]], columns=report.ALERT_COLUMNS), hide_index=True)
    st.subheader("Data coverage")
    st.caption(METHOD["coverage"])
    st.dataframe(pd.DataFrame(view["coverage"]).drop(columns=["company_id"], errors="ignore"), hide_index=True)
    name = f"savings-{company.slug}-{period or 'all'}"
    st.download_button("CSV of the alerts", report.to_csv(view), f"{name}.csv", "text/csv")
    st.download_button(
        "Printable report (HTML)", report.to_html(view, title=f"Savings — {company.name}"), f"{name}.html", "text/html"
    )


def _benchmark(bench: dict) -> None:
    st.subheader("Benchmark")
    if not bench["shown"]:
        st.info(bench["reason"])
        return
    st.markdown(
        f"Your savings rank **{bench['rank']} of {bench['companies']}** members "
        f"(median {money(bench['median'])}). Other members, anonymous: " + ", ".join(money(v) for v in bench["others"])
    )
