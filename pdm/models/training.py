"""Fitting an asset's detector and storing it as a new version (which data, and whether the
new version replaces the active one, is ``pdm.models.lifecycle``'s business).

The same ``asset_frames`` builds the training matrix and the scoring matrix, so both
see identical resampling and smoothing.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pdm.config import DetectionConfig
from pdm.models import budget, make_detector
from pdm.models.choice import choose, non_finite, profile, said
from pdm.models.features import smoothed_and_floor, wide_frame
from pdm.models.persistence import dump, load
from pdm.storage.catalog import get_asset
from pdm.storage.readings import asset_readings
from pdm.storage.tables import Asset, Company, ModelVersion


def asset_frames(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    freq_s: float | None,
    smooth_rows: int,
    start: float | None = None,
    end: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The smoothed feature rows and, per row, each tag's lowest raw reading in its smoothing
    window (``pdm.models.running.running_rows`` decides running on that: a smoothed row that
    averages a stopped reading mixes two regimes and is neither learned from nor scored)."""
    # Raw readings only (never readings_1m): the window is bounded by retention.raw_days.
    long = asset_readings(session, company_id=company_id, asset_id=asset_id, start=start, end=end)
    # One timestamp has no spacing to infer a grid from: no rows yet, rather than an error.
    if long.empty or (freq_s is None and long["ts"].nunique() < 2):
        return pd.DataFrame(), pd.DataFrame()
    return smoothed_and_floor(wide_frame(long, freq_s=freq_s), smooth_rows)


def asset_detection(detection: DetectionConfig, asset: Asset) -> DetectionConfig:
    """The settings ``asset`` is trained and scored with (its class's and its own over ``detection``)."""
    return detection.for_asset(asset.asset_class, asset.detection, asset.silent_period_min)


def median_spacing(frame: pd.DataFrame) -> float:
    return float(np.median(np.diff(frame.index.to_numpy()))) if len(frame) > 1 else 1.0


def span_min(frame: pd.DataFrame) -> float:
    return (float(frame.index[-1]) - float(frame.index[0])) / 60.0 if len(frame) else 0.0


def active_model(session: Session, *, company_id: int, asset_id: int) -> ModelVersion | None:
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.company_id == company_id, ModelVersion.asset_id == asset_id, ModelVersion.active.is_(True))
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


# When the configured detector cannot take an asset (``pca`` on a one-tag probe, say), this one
# is fitted instead: it watches each tag on its own and fits any number of tags >= 1.
FALLBACK_DETECTOR = "mad"
AUTO = "auto"  # chosen per asset from its training data (pdm.models.choice)


def candidates(frame: pd.DataFrame, detection: DetectionConfig) -> tuple[list[tuple[str, str]], list[str]]:
    """Detectors to try on this asset, in order, each with why it is tried, and the tags they learn
    from (an automatic choice leaves stuck tags and counters out; any choice leaves out a tag that
    is not a finite number, with its reason, rather than failing every retrain on it)."""
    if detection.detector == AUTO:
        shape = profile(frame)
        return choose(shape), shape.usable
    bad = non_finite(frame)
    tags = [c for c in frame.columns if c not in bad]
    if not tags:
        raise ValueError("no tag to learn from: " + "; ".join(f"{t} {why}" for t, why in bad.items()))
    wanted = [(detection.detector, f"configured{said(bad)}")]
    if detection.detector != FALLBACK_DETECTOR:
        wanted.append((FALLBACK_DETECTOR, f"watches each tag on its own{said(bad)}"))
    return wanted, tags


def fit(frame: pd.DataFrame, detection: DetectionConfig, *, silent_min: float | None = None):
    """A detector fitted on ``frame`` (normal rows only) and its training metrics.

    The configured detector first; one that refuses the asset (too few tags, say) is named with
    its reason in ``metrics["choice"]`` and the next candidate is fitted. Only when every one
    refuses is the last refusal raised.

    The latest ``holdout_fraction`` of the rows is kept out of the fit and sets the threshold
    against the alarm budget (``pdm.models.budget``); with too few rows for that, the detector is
    fitted on all of them and keeps its own quantile threshold. ``silent_min``: the asset's silent
    period (default: the detection setting's).
    """
    freq_s = detection.resample_s or median_spacing(frame)
    silent = detection.silent_period_min if silent_min is None else silent_min
    tried, tags = candidates(frame, detection)
    held = calibration_rows(frame[tags], detection)
    train = frame.iloc[: len(frame) - len(held)][tags]
    refused: list[str] = []
    for name, why in tried:
        detector = make_detector(name)
        try:
            detector.fit(train)
        except ValueError as exc:
            refused.append(f"{name} refused: {exc}")
            if len(refused) == len(tried):
                raise ValueError("; ".join(refused)) from exc
            continue
        chosen = f"{name}: {why}"
        break
    calibration = calibrate_threshold(detector, held, detection, silent_min=silent)
    train_scores = detector.score_samples(train)
    metrics = {
        "rows": len(frame),  # fitted on, then calibrated on the latest of them
        "freq_s": freq_s,
        "smooth_rows": detection.smooth_rows,
        "debounce_rows": detection.debounce_rows,
        "train_alarm_rate": float(np.mean(train_scores > detector.threshold_)),
        "detector": name,
        "choice": "; ".join([*refused, chosen]),
        "threshold": calibration.as_metrics(),
    }
    return detector, metrics


