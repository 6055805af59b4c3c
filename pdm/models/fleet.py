"""Fleet models: one model per asset class, trained across companies, for assets without their own.

A new machine has too little history for a model of its own. Its class has plenty at other
member companies, so the cluster trains one model per class on the members' *normal* data,
each member normalised by its own location and the class's scale (``pdm.models.normalise``).

What crosses company lines is the model alone: a ``fleet_models`` row (no company) holding the
fitted detector's aggregates (only detectors whose state is aggregates are allowed, see
``FleetConfig.detector``) and the class's nominal values per tag (means and spreads over member
assets). A member's readings are read to train and never written anywhere else. An asset scored
by the fleet model gets a ``model_versions`` row of its own company (detector ``fleet:<class>``,
inactive, no envelope) holding only its own normalisation, so its scores and alerts name the model
they came from; once its own model is trained, that one is active and used instead.

Normal data of a member: the window its own active model was trained on (the rows that model
accepted as normal), minus the windows of its real or still-open alerts (a false alarm's window
was normal operation and stays).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pdm.config import DetectionConfig
from pdm.models import budget, make_detector
from pdm.models.normalise import ClassNominal, baseline_normaliser, member_normaliser, robust_location_scale
from pdm.models.persistence import dump, library_versions
from pdm.models.running import lookback_s, model_rule, running_rows
from pdm.models.training import active_model, asset_detection, asset_frames, run_scores
from pdm.storage.tables import OPEN_STATUSES, Alert, Asset, FleetModel, ModelVersion

log = logging.getLogger(__name__)

FLEET_COMPANY = "cluster"  # the envelope's owner: nobody's company
# Alert windows that were not normal operation; a FALSE_ALARM window was.
NOT_NORMAL_STATUSES = (*OPEN_STATUSES, "RESOLVED")
ALWAYS_RUNNING = DetectionConfig()  # no running_tag: every row counts


def fleet_label(asset_class: str) -> str:
    return f"fleet:{asset_class}"[:64]


# -- training data ---------------------------------------------------------------------------
def alert_windows(session: Session, *, company_id: int, asset_id: int) -> list[tuple[float, float]]:
    """[opened, closed] of the asset's open and resolved alerts (an open one lasts until now)."""
    # Closing on the data's clock where recorded (the wall clock differs on an accelerated plant).
    stmt = select(Alert.opened_at, func.coalesce(Alert.closed_data_at, Alert.closed_at)).where(
        Alert.company_id == company_id, Alert.asset_id == asset_id, Alert.status.in_(NOT_NORMAL_STATUSES)
    )
    return [(float(a), float("inf") if b is None else float(b)) for a, b in session.execute(stmt)]


def drop_windows(frame: pd.DataFrame, windows: list[tuple[float, float]]) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    ts = frame.index.to_numpy(dtype=float)
    for start, end in windows:
        keep &= ~((ts >= start) & (ts <= end))
    return frame.loc[keep]


def members(session: Session, *, asset_class: str) -> list[tuple[Asset, ModelVersion]]:
    """Assets of the class, in every company, whose own model is trained (so they have history)."""
    assets = session.execute(select(Asset).where(Asset.asset_class == asset_class).order_by(Asset.id)).scalars()
    out = []
    for asset in assets:
        version = active_model(session, company_id=asset.company_id, asset_id=asset.id)
        if version is not None:
            out.append((asset, version))
    return out


def normal_frame(
    session: Session, asset: Asset, version: ModelVersion, *, freq_s: float, smooth_rows: int, rule=ALWAYS_RUNNING
) -> pd.DataFrame:
    """The member's rows inside its own model's training window, minus its alert windows and the
    rows its running ``rule`` (the member's detection settings) leaves out, as its own model did."""
    frame, floor = asset_frames(
        session,
        company_id=asset.company_id,
        asset_id=asset.id,
        freq_s=freq_s,
        smooth_rows=smooth_rows,
        start=version.trained_from - lookback_s(rule),
    )
    if frame.empty:
        return frame
    frame = frame.loc[running_rows(frame, rule, floor)]
    frame = frame.loc[(frame.index >= version.trained_from) & (frame.index <= version.trained_to)]
    return drop_windows(frame, alert_windows(session, company_id=asset.company_id, asset_id=asset.id))


