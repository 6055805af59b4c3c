"""The model lifecycle: which data is normal, when an asset needs a new model, and whether a
new model (the challenger) replaces the active one (the champion).

Normal data, from the technicians' feedback:
- an alert closed RESOLVED was a real fault, and the repair may have changed the machine: the
  asset's baseline restarts at the latest such closing (re-learning after maintenance), so the
  fault's rows (from the start of its anomalous run to its closing) are never normal;
- a currently open alert's rows, from the start of its run, are not normal either;
- an alert closed FALSE_ALARM was normal operation the model did not know: its rows stay in.

Times compared with readings (alert opening, ``closed_data_at``) are on the data's clock, as in
``pdm.alerts.rules``; a model's age (``created_at``) is on the wall clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.alerts.rules import CLEAR_RATIO, data_clock
from pdm.config import DetectionConfig
from pdm.errors import ModelError
from pdm.models.budget import alerts_per_month
from pdm.models.running import earlier_rule, running_part
from pdm.models.training import (
    active_model,
    asset_detection,
    asset_frames,
    fit,
    load_version,
    run_scores,
    span_min,
    store_version,
)
from pdm.storage.catalog import all_assets, get_asset
from pdm.storage.tables import OPEN_STATUSES, Alert, ModelVersion, Score

ACTIVE, RETIRED, REJECTED = "active", "retired", "rejected"


@dataclass(frozen=True)
class Baseline:
    """Where the asset's normal data may start, and the windows inside it that are not normal."""

    start: float | None  # the latest RESOLVED closing: only later rows are normal
    resolved_alert: int | None
    excluded: tuple[tuple[float, float], ...]  # [from, to] of the open alerts' runs


def run_start(session: Session, *, company_id: int, alert: Alert) -> float:
    """When the anomalous run behind ``alert`` began: the rows just before its opening whose
    score stayed above the hysteresis level (0.9 × threshold) belong to the same drift."""
    last_calm = session.execute(
        select(func.max(Score.ts)).where(
            Score.company_id == company_id,
            Score.asset_id == alert.asset_id,
            Score.ts < alert.opened_at,
            Score.score <= Score.threshold * CLEAR_RATIO,
        )
    ).scalar()
    stmt = select(func.min(Score.ts)).where(
        Score.company_id == company_id, Score.asset_id == alert.asset_id, Score.ts < alert.opened_at
    )
    if last_calm is not None:
        stmt = stmt.where(Score.ts > last_calm)
    first = session.execute(stmt).scalar()
    return float(first) if first is not None else float(alert.opened_at)


def baseline(session: Session, *, company_id: int, asset_id: int) -> Baseline:
    # Closing on the data's clock (the asset's latest reading at closing), for alerts closed before
    # it was recorded the wall clock: on an accelerated or replayed plant the two differ.
    closed = func.coalesce(Alert.closed_data_at, Alert.closed_at)
    resolved = session.execute(
        select(Alert.id, closed.label("closed_at"))
        .where(
            Alert.company_id == company_id,
            Alert.asset_id == asset_id,
            Alert.status == "RESOLVED",
            Alert.closed_at.is_not(None),
        )
        .order_by(closed.desc())
        .limit(1)
    ).first()
    # Every RESOLVED alert's window, from its run's start to its closing, ends at or before the
    # latest closing, so starting there leaves them all out; only open alerts need a window.
    open_alerts = (
        session.execute(
            select(Alert).where(
                Alert.company_id == company_id, Alert.asset_id == asset_id, Alert.status.in_(OPEN_STATUSES)
            )
        )
        .scalars()
        .all()
    )
    excluded = tuple((run_start(session, company_id=company_id, alert=a), math.inf) for a in open_alerts)
    return Baseline(
        start=None if resolved is None else float(resolved.closed_at),
        resolved_alert=None if resolved is None else resolved.id,
        excluded=excluded,
    )


