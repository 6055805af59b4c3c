"""What the members learned about each failure mode on each asset class, from their confirmed alerts.

Per (failure mode, asset class): how many confirmed cases and from how many companies, the typical
signature (the sensors and directions that carried those alerts, as in ``pdm.alerts.similar``), the
usual lead time (from the alert opening to the repair that closed it, on the data's clock), the
median repair cost and downtime avoided, and the actions that worked (the most frequent
"action taken", from the asking company and the companies that share their notes only).

Figures pool every member only once at least ``min_companies`` companies have confirmed cases of
that mode on that class (the cluster's anonymity rule); below that, an entry holds the asking
company's own cases, and says so.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.alerts.iso14224 import mechanism_label
from pdm.alerts.similar import signature
from pdm.storage.tables import Alert, Asset, Company, FailureMode


@dataclass(frozen=True)
class ModeKnowledge:
    failure_mode: str
    label: str
    iso14224: str
    asset_class: str
    cases: int
    companies: int
    pooled: bool  # False: the asking company's own cases only
    signature: list[tuple[str, float]]  # top sensor:direction shares
    lead_time_h: float | None  # median, alert opening to the repair
    repair_cost: float | None  # median
    downtime_avoided_h: float | None  # median
    actions: list[tuple[str, int]]

    def as_dict(self) -> dict:
        return asdict(self)


def knowledge(
    session: Session, *, company_id: int, min_companies: int, asset_class: str | None = None
) -> list[ModeKnowledge]:
    """One entry per (failure mode, asset class) with confirmed cases, most cases first."""
    stmt = (
        select(Alert, Asset.asset_class, Company.share_notes)
        .join(Asset, Asset.id == Alert.asset_id)
        .join(Company, Company.id == Alert.company_id)
        .where(Alert.status == "RESOLVED", Alert.failure_mode.is_not(None))
    )
    if asset_class is not None:
        stmt = stmt.where(Asset.asset_class == asset_class)
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for alert, cls, shares in session.execute(stmt):
        groups[(alert.failure_mode or "", cls)].append((alert, shares))
    modes = {m.code: m for m in session.scalars(select(FailureMode))}
    out = []
    for (code, cls), rows in groups.items():
        companies = {a.company_id for a, _ in rows}
        pooled = len(companies) >= min_companies
        used = rows if pooled else [(a, s) for a, s in rows if a.company_id == company_id]
        if used:
            out.append(_entry(code, cls, modes.get(code), used, len(companies) if pooled else 1, pooled, company_id))
    return sorted(out, key=lambda k: (-k.cases, k.failure_mode, k.asset_class))


def _entry(code: str, cls: str, mode, rows: list, companies: int, pooled: bool, company_id: int) -> ModeKnowledge:
    alerts = [a for a, _ in rows]
    return ModeKnowledge(
        failure_mode=code,
        label=mode.label if mode else code,
        iso14224=mechanism_label(mode.iso14224 if mode else None),
        asset_class=cls,
        cases=len(alerts),
        companies=companies,
        pooled=pooled,
        signature=_typical_signature(alerts),
        lead_time_h=_median([(a.closed_data_at - a.opened_at) / 3600 for a in alerts if a.closed_data_at is not None]),
        repair_cost=_median([a.repair_cost for a in alerts if a.repair_cost is not None]),
        downtime_avoided_h=_median([a.downtime_avoided_h for a in alerts if a.downtime_avoided_h is not None]),
        actions=_actions(rows, company_id),
    )


def _median(values: list[float]) -> float | None:
    return round(float(statistics.median(values)), 2) if values else None


def _typical_signature(alerts: list[Alert], top: int = 3) -> list[tuple[str, float]]:
    total: Counter[str] = Counter()
    for a in alerts:
        total.update(signature(a.sensors))
    return [(k, round(v / len(alerts), 2)) for k, v in total.most_common(top)]


def _actions(rows: list, company_id: int, top: int = 3) -> list[tuple[str, int]]:
    # Free text is a company's own words: only the asking company's and those that share their notes.
    said = Counter(
        a.action_taken.strip().lower()
        for a, shares in rows
        if a.action_taken and a.action_taken.strip() and (a.company_id == company_id or shares)
    )
    return said.most_common(top)
