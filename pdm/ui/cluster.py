"""Cluster page: how much each member company has in the shared service, as counts only.

The cluster operator sees sizes and open-alert counts, never a member's readings or alerts.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import open_counts_by_company
from pdm.storage.tables import Asset, Company, Endpoint, Reading, Tag

COUNT_COLUMNS = ("assets", "tags", "endpoints", "readings", "open alerts")


def render(*, make_session: sessionmaker[Session]) -> None:
    st.title("Cluster")
    with make_session() as session:
        df = counts_frame(session)
    if df.empty:
        st.info("No companies yet.")
        return
    _totals(df)
    st.dataframe(df, hide_index=True)


def company_counts(session: Session) -> list[dict]:
    """Per company: assets, tags, endpoints and readings, one grouped count per table.

    Cross-tenant by design (cluster view); returns numbers only. Readings are counted
    through their tag because the hot table carries no company_id.
    """
    def grouped(column, *joins):
        stmt = select(column.label("company_id"), func.count().label("n"))
        for target, on in joins:
            stmt = stmt.join(target, on)
        return stmt.group_by(column).subquery()

    assets = grouped(Asset.company_id)
    tags = grouped(Tag.company_id)
    endpoints = grouped(Endpoint.company_id)
    readings = (select(Tag.company_id.label("company_id"), func.count().label("n"))
                .select_from(Reading).join(Tag, Tag.id == Reading.tag_id)
                .group_by(Tag.company_id).subquery())
    stmt = select(Company.slug, Company.name,
                  *(func.coalesce(sq.c.n, 0).label(name) for name, sq in
                    (("assets", assets), ("tags", tags), ("endpoints", endpoints), ("readings", readings))))
    for sq in (assets, tags, endpoints, readings):
        stmt = stmt.outerjoin(sq, sq.c.company_id == Company.id)
    return [dict(r._mapping) for r in session.execute(stmt.order_by(Company.slug))]


def counts_frame(session: Session) -> pd.DataFrame:
    open_alerts = {slug: n for slug, _name, n in open_counts_by_company(session)}
    rows = [{"company": r["name"] or r["slug"], "slug": r["slug"],
             **{k: int(r[k]) for k in ("assets", "tags", "endpoints", "readings")},
             "open alerts": int(open_alerts.get(r["slug"], 0))} for r in company_counts(session)]
    return pd.DataFrame(rows, columns=["company", "slug", *COUNT_COLUMNS])


def _totals(df: pd.DataFrame) -> None:
    columns = st.columns(1 + len(COUNT_COLUMNS))
    columns[0].metric("companies", len(df))
    for col, name in zip(columns[1:], COUNT_COLUMNS):
        col.metric(name, f"{int(df[name].sum()):,}")
