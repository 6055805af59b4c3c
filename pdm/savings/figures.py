"""What predictive maintenance saved, traced to the alerts technicians closed.

Per alert closed as RESOLVED::

    savings = downtime_h × downtime_cost_per_hour + (emergency_repair_cost − planned_repair_cost)
              − intervention_cost

``downtime_h`` is the technician's ``downtime_avoided_h`` when reported, else the cost model's
typical unplanned downtime for the failure mode; ``intervention_cost`` is the reported
``repair_cost``, else the model's ``intervention_cost``. Every input is flagged "reported" or
"default". A FALSE_ALARM counts ``−false_alarm_inspection_cost``. Alerts belong to the period
in which they were closed (UTC).

Cost model, field by field: the asset's ``cost_overrides``, else its ``downtime_cost_per_hour``
column (when > 0, for the hourly rate only), else the class's ``cost_defaults``, else 0.

Rounding: amounts are exact Decimals built from the stored floats' shortest repr; a total is
the sum of unrounded amounts, rounded once to cents (ROUND_HALF_UP). Per-alert figures shown
in tables are each rounded the same way, so a column may differ from the total by a cent.

Periods are parsed by ``pdm.savings.periods``; data coverage (readings received over expected) lives in
``pdm.savings.coverage`` and is re-exported here for the pages that show both.

Lead time: from the alert opening to the intervention (``started_at``), or to its closing when
nobody took it in hand; averaged over RESOLVED alerts. Precision: RESOLVED / (RESOLVED + FALSE_ALARM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.config import CostModel
from pdm.savings.kanon import benchmark_allowed, hidden_reason
from pdm.savings.periods import parse_period
from pdm.storage.tables import CLOSED_STATUSES, Alert, Asset, Company, CostDefault

CENT = Decimal("0.01")
FORMULA = (
    "downtime_h × downtime_cost_per_hour + (emergency_repair_cost − planned_repair_cost) − intervention_cost; "
    "false alarm: − false_alarm_inspection_cost"
)
COST_FIELDS = (
    "downtime_cost_per_hour",
    "planned_repair_cost",
    "emergency_repair_cost",
    "intervention_cost",
    "false_alarm_inspection_cost",
)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: float | None) -> Decimal:
    return Decimal(repr(float(value or 0.0)))


# --- the cost model ---------------------------------------------------------------------------


def class_defaults(session: Session) -> dict[str, CostModel]:
    """Cluster-wide defaults per asset class (not tenant data)."""
    return {
        row.asset_class: CostModel.model_validate(row.costs) for row in session.execute(select(CostDefault)).scalars()
    }


def asset_costs(asset: Asset, defaults: dict[str, CostModel]) -> CostModel:
    """The asset's effective cost model: overrides win field by field over its class defaults."""
    base = defaults.get(asset.asset_class, CostModel()).model_dump(exclude_unset=True)
    if asset.downtime_cost_per_hour:
        base["downtime_cost_per_hour"] = asset.downtime_cost_per_hour
    over = dict(asset.cost_overrides or {})
    base["unplanned_downtime_h"] = {**base.get("unplanned_downtime_h", {}), **over.pop("unplanned_downtime_h", {})}
    return CostModel.model_validate({**base, **over})


def save_asset_costs(session: Session, *, company_id: int, asset_id: int, costs: CostModel) -> Asset:
    """Store an engineer's overrides (already validated by ``CostModel``) on one of the company's assets."""
    from pdm.storage.catalog import get_asset

    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    asset.cost_overrides = costs.model_dump(mode="json", exclude_defaults=True) or None
    return asset


# --- one alert --------------------------------------------------------------------------------


@dataclass
class AlertSavings:
    alert_id: int
    company_id: int
    asset: str
    asset_class: str
    status: str
    failure_mode: str | None
    opened_at: float
    closed_at: float
    lead_time_h: float
    amount: Decimal  # unrounded
    inputs: dict[str, tuple[float, str]] = field(default_factory=dict)  # name: (value, "reported"|"default")

    def row(self) -> dict:
        """A flat row for tables and CSV: every input with its source, and the rounded amount."""
        out = {
            "alert_id": self.alert_id,
            "asset": self.asset,
            "asset_class": self.asset_class,
            "status": self.status,
            "failure_mode": self.failure_mode or "",
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at),
            "lead_time_h": round(self.lead_time_h, 2),
            "savings": str(cents(self.amount)),
        }
        for name, (value, source) in self.inputs.items():
            out[name], out[f"{name}_source"] = value, source
        return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def alert_savings(alert: Alert, asset: Asset, costs: CostModel) -> AlertSavings:
    lead = ((alert.started_at or alert.closed_at) - alert.opened_at) / 3600.0
    result = AlertSavings(
        alert.id,
        alert.company_id,
        asset.slug,
        asset.asset_class,
        alert.status,
        alert.failure_mode,
        alert.opened_at,
        alert.closed_at,
        max(lead, 0.0),
        Decimal(0),
    )
    if alert.status == "FALSE_ALARM":
        result.inputs = {"false_alarm_inspection_cost": (costs.false_alarm_inspection_cost or 0.0, "default")}
        result.amount = -_dec(costs.false_alarm_inspection_cost)
        return result
    typical = costs.unplanned_downtime_h.get(alert.failure_mode or "", costs.default_downtime_h)
    inputs = {
        "downtime_h": (alert.downtime_avoided_h, "reported")
        if alert.downtime_avoided_h is not None
        else (typical or 0.0, "default"),
        "downtime_cost_per_hour": (costs.downtime_cost_per_hour or 0.0, "default"),
        "emergency_repair_cost": (costs.emergency_repair_cost or 0.0, "default"),
        "planned_repair_cost": (costs.planned_repair_cost or 0.0, "default"),
        "intervention_cost": (alert.repair_cost, "reported")
        if alert.repair_cost is not None
        else (costs.intervention_cost or 0.0, "default"),
    }
    v = {name: _dec(value) for name, (value, _) in inputs.items()}
    result.inputs = inputs
    result.amount = (
        v["downtime_h"] * v["downtime_cost_per_hour"]
        + (v["emergency_repair_cost"] - v["planned_repair_cost"])
        - v["intervention_cost"]
    )
    return result