# -- training --------------------------------------------------------------------------------
def active_fleet(session: Session, *, asset_class: str) -> FleetModel | None:
    stmt = (
        select(FleetModel)
        .where(FleetModel.asset_class == asset_class, FleetModel.active.is_(True))
        .order_by(FleetModel.version.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def _why_not_eligible(frames: dict, company_of: dict, detection: DetectionConfig) -> str | None:
    companies = {company_of[a] for a in frames}
    cfg = detection.fleet
    if len(companies) < cfg.min_companies:
        return f"members from {len(companies)} company(ies), need {cfg.min_companies}"
    if len(frames) < cfg.min_assets:
        return f"{len(frames)} member asset(s) with normal data, need {cfg.min_assets}"
    return None


def train_fleet(session: Session, *, asset_class: str, detection: DetectionConfig) -> FleetModel | None:
    """A new fleet model version for the class, the current one when its members have not
    changed, or None when the class has too few members (logged with the reason)."""
    detection = detection.for_asset(asset_class)  # the class's alarm budget, debounce, ...
    pairs = members(session, asset_class=asset_class)
    if not pairs:
        return None
    freq_s = detection.resample_s or float(np.median([float(v.metrics["freq_s"]) for _, v in pairs]))
    frames, company_of = {}, {}
    for asset, version in pairs:
        rule = model_rule(asset_detection(detection, asset), version.metrics)
        try:  # a running_tag that is not one of its tags: its own training says so too
            frame = normal_frame(session, asset, version, freq_s=freq_s, smooth_rows=detection.smooth_rows, rule=rule)
        except ValueError as exc:
            log.info("fleet %s leaves out member %s: %s", asset_class, asset.slug, exc)
            continue
        if len(frame) >= detection.train_min_rows:
            frames[asset.id] = frame.tail(detection.train_max_rows)
            company_of[asset.id] = asset.company_id
    reason = _why_not_eligible(frames, company_of, detection)
    features = sorted(set.intersection(*(set(f.columns) for f in frames.values()))) if frames else []
    if reason is None and not features:
        reason = "members share no tag name"
    if reason is not None:
        log.info("no fleet model for class %s: %s", asset_class, reason)
        return None
    # What the model would be trained on: members, their models, the rows left after their alerts.
    sources = _digest(
        [(a.id, v.id, len(frames[a.id]), float(frames[a.id].index[-1])) for a, v in pairs if a.id in frames],
        features,
        freq_s,
        detection,
    )
    current = active_fleet(session, asset_class=asset_class)
    if current is not None and current.metrics.get("sources") == sources:
        return current
    return _fit_and_store(
        session,
        asset_class,
        {a: f[features] for a, f in frames.items()},
        company_of,
        freq_s=freq_s,
        sources=sources,
        detection=detection,
    )


def _digest(sources, features, freq_s, detection) -> str:
    # Library versions too: after an upgrade the stored model may no longer load, so retrain it.
    # The budget's settings too: they set the threshold.
    budget_settings = [detection.false_alerts_per_month, detection.debounce_rows, detection.silent_period_min]
    key = json.dumps(
        [
            sources,
            features,
            freq_s,
            detection.fleet.detector,
            detection.smooth_rows,
            budget_settings,
            library_versions(),
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _pool(frames: list[pd.DataFrame]) -> tuple[ClassNominal, pd.DataFrame]:
    stats = [robust_location_scale(f) for f in frames]
    nominal = ClassNominal.from_members([loc for loc, _ in stats], [sc for _, sc in stats])
    return nominal, pd.concat([member_normaliser(f, nominal).apply(f) for f in frames], ignore_index=True)


def held_out_scores(frames: list[pd.DataFrame], *, detection: DetectionConfig) -> list[budget.Segment]:
    """Each member scored by a model of the others, normalised from its first minutes as a new
    asset is: how the fleet model scores a healthy machine it has never seen (times, scores)."""
    scores = []
    baseline_s = detection.fleet.baseline_min * 60.0
    for i, held in enumerate(frames):
        nominal, pooled = _pool(frames[:i] + frames[i + 1 :])
        detector = make_detector(detection.fleet.detector).fit(pooled)
        baseline = held.loc[held.index <= held.index[0] + baseline_s]
        normaliser = baseline_normaliser(baseline, nominal, coverage=detection.fleet.baseline_guard_coverage)
        scores.append((held.index.to_numpy(dtype=float), run_scores(detector, normaliser.apply(held))))
    return scores


def _fit_and_store(
    session: Session,
    asset_class: str,
    frames: dict[int, pd.DataFrame],
    company_of: dict,
    *,
    freq_s: float,
    sources: str,
    detection: DetectionConfig,
) -> FleetModel:
    nominal, pooled = _pool(list(frames.values()))
    detector = make_detector(detection.fleet.detector).fit(pooled)
    held_out = held_out_scores(list(frames.values()), detection=detection)
    # The threshold must hold for machines the model has never seen, not only for its members:
    # the alarm budget is counted on each member scored by a model of the others.
    unseen = float(np.quantile(np.concatenate([v for _, v in held_out]), detector.threshold_quantile))
    calibration = budget.calibrate(
        held_out,
        budget_per_month=detection.false_alerts_per_month,
        debounce_rows=detection.debounce_rows,
        silent_min=detection.silent_period_min,
        fallback=max(detector.threshold_, unseen * detector.threshold_margin),
        return_to_normal_rows=detection.return_to_normal_rows,
    )
    detector.threshold_ = calibration.threshold
    trained_from = min(float(f.index[0]) for f in frames.values())
    trained_to = max(float(f.index[-1]) for f in frames.values())
    metrics = {
        "companies": len(set(company_of.values())),
        "assets": len(frames),
        "rows": len(pooled),
        "freq_s": freq_s,
        "smooth_rows": detection.smooth_rows,
        "sources": sources,
        "train_alarm_rate": float(np.mean(detector.score_samples(pooled) > detector.threshold_)),
        "threshold": calibration.as_metrics(),
    }
    blob = dump(
        detector,
        company=FLEET_COMPANY,
        asset=fleet_label(asset_class),
        detector_name=detection.fleet.detector,
        trained_from=trained_from,
        trained_to=trained_to,
        metrics=metrics,
    )
    last = session.execute(select(func.max(FleetModel.version)).where(FleetModel.asset_class == asset_class)).scalar()
    session.execute(update(FleetModel).where(FleetModel.asset_class == asset_class).values(active=False))
    model = FleetModel(
        asset_class=asset_class,
        version=(last or 0) + 1,
        detector=detection.fleet.detector,
        created_at=time.time(),
        trained_from=trained_from,
        trained_to=trained_to,
        threshold=float(detector.threshold_),
        feature_names=list(pooled.columns),
        nominal=nominal.to_json(),
        metrics=metrics,
        active=True,
        envelope=blob,
    )
    session.add(model)
    session.flush()
    log.info(
        "fleet model %s v%d: %d assets of %d companies, %d rows",
        asset_class,
        model.version,
        metrics["assets"],
        metrics["companies"],
        metrics["rows"],
    )
    return model


def train_fleets(session: Session, *, detection: DetectionConfig) -> list[FleetModel]:
    """Train (or keep) every class's fleet model; one class failing does not stop the others."""
    if not detection.fleet.enabled:
        return []
    classes = session.execute(select(Asset.asset_class).distinct().order_by(Asset.asset_class)).scalars().all()
    out = []
    for asset_class in classes:
        # No savepoint per class: on SQLite it would open a read snapshot that the ingest's writes
        # make stale, and the final write would fail at once. A refusal comes from ``fit``, before
        # anything is written, so the session stays usable for the next class.
        try:
            model = train_fleet(session, asset_class=asset_class, detection=detection)
        except ValueError as exc:  # a detector refusing the pooled data: reported, the rest go on
            log.warning("fleet model for class %s not trained: %s", asset_class, exc)
            continue
        if model is not None:
            out.append(model)
    return out