def normal_frame(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    detection: DetectionConfig,
    base: Baseline | None = None,
    after: float | None = None,
) -> pd.DataFrame:
    """The asset's feature rows that count as normal (oldest first), optionally only after ``after``."""
    base = base or baseline(session, company_id=company_id, asset_id=asset_id)
    starts = [t for t in (base.start, after) if t is not None]
    start = max(starts) if starts else None
    frame, floor = asset_frames(
        session,
        company_id=company_id,
        asset_id=asset_id,
        freq_s=detection.resample_s,
        smooth_rows=detection.smooth_rows,
        start=start,
    )
    if frame.empty:
        return frame
    ts = frame.index.to_numpy(dtype=float)
    bad = np.zeros(len(ts), dtype=bool) if start is None else ts <= start
    for lo, hi in base.excluded:
        bad |= (ts >= lo) & (ts <= hi)
    # A smoothed row averages the rows before it: one that saw an excluded row is not normal either.
    tainted = pd.Series(bad.astype(float)).rolling(detection.smooth_rows, min_periods=1).max().to_numpy() > 0
    earlier = earlier_rule(session, company_id=company_id, asset_id=asset_id)
    return running_part(frame, ~tainted, detection, earlier, floor)


def enough(frame: pd.DataFrame, detection: DetectionConfig) -> bool:
    return len(frame) >= detection.train_min_rows and span_min(frame) >= detection.train_min_span_min


def split_holdout(frame: pd.DataFrame, detection: DetectionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, the latest ``holdout_fraction`` of the rows) for a challenger."""
    held = max(1, math.ceil(len(frame) * detection.holdout_fraction))
    return frame.iloc[:-held], frame.iloc[-held:]


def held_out_alerts(detector, held: pd.DataFrame, threshold: float, detection: DetectionConfig, silent: float) -> float:
    """Alerts per 30 days the worker would open on the held-out normal rows: the alarm budget's figure."""
    ts = held.index.to_numpy(dtype=float)
    return alerts_per_month(
        ts,
        run_scores(detector, held),
        threshold,
        debounce_rows=detection.debounce_rows,
        silent_min=silent,
        return_to_normal_rows=detection.return_to_normal_rows,
    )


def _champion_alerts(
    session: Session, champion: ModelVersion, held: pd.DataFrame, detection: DetectionConfig, silent: float
) -> tuple[float | None, str]:
    """The champion's alerts per 30 days on the held-out rows, or None and why it cannot score them."""
    names = list(champion.feature_names)
    gone = sorted(set(names) - set(held.columns))
    if gone:
        return None, f"champion v{champion.version} needs tags {gone} that no longer report"
    try:
        detector = load_version(session, champion)
    except ModelError as exc:
        return None, f"champion v{champion.version} cannot be loaded ({exc})"
    return held_out_alerts(detector, held[names], float(champion.threshold), detection, silent), ""


def train_asset(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig) -> ModelVersion | None:
    """Train the asset's next version on its normal data; None when there is not enough yet.

    Without an active model the new one becomes active. Otherwise it is a challenger: trained
    without the latest ``holdout_fraction`` of the rows, then both are scored on those rows and
    the challenger replaces the champion only if the alerts it would open there per 30 days
    (the alarm budget's figure) are not more (a tie promotes it: it has seen the more recent
    data). A challenger that loses is kept, rejected, with the figures that decided it.
    """
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)  # NotFound, also another company's
    detection = asset_detection(detection, asset)
    silent = detection.silent_period_min
    base = baseline(session, company_id=company_id, asset_id=asset_id)
    frame = normal_frame(session, company_id=company_id, asset_id=asset_id, detection=detection, base=base)
    frame = frame.tail(detection.train_max_rows)
    after = (
        f"; trained on data after alert {base.resolved_alert} was resolved" if base.resolved_alert is not None else ""
    )
    champion = active_model(session, company_id=company_id, asset_id=asset_id)
    if champion is None:
        if not enough(frame, detection):
            return None
        detector, metrics = fit(frame, detection, silent_min=silent)
        return store_version(
            session,
            company_id=company_id,
            asset_id=asset_id,
            detection=detection,
            detector=detector,
            frame=frame,
            metrics=metrics,
            status=ACTIVE,
            reason="first model" + after,
        )
    train, held = split_holdout(frame, detection)
    if not enough(train, detection):
        return None
    detector, metrics = fit(train, detection, silent_min=silent)
    mine = held_out_alerts(detector, held, float(detector.threshold_), detection, silent)
    # Both score the same held-out rows, built with today's settings (resampling, smoothing).
    theirs, why_not = _champion_alerts(session, champion, held, detection, silent)
    metrics["holdout"] = {
        "rows": len(held),
        "from": float(held.index[0]),
        "to": float(held.index[-1]),
        "alerts_per_month": mine,
        "champion_version": champion.version,
        "champion_alerts_per_month": theirs,
    }
    figures = f"false alerts per 30 days on {len(held)} held-out rows {mine:.1f}"
    if theirs is None:
        status, reason = ACTIVE, why_not
    elif mine <= theirs:
        status, reason = ACTIVE, f"{figures} <= champion v{champion.version}'s {theirs:.1f}"
    else:
        status, reason = REJECTED, f"{figures} > champion v{champion.version}'s {theirs:.1f}"
    return store_version(
        session,
        company_id=company_id,
        asset_id=asset_id,
        detection=detection,
        detector=detector,
        frame=train,
        metrics=metrics,
        status=status,
        reason=reason + after,
    )


