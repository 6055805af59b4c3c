"""Alerts: sustained high scores open one alert per asset; the UI and CLI read them here.

A score above the model's threshold for ``debounce_rows`` consecutive rows opens an alert
dated from the first row of that run. While an alert is open, further anomalous rows update
it (peak score, last seen, contributing sensors) instead of opening another; the database's
partial unique index makes that hold even when two scorers race on one asset.

Flicker is held off twice: a run, once started, only ends when the score falls below
``clear_ratio`` x threshold (hysteresis), and after an alert closes the asset stays silent
for its ``silent_period_min``. What people do with an alert (acknowledge, resolve with
feedback, ...) is in ``pdm.alerts.feedback``; notifications are queued in the same transaction (``pdm.alerts.notify``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.alerts import notify
from pdm.alerts.simulate import CLEAR_RATIO
from pdm.config import SEVERITIES, severity_rank
from pdm.config.detection import RETURN_TO_NORMAL_ROWS
from pdm.errors import NotFound
from pdm.storage.session import dialect_insert
from pdm.storage.tables import CLOSED_STATUSES, OPEN_STATUSES, Alert, AlertEvent, Asset, Company, Reading, Score, Tag

DEFAULT_SILENT_PERIOD_MIN = 30.0
# An excess that lasts this long is one level worse than its peak alone says.
LONG_EXCESS_S = 3600.0


def severity(peak_ratio: float, criticality: int, *, duration_s: float = 0.0) -> str:
    """Peak score over threshold, weighted by how critical the asset is (1–5) and how long it lasts.

    A ratio of 1.5 on a criticality-3 asset is "medium"; the same excess on a
    criticality-5 asset is "high", on a criticality-1 asset "low"; lasting an hour adds a level.
    Never decreases as peak and duration grow, so an open alert's severity cannot flicker.
    """
    level = 0 if peak_ratio < 1.5 else 1 if peak_ratio < 3 else 2 if peak_ratio < 6 else 3
    level += {1: -1, 2: 0, 3: 0, 4: 1, 5: 1}.get(criticality, 0)
    level += 1 if duration_s >= LONG_EXCESS_S else 0
    return SEVERITIES[max(0, min(level, 3))]


@dataclass(frozen=True)
class ScoredRow:
    ts: float
    score: float
    sensors: list[dict]  # top contributors at this row: [{"tag", "contribution", "value"}]


def _recent_run(
    session: Session, *, asset_id: int, before: float, threshold: float, clear: float, limit: int
) -> tuple[int, float | None]:
    """How many rows just before ``before`` belong to a run, and when that run began.

    A run begins above ``threshold`` and lasts while the score stays above ``clear``.
    """
    stmt = (
        select(Score.ts, Score.score)
        .where(Score.asset_id == asset_id, Score.ts < before)
        .order_by(Score.ts.desc())
        .limit(limit)
    )
    tail = []
    for ts, score in session.execute(stmt):
        if score <= clear:
            break
        tail.append((ts, score))
    # Oldest rows in the hysteresis band cannot start a run: drop them.
    while tail and tail[-1][1] <= threshold:
        tail.pop()
    return len(tail), (tail[-1][0] if tail else None)


def data_clock(session: Session, *, company_id: int, asset_id: int) -> float | None:
    """The asset's latest reading time: "now" on the data's own clock."""
    # One indexed max per tag (readings are keyed by tag and time), not a scan of the join.
    latest = select(func.max(Reading.ts)).where(Reading.tag_id == Tag.id).correlate(Tag).scalar_subquery()
    stmt = select(func.max(latest)).where(Tag.company_id == company_id, Tag.asset_id == asset_id)
    return session.execute(stmt).scalar()


def record_closing_data_time(session: Session, alert: Alert) -> None:
    """At closing, note where the asset's data clock stands; the silent period runs from there.

    Never earlier than the alert's last anomalous row, also when no reading is stored.
    """
    latest = data_clock(session, company_id=alert.company_id, asset_id=alert.asset_id)
    alert.closed_data_at = max(alert.last_seen_at, latest if latest is not None else float("-inf"))


def silent_until(session: Session, *, company_id: int, asset: Asset, default_min: float | None = None) -> float:
    """Until when (data time) no new alert may open on ``asset``: its last closing plus its silent period.

    Measured on the data's clock, not the wall clock's closing time: a plant replayed from the
    past is not silenced for ever, nor an accelerated simulated plant for only a few data minutes.
    Alerts closed before the data time was recorded count from their last anomalous row.
    """
    minutes = _silent_min(asset, default_min)
    stmt = select(func.max(func.coalesce(Alert.closed_data_at, Alert.last_seen_at))).where(
        Alert.company_id == company_id,
        Alert.asset_id == asset.id,
        Alert.status.in_(CLOSED_STATUSES),
        Alert.closed_at.is_not(None),
    )
    closed = session.execute(stmt).scalar()
    return float("-inf") if closed is None else closed + minutes * 60.0


def open_alert(session: Session, *, company_id: int, asset_id: int) -> Alert | None:
    stmt = select(Alert).where(
        Alert.company_id == company_id, Alert.asset_id == asset_id, Alert.status.in_(OPEN_STATUSES)
    )
    return session.execute(stmt).scalar_one_or_none()


def evaluate(
    session: Session,
    *,
    company_id: int,
    asset: Asset,
    model_version_id: int,
    threshold: float,
    rows: Sequence[ScoredRow],
    debounce_rows: int,
    silent_period_min: float | None = None,
    clear_ratio: float = CLEAR_RATIO,
    return_to_normal_rows: int = RETURN_TO_NORMAL_ROWS,
) -> Alert | None:
    """Open or update the asset's alert from newly scored rows (oldest first).

    An open alert whose excursion has stayed calm for ``return_to_normal_rows`` rows is back to
    normal (ISA-18.2): it stays in the technician's hands; a new debounced run after its silent
    period makes it active again as one more episode. Times are the data's own (row timestamps):
    the silent period compares them with data times, never with the wall clock.
    """
    if not rows:
        return None
    clear = threshold * clear_ratio
    run, run_start = _recent_run(
        session, asset_id=asset.id, before=rows[0].ts, threshold=threshold, clear=clear, limit=debounce_rows
    )
    alert = open_alert(session, company_id=company_id, asset_id=asset.id)
    silent_s = 60.0 * _silent_min(asset, silent_period_min)
    quiet_until = silent_until(session, company_id=company_id, asset=asset, default_min=silent_period_min)
    calm = _calm_rows(session, alert, before=rows[0].ts, limit=return_to_normal_rows)
    for row in rows:
        if not (row.score > threshold or (run and row.score > clear)):
            run, run_start, calm = 0, None, calm + 1
            if alert is not None and alert.normal_since is None and calm >= return_to_normal_rows:
                _return_to_normal(session, alert, row.ts)
            continue
        run, calm = run + 1, 0
        run_start = row.ts if run == 1 or run_start is None else run_start
        if alert is not None and alert.normal_since is None:
            _update(session, alert, row, asset)
        elif alert is not None:
            again = alert.last_seen_at + silent_s
            if run >= debounce_rows and row.ts >= again:
                _reactivate(session, alert, row, asset, active_since=max(run_start, again))
        elif run >= debounce_rows and row.ts >= quiet_until:
            alert = _open(
                session,
                company_id=company_id,
                asset=asset,
                model_version_id=model_version_id,
                threshold=threshold,
                row=row,
                opened_at=max(run_start, quiet_until),
            )
    return alert


def _silent_min(asset: Asset, default_min: float | None) -> float:
    if asset.silent_period_min is not None:
        return asset.silent_period_min
    return DEFAULT_SILENT_PERIOD_MIN if default_min is None else default_min


def _calm_rows(session: Session, alert: Alert | None, *, before: float, limit: int) -> int:
    """Scored rows since the open alert was last seen (each calm, or it would have been seen), up to ``limit``."""
    if alert is None or alert.normal_since is not None:
        return 0
    recent = (
        select(Score.ts)
        .where(Score.asset_id == alert.asset_id, Score.ts > alert.last_seen_at, Score.ts < before)
        .limit(limit)
        .subquery()
    )
    return int(session.execute(select(func.count()).select_from(recent)).scalar() or 0)


def _return_to_normal(session: Session, alert: Alert, ts: float) -> None:
    alert.normal_since = ts
    start = alert.active_since or alert.opened_at
    details = {"normal_since": ts, "active_since": start, "last_seen_at": alert.last_seen_at}
    _event(session, alert, kind="returned_to_normal", details=details)


def _reactivate(session: Session, alert: Alert, row: ScoredRow, asset: Asset, *, active_since: float) -> None:
    """The excursion is back: active again, one more episode, and the people told (whatever its severity)."""
    alert.normal_since = None
    alert.active_since = active_since
    alert.episodes = (alert.episodes or 1) + 1
    _event(session, alert, kind="reactivated", details={"active_since": active_since, "episode": alert.episodes})
    _update(session, alert, row, asset)
    notify.enqueue(session, alert=alert, asset=asset, event="reactivated")


def _severity(alert: Alert, asset: Asset) -> str:
    return severity(
        alert.peak_score / alert.threshold, asset.criticality, duration_s=alert.last_seen_at - alert.opened_at
    )


def _update(session: Session, alert: Alert, row: ScoredRow, asset: Asset) -> None:
    alert.last_seen_at = max(alert.last_seen_at, row.ts)
    if row.score > alert.peak_score:
        alert.peak_score = row.score
        if row.sensors:
            alert.sensors = row.sensors
    before = alert.severity
    alert.severity = _severity(alert, asset)
    if severity_rank(alert.severity) > severity_rank(before):
        _event(session, alert, kind="escalated", details={"from": before, "to": alert.severity})
        notify.enqueue(session, alert=alert, asset=asset, event="escalated", previous_severity=before)


def _event(session: Session, alert: Alert, *, kind: str, actor: str = "system", details: dict | None = None) -> None:
    session.add(
        AlertEvent(
            company_id=alert.company_id,
            alert_id=alert.id,
            at=time.time(),
            actor=actor,
            kind=kind,
            to_status=alert.status,
            details=details or {},
        )
    )


def _open(
    session: Session,
    *,
    company_id: int,
    asset: Asset,
    model_version_id: int,
    threshold: float,
    row: ScoredRow,
    opened_at: float,
) -> Alert:
    draft = Alert(opened_at=opened_at, last_seen_at=row.ts, peak_score=row.score, threshold=threshold)
    values = dict(
        active_since=opened_at,
        episodes=1,
        company_id=company_id,
        asset_id=asset.id,
        model_version_id=model_version_id,
        status="OPEN",
        severity=_severity(draft, asset),
        opened_at=opened_at,
        last_seen_at=row.ts,
        peak_score=row.score,
        threshold=threshold,
        sensors=row.sensors,
    )
    # ON CONFLICT DO NOTHING, not a savepoint: on pysqlite a SAVEPOINT before any write starts its own
    # transaction, and its RELEASE would commit the alert even if the scorer's transaction rolls back.
    alert_id = session.execute(
        dialect_insert(session, Alert).values(**values).on_conflict_do_nothing().returning(Alert.id)
    ).scalar()
    if alert_id is None:
        # Another scorer opened this asset's alert first (the partial unique index): update theirs instead.
        alert = open_alert(session, company_id=company_id, asset_id=asset.id)
        _update(session, alert, row, asset)
        return alert
    alert = session.get(Alert, alert_id)
    _event(session, alert, kind="opened", details={"severity": alert.severity, "peak_score": row.score})
    notify.enqueue(session, alert=alert, asset=asset, event="opened")
    return alert


def list_alerts(
    session: Session,
    *,
    company_id: int,
    statuses: Sequence[str] | None = None,
    site_ids: Sequence[int] | None = None,
    asset_ids: Sequence[int] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[tuple[Alert, Asset]]:
    """A company's alerts with their asset, open ones first, most severe first, newest first.

    ``since``/``until`` keep the alerts active at some point in that period.
    """
    stmt = select(Alert, Asset).join(Asset, Asset.id == Alert.asset_id).where(Alert.company_id == company_id)
    if statuses:
        stmt = stmt.where(Alert.status.in_(list(statuses)))
    if site_ids:
        stmt = stmt.where(Asset.site_id.in_(list(site_ids)))
    if asset_ids:
        stmt = stmt.where(Alert.asset_id.in_(list(asset_ids)))
    if since is not None:
        stmt = stmt.where(func.coalesce(Alert.closed_at, Alert.last_seen_at) >= since)
    if until is not None:
        stmt = stmt.where(Alert.opened_at <= until)
    rows = [tuple(r) for r in session.execute(stmt).all()]
    rows.sort(key=lambda r: (r[0].status not in OPEN_STATUSES, -severity_rank(r[0].severity), -r[0].opened_at))
    return rows


def get_alert(session: Session, *, company_id: int, alert_id: int, for_update: bool = False) -> Alert:
    # FOR UPDATE (PostgreSQL): two technicians acting at once see each other's step, not a stale status.
    alert = session.get(Alert, alert_id, with_for_update=for_update or None)
    if alert is None or alert.company_id != company_id:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def score_series(
    session: Session, *, company_id: int, asset_id: int, start: float, end: float
) -> list[tuple[float, float, float]]:
    stmt = (
        select(Score.ts, Score.score, Score.threshold)
        .where(Score.company_id == company_id, Score.asset_id == asset_id, Score.ts >= start, Score.ts <= end)
        .order_by(Score.ts)
    )
    return [tuple(r) for r in session.execute(stmt)]


def open_counts_by_company(session: Session) -> list[tuple[str, str, int]]:
    """Cluster view: (company slug, company name, open alerts) — counts only, no member data."""
    stmt = (
        select(Company.slug, Company.name, func.count(Alert.id))
        .join(Alert, (Alert.company_id == Company.id) & Alert.status.in_(OPEN_STATUSES), isouter=True)
        .group_by(Company.id)
        .order_by(Company.slug)
    )
    return [tuple(r) for r in session.execute(stmt)]
