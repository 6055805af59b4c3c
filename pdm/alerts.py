"""Alerts: sustained high scores open one alert per asset; the UI and CLI read them here.

A score above the model's threshold for ``debounce_rows`` consecutive rows opens an alert
dated from the first row of that run. While an alert is open, further anomalous rows update
it (peak score, last seen, contributing sensors) instead of opening another; the database's
partial unique index makes that hold even when two scorers race on one asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pdm.errors import NotFound
from pdm.storage.tables import OPEN_STATUSES, Alert, Asset, Company, Score

SEVERITIES = ("low", "medium", "high", "critical")


def severity(peak_ratio: float, criticality: int) -> str:
    """Peak score over threshold, weighted by how critical the asset is (1–5).

    A ratio of 1.5 on a criticality-3 asset is "medium"; the same excess on a
    criticality-5 asset is "high", on a criticality-1 asset "low".
    """
    level = 0 if peak_ratio < 1.5 else 1 if peak_ratio < 3 else 2 if peak_ratio < 6 else 3
    level += {1: -1, 2: 0, 3: 0, 4: 1, 5: 1}.get(criticality, 0)
    return SEVERITIES[max(0, min(level, 3))]


@dataclass(frozen=True)
class ScoredRow:
    ts: float
    score: float
    sensors: list[dict]  # top contributors at this row: [{"tag", "contribution", "value"}]


def _recent_run(session: Session, *, asset_id: int, before: float, threshold: float, limit: int) -> tuple[int, float | None]:
    """How many rows just before ``before`` were above threshold, and when that run began."""
    stmt = (select(Score.ts, Score.score).where(Score.asset_id == asset_id, Score.ts < before)
            .order_by(Score.ts.desc()).limit(limit))
    run, start = 0, None
    for ts, score in session.execute(stmt):
        if score <= threshold:
            break
        run, start = run + 1, ts
    return run, start


def open_alert(session: Session, *, company_id: int, asset_id: int) -> Alert | None:
    stmt = select(Alert).where(Alert.company_id == company_id, Alert.asset_id == asset_id,
                               Alert.status.in_(OPEN_STATUSES))
    return session.execute(stmt).scalar_one_or_none()


def evaluate(session: Session, *, company_id: int, asset: Asset, model_version_id: int, threshold: float,
             rows: Sequence[ScoredRow], debounce_rows: int) -> Alert | None:
    """Open or update the asset's alert from newly scored rows (oldest first)."""
    if not rows:
        return None
    run, run_start = _recent_run(session, asset_id=asset.id, before=rows[0].ts, threshold=threshold,
                                 limit=debounce_rows)
    alert = open_alert(session, company_id=company_id, asset_id=asset.id)
    for row in rows:
        if row.score <= threshold:
            run, run_start = 0, None
            continue
        run, run_start = run + 1, run_start if run else row.ts
        if alert is not None:
            _update(alert, row, asset)
        elif run >= debounce_rows:
            alert = _open(session, company_id=company_id, asset=asset, model_version_id=model_version_id,
                          threshold=threshold, row=row, opened_at=run_start)
    return alert


def _update(alert: Alert, row: ScoredRow, asset: Asset) -> None:
    alert.last_seen_at = max(alert.last_seen_at, row.ts)
    if row.score > alert.peak_score:
        alert.peak_score = row.score
        alert.sensors = row.sensors
        alert.severity = severity(row.score / alert.threshold, asset.criticality)


def _open(session: Session, *, company_id: int, asset: Asset, model_version_id: int, threshold: float,
          row: ScoredRow, opened_at: float) -> Alert:
    alert = Alert(company_id=company_id, asset_id=asset.id, model_version_id=model_version_id, status="OPEN",
                  severity=severity(row.score / threshold, asset.criticality), opened_at=opened_at,
                  last_seen_at=row.ts, peak_score=row.score, threshold=threshold, sensors=row.sensors)
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        # Another scorer opened this asset's alert first: update theirs instead.
        alert = open_alert(session, company_id=company_id, asset_id=asset.id)
        _update(alert, row, asset)
    return alert


def list_alerts(session: Session, *, company_id: int, statuses: Sequence[str] | None = None) -> list[tuple[Alert, Asset]]:
    """A company's alerts with their asset, open ones first, most severe first, newest first."""
    stmt = (select(Alert, Asset).join(Asset, Asset.id == Alert.asset_id)
            .where(Alert.company_id == company_id))
    if statuses:
        stmt = stmt.where(Alert.status.in_(list(statuses)))
    rows = [tuple(r) for r in session.execute(stmt).all()]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    rows.sort(key=lambda r: (r[0].status not in OPEN_STATUSES, -rank.get(r[0].severity, 0), -r[0].opened_at))
    return rows


def get_alert(session: Session, *, company_id: int, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.company_id != company_id:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def score_series(session: Session, *, company_id: int, asset_id: int, start: float, end: float) -> list[tuple[float, float, float]]:
    stmt = (select(Score.ts, Score.score, Score.threshold)
            .where(Score.company_id == company_id, Score.asset_id == asset_id, Score.ts >= start, Score.ts <= end)
            .order_by(Score.ts))
    return [tuple(r) for r in session.execute(stmt)]


def open_counts_by_company(session: Session) -> list[tuple[str, str, int]]:
    """Cluster view: (company slug, company name, open alerts) — counts only, no member data."""
    stmt = (select(Company.slug, Company.name, func.count(Alert.id))
            .join(Alert, (Alert.company_id == Company.id) & Alert.status.in_(OPEN_STATUSES), isouter=True)
            .group_by(Company.id).order_by(Company.slug))
    return [tuple(r) for r in session.execute(stmt)]
