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
from pdm.ui.i18n import N_, _, lang, number
from pdm.ui.i18n import money as in_money

# Marked here, translated where shown (``method``); {formula} is pdm.savings.figures.FORMULA.
METHOD = {
    "savings": N_("Σ over alerts closed in the period. RESOLVED: {formula}. Totals rounded once to cents (half up)."),
    "precision": N_("RESOLVED / (RESOLVED + FALSE_ALARM) among alerts closed in the period."),
    "lead time": N_("Mean over RESOLVED alerts of (taken in hand, else closed) − opened."),
    "coverage": N_(
        "readings / (tags × (⌊span / poll_interval_s⌋ + 1)), span = oldest stored reading → last read, "
        "cut to the period; readings = those stored in the period, raw or in the 1-minute aggregates retention "
        "folds them into (all time: every reading received); "
        "capped at 100 %. gaps, gap_s: stretches an outage took that backfill could not read back from the "
        "server's history (how many overlap the period, and the seconds of it in which any tag was missing, overlaps "
        "counted once); they are shaded grey on the charts."
    ),
}


def method(name: str) -> str:
    return _(METHOD[name]).format(formula=FORMULA)


def money(value: Decimal) -> str:
    """``€14,522.50`` / ``14 522,50 €``: the cost settings are in euros."""
    return in_money(value)


def period_input(key: str) -> str | None:
    """The period text box; returns the valid period (None: all time) or stops the page with the error."""
    text = st.text_input(_("Period"), key=key, placeholder=_("2026Q4, 2026-11, 2026 — empty: all time"))
    try:
        parse_period(text)
    except InvalidInput as exc:
        st.error(str(exc))
        st.stop()
    return text or None


def figures(view: dict) -> None:
    s = view["summary"]
    cols = st.columns(5)
    cols[0].metric(_("savings"), money(s["savings"]), help=method("savings"))
    cols[1].metric(_("resolved alerts"), s["resolved"])
    inspection = _("inspection cost {cost}").format(cost=money(s["false_alarm_cost"]))
    cols[2].metric(_("false alarms"), s["false_alarms"], help=inspection)
    cols[3].metric(_("precision"), percent(s["precision"]), help=method("precision"))
    hours = s["mean_lead_time_h"]
    lead = "—" if hours is None else _("{n} h").format(n=number(hours, digits=1, fixed=True))
    cols[4].metric(_("mean lead time"), lead, help=method("lead time"))
    st.caption(
        _("Method: {method} Inputs are flagged *reported* (technician) or *default* (cost model).").format(
            method=method("savings")
        )
    )


def cumulative_chart(view: dict) -> None:
    if not view["cumulative"]:
        st.info(_("No alerts closed in {period}.").format(period=view["period"]))
        return
    df = pd.DataFrame(view["cumulative"])
    df["closed_at"] = pd.to_datetime(df["closed_at"])
    st.altair_chart(
        alt.Chart(df)
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=alt.X("closed_at:T", title=_("closed")),
            y=alt.Y("cumulative_savings:Q", title=_("cumulative savings (€)")),
        ),
        width="stretch",
    )


# The breakdowns' groups and their headings.
PER = {
    N_("month"): N_("Per month"),
    N_("asset class"): N_("Per asset class"),
    N_("company"): N_("Per company"),
}


def breakdown(view: dict, group: str, label: str) -> None:
    rows = [
        {
            _(label): name,
            _("savings"): money(s["savings"]),
            _("resolved"): s["resolved"],
            _("false alarms"): s["false_alarms"],
            _("precision"): percent(s["precision"]),
        }
        for name, s in view[group].items()
    ]
    if rows:
        st.subheader(_(PER[label]))
        st.table(pd.DataFrame(rows).set_index(_(label)))


def render(*, make_session: sessionmaker[Session], company: CompanyRef) -> None:
    st.title(_("Savings"))
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
    st.subheader(_("Alerts behind the figure"))
    alerts = pd.DataFrame([a.row() for a in view["alerts"]], columns=report.ALERT_COLUMNS)
    st.dataframe(alerts.rename(columns=lambda c: report.column_label(c, lang())), hide_index=True)
    st.subheader(_("Data coverage"))
    st.caption(method("coverage"))
    st.dataframe(pd.DataFrame(view["coverage"]).drop(columns=["company_id"], errors="ignore"), hide_index=True)
    name = f"savings-{company.slug}-{period or 'all'}"
    st.download_button(_("CSV of the alerts"), report.to_csv(view, lang()), f"{name}.csv", "text/csv")
    title = _("Savings — {company}").format(company=company.name)
    html = report.to_html(view, title=title, lang=lang())
    st.download_button(_("Printable report (HTML)"), html, f"{name}.html", "text/html")


def _benchmark(bench: dict) -> None:
    st.subheader(_("Benchmark"))
    if not bench["shown"]:
        st.info(bench["reason"])
        return
    st.markdown(
        _("Your savings rank **{rank} of {n}** members (median {median}). Other members, anonymous: {others}").format(
            rank=bench["rank"],
            n=bench["companies"],
            median=money(bench["median"]),
            others=", ".join(money(v) for v in bench["others"]),
        )
    )