def _worth_saying(choice: str) -> bool:
    """A refusal, an automatic choice or a tag left out is part of why this model exists; "configured" is not."""
    return "refused" in choice or "auto:" in choice or "left out:" in choice


def _reason(reason: str, metrics: dict) -> str:
    if _worth_saying(metrics.get("choice", "")):
        reason = f"{reason}; {metrics['choice']}"
    found = metrics.get("running") or {}
    return f"{reason}; running rule {found['reason']}" if found.get("tag") else reason


def calibration_rows(frame: pd.DataFrame, detection: DetectionConfig) -> pd.DataFrame:
    """The latest ``holdout_fraction`` of ``frame``, or none when that is too short to calibrate on."""
    held = frame.iloc[len(frame) - math.ceil(len(frame) * detection.holdout_fraction) :]
    return held if budget.enough_rows(len(held), detection.debounce_rows) else frame.iloc[:0]


def run_scores(detector, frame: pd.DataFrame) -> np.ndarray:
    """Scores of consecutive rows as the worker computes them (a sequential detector carries its
    state from row to row)."""
    return detector.score_run(frame, None).scores if detector.sequential else detector.score_samples(frame)


def calibrate_threshold(detector, held: pd.DataFrame, detection: DetectionConfig, *, silent_min: float):
    """Set ``detector.threshold_`` for the alarm budget on ``held``; returns the ``Calibration``."""
    ts = held.index.to_numpy(dtype=float)
    # A sequential detector's scores depend on its threshold (when it rebases): a second pass
    # scores with the calibrated one.
    for _ in range(2 if detector.sequential else 1):
        calibration = budget.calibrate(
            [(ts, run_scores(detector, held) if len(held) else np.array([]))],
            budget_per_month=detection.false_alerts_per_month,
            debounce_rows=detection.debounce_rows,
            silent_min=silent_min,
            fallback=float(detector.threshold_),
            return_to_normal_rows=detection.return_to_normal_rows,
        )
        detector.threshold_ = calibration.threshold
    return calibration


def store_version(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    detection: DetectionConfig,
    detector,
    frame: pd.DataFrame,
    metrics: dict,
    status: str,
    reason: str,
) -> ModelVersion:
    """Save ``detector`` as the asset's next version; ``status`` "active" retires the current one.
    A running rule found in the training rows (``frame.attrs["running"]``, pdm.models.running) is
    stored with it, for scoring to use."""
    if "running" in frame.attrs:
        metrics = {**metrics, "running": frame.attrs["running"]}
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    company_slug = session.get(Company, company_id).slug
    trained_from, trained_to = float(frame.index[0]), float(frame.index[-1])
    blob = dump(
        detector,
        company=company_slug,
        asset=asset.slug,
        detector_name=metrics.get("detector", detection.detector),
        trained_from=trained_from,
        trained_to=trained_to,
        metrics=metrics,
    )
    last = session.execute(
        select(func.max(ModelVersion.version)).where(
            ModelVersion.company_id == company_id, ModelVersion.asset_id == asset_id
        )
    ).scalar()
    number = (last or 0) + 1
    if status == "active":
        session.execute(
            update(ModelVersion)
            .where(
                ModelVersion.company_id == company_id, ModelVersion.asset_id == asset_id, ModelVersion.active.is_(True)
            )
            .values(active=False, status="retired")
        )
    version = ModelVersion(
        company_id=company_id,
        asset_id=asset_id,
        version=number,
        detector=metrics.get("detector", detection.detector),
        created_at=time.time(),
        trained_from=trained_from,
        trained_to=trained_to,
        threshold=float(detector.threshold_),
        feature_names=detector.tag_names(),
        metrics=metrics,
        active=status == "active",
        status=status,
        reason=_reason(reason, metrics),
        envelope=blob,
    )
    session.add(version)
    session.flush()
    return version


def load_version(session: Session, version: ModelVersion):
    company_slug = session.get(Company, version.company_id).slug
    asset = get_asset(session, company_id=version.company_id, asset_id=version.asset_id)
    detector, _envelope = load(
        version.envelope, company=company_slug, asset=asset.slug, feature_names=list(version.feature_names)
    )
    return detector
