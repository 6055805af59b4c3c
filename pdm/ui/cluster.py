"""Cluster page: each member's size in the shared service and what the service saved them.

The cluster operator sees counts, coverage and savings aggregates (per company, asset class
and month), never a member's readings or alert rows; every figure shows its method. Anything
per company by name is a comparison: with fewer than ``kanon.K_MIN`` companies only the
totals are shown, with the reason.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts.rules import open_counts_by_company
from pdm.savings import kanon, report
from pdm.savings.coverage import cluster_coverage
from pdm.savings.figures import cluster_view
from pdm.savings.periods import parse_period
from pdm.storage.readings import stored_counts
from pdm.storage.tables import Asset, Company, Endpoint, Tag
from pdm.ui import savings as savings_ui
from pdm.ui.common import percent
from pdm.ui.i18n import N_, _, hidden_reason, lang, number

COUNT_COLUMNS = ("assets", "tags", "endpoints", "readings", "open alerts")
# The columns' headings as shown (the frame keeps the English names the code and exports use).
HEADINGS = {
    "company": N_("company"),
    "slug": N_("slug"),
    "assets": N_("assets"),
    "tags": N_("tags"),
    "endpoints": N_("endpoints"),
    "readings": N_("readings"),
    "open alerts": N_("open alerts"),
    "data coverage": N_("data coverage"),
}
READINGS_METHOD = N_(
    "readings stored with a timestamp in the period (all time: every one stored), raw or folded "
    "into 1-minute aggregates once older than retention.raw_days; aggregates older than "
    "retention.aggregate_days are gone."
)


def render(*, make_session: sessionmaker[Session]) -> None:
    st.title(_("Cluster"))
    # One period for the whole page: the readings and coverage columns and the savings below.
    period = savings_ui.period_input("cluster_period")
    with make_session() as session:
        df = counts_frame(session, period=period)
    if df.empty:
        st.info(_("No companies yet."))
        return
    st.caption(_("Readings and data coverage: {period}").format(period=parse_period(period)[2]))
    _totals(df)
    if kanon.benchmark_allowed(len(df)):
        st.dataframe(df.rename(columns=lambda c: _(HEADINGS.get(str(c), str(c)))), hide_index=True)
        st.caption(
            _("Readings: {readings} Data coverage: {coverage}").format(
                readings=_(READINGS_METHOD), coverage=savings_ui.method("coverage")
            )
        )
    else:
        st.info(_("Per-company figures: {reason}").format(reason=hidden_reason(len(df))))
    _savings(make_session, period, len(df))


def _savings(make_session: sessionmaker[Session], period: str | None, n_companies: int) -> None:
    st.subheader(_("Savings"))
    with make_session() as session:
        view = cluster_view(session, period=period)
    savings_ui.figures(view)
    savings_ui.cumulative_chart(view)
    if view.get("by_company_hidden"):
        st.info(_("Savings per company: {reason}").format(reason=hidden_reason(n_companies)))
    savings_ui.breakdown(view, "by_company", "company")
    savings_ui.breakdown(view, "by_class", "asset class")
    savings_ui.breakdown(view, "by_month", "month")
    name = f"savings-cluster-{period or 'all'}"
    st.download_button(_("CSV (aggregates)"), report.to_csv(view, lang()), f"{name}.csv", "text/csv")
    title = _("Cluster savings")
    html = report.to_html(view, title=title, lang=lang())
    st.download_button(_("Printable report (HTML)"), html, f"{name}.html", "text/html")


def company_counts(session: Session, *, period: str | None = None) -> list[dict]:
    """Per company: assets, tags, endpoints, one grouped count per table, and the readings stored
    (in the period when given), raw or already folded into 1-minute aggregates.

    Cross-tenant by design (cluster view); returns numbers only.
    """

    def grouped(column, *joins):
        stmt = select(column.label("company_id"), func.count().label("n"))
        for target, on in joins:
            stmt = stmt.join(target, on)
        return stmt.group_by(column).subquery()

    assets = grouped(Asset.company_id)
    tags = grouped(Tag.company_id)
    endpoints = grouped(Endpoint.company_id)
    stmt = select(
        Company.id,
        Company.slug,
        Company.name,
        *(
            func.coalesce(sq.c.n, 0).label(name)
            for name, sq in (("assets", assets), ("tags", tags), ("endpoints", endpoints))
        ),
    )
    for sq in (assets, tags, endpoints):
        stmt = stmt.outerjoin(sq, sq.c.company_id == Company.id)
    start, end, _ = parse_period(period)
    readings = stored_counts(session, by="company", company_id=None, start=start, end=end)
    return [{**r._mapping, "readings": readings.get(r.id, 0)} for r in session.execute(stmt.order_by(Company.slug))]


def counts_frame(session: Session, *, period: str | None = None) -> pd.DataFrame:
    open_alerts = {slug: n for slug, _name, n in open_counts_by_company(session)}
    by_id = cluster_coverage(session, period=period)
    rows = [
        {
            "company": r["name"] or r["slug"],
            "slug": r["slug"],
            **{k: int(r[k]) for k in ("assets", "tags", "endpoints", "readings")},
            "open alerts": int(open_alerts.get(r["slug"], 0)),
            "data coverage": percent(by_id.get(r["id"])),
        }
        for r in company_counts(session, period=period)
    ]
    return pd.DataFrame(rows, columns=["company", "slug", *COUNT_COLUMNS, "data coverage"])


def _totals(df: pd.DataFrame) -> None:
    columns = st.columns(1 + len(COUNT_COLUMNS))
    columns[0].metric(_("companies"), len(df))
    for col, name in zip(columns[1:], COUNT_COLUMNS):
        col.metric(_(HEADINGS[name]), number(int(df[name].sum()), digits=0))
