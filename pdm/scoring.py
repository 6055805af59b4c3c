"""Scoring: run each asset's active model over readings it has not scored yet.

An asset without a model of its own yet is scored by its class's fleet model
(``pdm.models.fleet_scoring``) until its own model is trained.

New scores are stored, and the rows are handed to ``pdm.alerts`` with the sensors that
explain them, so an alert can say which sensors moved and how far.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm import alerts
from pdm.config import DetectionConfig
from pdm.models.fleet_scoring import fleet_model_for
from pdm.models.training import active_model, asset_features, load_version
from pdm.storage.catalog import get_asset
from pdm.storage.readings import insert_ignore
from pdm.storage.tables import Alert, Score

TOP_SENSORS = 3


def _last_scored(session: Session, *, company_id: int, asset_id: int) -> float | None:
    stmt = select(func.max(Score.ts)).where(Score.company_id == company_id, Score.asset_id == asset_id)
    return session.execute(stmt).scalar()


def _top_sensors(shares: np.ndarray, values: np.ndarray, names: list[str]) -> list[dict]:
    order = np.argsort(shares)[::-1][:TOP_SENSORS]
    return [{"tag": names[i], "contribution": round(float(shares[i]), 4), "value": round(float(values[i]), 4)}
            for i in order]


def _model_for(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig):
    """The asset's own active model, else its class's fleet model (cold start), if any; as the
    version row and a function that loads the detector (only called when there is something to score)."""
    version = active_model(session, company_id=company_id, asset_id=asset_id)
    if version is not None:
        return version, lambda: load_version(session, version)
    return fleet_model_for(session, company_id=company_id, asset_id=asset_id, detection=detection)


def score_asset(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig) -> Alert | None:
    """Score the asset's new rows; returns its open alert, if any, after this batch."""
    chosen = _model_for(session, company_id=company_id, asset_id=asset_id, detection=detection)
    if chosen is None:
        return None
    version, load_detector = chosen
    freq_s = float(version.metrics["freq_s"])
    smooth = int(version.metrics["smooth_rows"])
    # A fleet model also scores the asset's first rows (its baseline window).
    last = (_last_scored(session, company_id=company_id, asset_id=asset_id)
            or version.metrics.get("score_after", version.trained_to))
    # Enough history before ``last`` for the causal smoothing window to be full again.
    frame = asset_features(session, company_id=company_id, asset_id=asset_id, freq_s=freq_s,
                           smooth_rows=smooth, start=last - freq_s * (smooth + 3))
    names = list(version.feature_names)
    if frame.empty or not set(names) <= set(frame.columns):
        return None
    frame = frame.loc[frame.index > last, names]
    if frame.empty:
        return None
    detector = load_detector()
    if detector is None:  # a fleet model that cannot be loaded; logged where it was refused
        return None
    scores = detector.score_samples(frame)
    threshold = float(version.threshold)
    insert_ignore(session, Score.__table__, [
        {"asset_id": asset_id, "ts": float(ts), "company_id": company_id, "model_version_id": version.id,
         "score": float(s), "threshold": threshold} for ts, s in zip(frame.index, scores)])
    high = scores > threshold
    shares = detector.explain(frame[high]) if high.any() else np.empty((0, len(names)))
    share_rows = iter(shares)
    values = frame.to_numpy()
    rows = [alerts.ScoredRow(ts=float(ts), score=float(s),
                             sensors=alerts.add_normal_ranges(_top_sensors(next(share_rows), values[i], names),
                                                              detector, names) if high[i] else [])
            for i, (ts, s) in enumerate(zip(frame.index, scores))]
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    return alerts.evaluate(session, company_id=company_id, asset=asset, model_version_id=version.id,
                           threshold=threshold, rows=rows, debounce_rows=detection.debounce_rows,
                           silent_period_min=detection.silent_period_min)