def _closed_alerts(session: Session, company_id: int | None, period: str | None):
    start, end, _ = parse_period(period)
    stmt = (
        select(Alert, Asset)
        .join(Asset, Asset.id == Alert.asset_id)
        .where(Alert.status.in_(CLOSED_STATUSES), Alert.closed_at.is_not(None))
    )
    if company_id is not None:
        stmt = stmt.where(Alert.company_id == company_id)
    if start is not None:
        stmt = stmt.where(Alert.closed_at >= start, Alert.closed_at < end)
    return session.execute(stmt.order_by(Alert.closed_at, Alert.id)).all()


def _evaluate(session: Session, company_id: int | None, period: str | None) -> list[AlertSavings]:
    defaults = class_defaults(session)
    return [
        alert_savings(alert, asset, asset_costs(asset, defaults))
        for alert, asset in _closed_alerts(session, company_id, period)
    ]


def company_savings(session: Session, *, company_id: int, period: str | None = None) -> list[AlertSavings]:
    """One company's closed alerts with their savings, oldest closing first."""
    return _evaluate(session, company_id, period)


# --- aggregates -------------------------------------------------------------------------------


def summarize(items: list[AlertSavings]) -> dict:
    resolved = [i for i in items if i.status == "RESOLVED"]
    false = [i for i in items if i.status == "FALSE_ALARM"]
    closed = len(resolved) + len(false)
    return {
        "savings": cents(sum((i.amount for i in items), Decimal(0))),
        "gross_savings": cents(sum((i.amount for i in resolved), Decimal(0))),
        "false_alarm_cost": cents(-sum((i.amount for i in false), Decimal(0))),
        "resolved": len(resolved),
        "false_alarms": len(false),
        "precision": len(resolved) / closed if closed else None,
        "mean_lead_time_h": sum(i.lead_time_h for i in resolved) / len(resolved) if resolved else None,
    }


def _month(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def grouped(items: list[AlertSavings], key) -> dict[str, dict]:
    groups: dict[str, list[AlertSavings]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return {name: summarize(group) for name, group in sorted(groups.items())}


def cumulative(items: list[AlertSavings]) -> list[dict]:
    """Running total (cents) at each closing, for the chart; items are in closing order."""
    total, out = Decimal(0), []
    for item in sorted(items, key=lambda i: (i.closed_at, i.alert_id)):
        total += item.amount
        out.append({"closed_at": _iso(item.closed_at), "cumulative_savings": float(cents(total))})
    return out


def member_view(session: Session, *, company_id: int, period: str | None = None) -> dict:
    """Everything the member page and export show: the alerts behind the figure and their sums."""
    items = company_savings(session, company_id=company_id, period=period)
    return {
        "period": parse_period(period)[2],
        "formula": FORMULA,
        "summary": summarize(items),
        "by_month": grouped(items, lambda i: _month(i.closed_at)),
        "by_class": grouped(items, lambda i: i.asset_class),
        "cumulative": cumulative(items),
        "alerts": items,
    }


def cluster_view(session: Session, *, period: str | None = None) -> dict:
    """Cross-company by design (the cluster's view): aggregates only, never an alert row."""
    items = _evaluate(session, None, period)
    names = {c.id: c.name or c.slug for c in session.execute(select(Company)).scalars()}
    # Per company with names is a comparison: under the k rule it is left out of every page and export.
    shown = benchmark_allowed(len(names))
    return {
        "period": parse_period(period)[2],
        "formula": FORMULA,
        "summary": summarize(items),
        "by_company": {names[int(cid)]: s for cid, s in grouped(items, lambda i: str(i.company_id)).items()}
        if shown
        else {},
        "by_company_hidden": None if shown else hidden_reason(len(names)),
        "by_month": grouped(items, lambda i: _month(i.closed_at)),
        "by_class": grouped(items, lambda i: i.asset_class),
        "cumulative": cumulative(items),
    }


def benchmark(session: Session, *, company_id: int, period: str | None = None) -> dict:
    """Where the company stands among all members, without names; hidden under the k rule.

    Cross-company by design, but returns only the company's rank and the others' values sorted.
    """
    n = session.execute(select(func.count()).select_from(Company)).scalar_one()
    if not benchmark_allowed(n):
        return {"shown": False, "companies": n, "reason": hidden_reason(n)}
    per = {cid: summarize([]) for (cid,) in session.execute(select(Company.id))}
    for cid, summary in grouped(_evaluate(session, None, period), lambda i: str(i.company_id)).items():
        per[int(cid)] = summary
    ranked = sorted(per, key=lambda cid: per[cid]["savings"], reverse=True)
    return {
        "shown": True,
        "companies": n,
        "rank": ranked.index(company_id) + 1,
        "own": per[company_id]["savings"],
        "median": sorted(s["savings"] for s in per.values())[n // 2],
        "others": sorted((per[c]["savings"] for c in per if c != company_id), reverse=True),
    }