def _latest_version(session: Session, *, company_id: int, asset_id: int) -> ModelVersion | None:
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.company_id == company_id, ModelVersion.asset_id == asset_id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def asset_due(
    session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig, now: float | None = None
) -> str | None:
    """Why the asset needs a new version now, or None. ``now``: wall-clock time (model ages, beside
    the data clock)."""
    detection = asset_detection(detection, get_asset(session, company_id=company_id, asset_id=asset_id))
    champion = active_model(session, company_id=company_id, asset_id=asset_id)
    if champion is None:
        return "no active model"
    base = baseline(session, company_id=company_id, asset_id=asset_id)
    latest = _latest_version(session, company_id=company_id, asset_id=asset_id)
    if base.start is not None and champion.trained_from < base.start and latest.trained_from < base.start:
        # Until enough data after the repair exists, the current model stays.
        frame = normal_frame(session, company_id=company_id, asset_id=asset_id, detection=detection, base=base)
        if enough(split_holdout(frame, detection)[0], detection):
            return f"re-learn after alert {base.resolved_alert} was resolved"
        return None
    now = time.time() if now is None else now
    period = detection.retrain_after_h * 3600.0
    # The latest version's age too: a challenger just rejected waits a full period before the next.
    # Old on the wall clock, or on the data's: a replayed or accelerated plant moves days of data
    # through in minutes, and its machines change (drift, maintenance) on the data's clock.
    old_wall = now - champion.created_at >= period and now - latest.created_at >= period
    data_now = data_clock(session, company_id=company_id, asset_id=asset_id)
    old_data = (
        data_now is not None
        and min(data_now - champion.trained_to, data_now - (latest or champion).trained_to) >= period
    )
    if not (old_wall or old_data):
        return None
    new = normal_frame(
        session, company_id=company_id, asset_id=asset_id, detection=detection, base=base, after=champion.trained_to
    )
    if len(new) >= detection.train_min_rows:
        return f"model v{champion.version} is older than {detection.retrain_after_h:g} h"
    return None


def assets_due(session: Session, *, detection: DetectionConfig, now: float | None = None) -> list[tuple[int, int]]:
    """(company_id, asset_id) of every asset that needs a new version now."""
    return [
        (a.company_id, a.id)
        for a in all_assets(session)
        if asset_due(session, company_id=a.company_id, asset_id=a.id, detection=detection, now=now)
    ]


def shortage(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig) -> str:
    """Why ``train_asset`` found too little normal data, in one line."""
    detection = asset_detection(detection, get_asset(session, company_id=company_id, asset_id=asset_id))
    base = baseline(session, company_id=company_id, asset_id=asset_id)
    frame = normal_frame(session, company_id=company_id, asset_id=asset_id, detection=detection, base=base)
    if active_model(session, company_id=company_id, asset_id=asset_id) is not None:
        frame = split_holdout(frame, detection)[0]
        what = "training rows (besides the held-out share)"
    else:
        what = "rows"
    since = f" since alert {base.resolved_alert} was resolved" if base.resolved_alert is not None else ""
    return (
        f"needs {detection.train_min_rows} normal {what} over {detection.train_min_span_min:g} min{since}; "
        f"has {len(frame)} over {span_min(frame):.3g} min"
    )
