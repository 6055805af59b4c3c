"""Scoring one asset with its class's fleet model, through the asset's own normalisation.

The first time an asset without its own model is scored after its baseline window
(``FleetConfig.baseline_min`` minutes from its first reading) has passed, it is bound to the
class's active fleet model: a ``model_versions`` row of its company, detector ``fleet:<class>``,
inactive (so the asset's own model still trains), holding the asset's normaliser and no model.
Scores and alerts point at that row; a retrained fleet model gets a new binding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.config import DetectionConfig
from pdm.errors import ModelError
from pdm.models.base import TOP_SENSORS, BaseDetector, RunScores, ranges_by_tag, top_sensors
from pdm.models.features import smoothed_and_floor, wide_frame
from pdm.models.fleet import FLEET_COMPANY, active_fleet, fleet_label
from pdm.models.normalise import ClassNominal, Normaliser, baseline_normaliser
from pdm.models.persistence import load
from pdm.models.running import running_rows
from pdm.storage.catalog import get_asset
from pdm.storage.readings import asset_readings
from pdm.storage.tables import Asset, FleetModel, ModelVersion, Reading, Tag

log = logging.getLogger(__name__)


class FleetScorer:
    """A fleet detector seen through one asset's normaliser: it takes and reports the asset's units.

    It offers scoring what a detector does (``score_run``, ``explain_run``, ``top_sensors``); a
    fleet model scores each row on its own, so it carries no state between batches.
    """

    sequential = False

    def __init__(self, detector: BaseDetector, normaliser: Normaliser):
        self.detector, self.normaliser = detector, normaliser
        self.names = detector.tag_names()
        self.threshold_ = detector.threshold_

    def score_samples(self, frame: pd.DataFrame) -> np.ndarray:
        return self.detector.score_samples(self.normaliser.apply(frame[self.names]))

    def explain(self, frame: pd.DataFrame) -> np.ndarray:
        return self.detector.explain(self.normaliser.apply(frame[self.names]))

    def score_run(self, frame: pd.DataFrame, state: dict | None = None) -> RunScores:
        return RunScores(self.score_samples(frame), None, None, {"resume_row": None})

    def explain_run(self, frame: pd.DataFrame, run: RunScores, rows: np.ndarray) -> np.ndarray:
        return self.explain(frame[rows]) if rows.any() else np.empty((0, len(self.names)))

    def normal_ranges(self, shift: np.ndarray | None = None) -> dict[str, dict[str, float]]:
        """The fleet model's normal ranges, back in the asset's own units."""
        d = self.detector
        if not all(hasattr(d, a) for a in ("feature_low_", "feature_high_", "feature_median_")):
            return {}
        low, high, median = (
            self.normaliser.invert(v, self.names) for v in (d.feature_low_, d.feature_high_, d.feature_median_)
        )
        return ranges_by_tag(self.names, low, high, median)

    def top_sensors(
        self, row_shares: np.ndarray, values: np.ndarray, shift: np.ndarray | None = None, k: int = TOP_SENSORS
    ) -> list[dict]:
        return top_sensors(self.names, row_shares, values, self.normal_ranges(shift), k)


def fleet_model_for(
    session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig
) -> tuple[ModelVersion, Callable[[], FleetScorer | None]] | None:
    """The asset's binding to its class's fleet model and a function loading its scorer (None, logged,
    when the stored model cannot be loaded), or None when there is no fleet
    model for the class, the asset's baseline window is not complete, or it lacks a fleet tag."""
    if not detection.fleet.enabled:
        return None
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    fleet = active_fleet(session, asset_class=asset.asset_class)
    if fleet is None:
        return None
    binding = _binding(session, asset=asset, fleet=fleet) or _bind(
        session, asset=asset, fleet=fleet, detection=detection
    )
    if binding is None:
        return None

    def scorer() -> FleetScorer | None:
        try:
            detector, _meta = load(
                fleet.envelope,
                company=FLEET_COMPANY,
                asset=fleet_label(asset.asset_class),
                feature_names=list(fleet.feature_names),
            )
        except ModelError as exc:  # e.g. saved by another scikit-learn: the next fleet retraining replaces it
            log.warning(
                "fleet model %s v%d cannot be used for asset %s: %s", asset.asset_class, fleet.version, asset.slug, exc
            )
            return None
        return FleetScorer(detector, Normaliser.from_json(binding.metrics["normaliser"]))

    return binding, scorer


def _binding(session: Session, *, asset: Asset, fleet: FleetModel) -> ModelVersion | None:
    stmt = (
        select(ModelVersion)
        .where(
            ModelVersion.company_id == asset.company_id,
            ModelVersion.asset_id == asset.id,
            ModelVersion.detector == fleet_label(asset.asset_class),
        )
        .order_by(ModelVersion.version.desc())
    )
    for version in session.execute(stmt).scalars():
        if version.metrics.get("fleet_model_id") == fleet.id:
            return version
    return None


def _reading_span(session: Session, *, asset: Asset) -> tuple[float | None, float | None]:
    stmt = (
        select(func.min(Reading.ts), func.max(Reading.ts))
        .join(Tag, Tag.id == Reading.tag_id)
        .where(Tag.company_id == asset.company_id, Tag.asset_id == asset.id)
    )
    return tuple(session.execute(stmt).one())


def _baseline(session: Session, *, asset: Asset, names: list[str], fleet: FleetModel, detection: DetectionConfig):
    """The asset's first ``baseline_min`` minutes of running rows (pdm.models.running: a machine
    first read while stopped would otherwise take "stopped" as its own normal level), or None
    while it has fewer, or lacks a tag the class model needs; with the window it covers."""
    first, last = _reading_span(session, asset=asset)
    baseline_s = detection.fleet.baseline_min * 60.0
    if first is None or last < first + baseline_s:
        return None
    freq_s, smooth = float(fleet.metrics["freq_s"]), int(fleet.metrics["smooth_rows"])
    rule = detection.running_tag
    # Without a rule the window is the first baseline_min minutes; with one, it ends where enough
    # running rows have been seen, so everything read so far is needed (a cold start: little).
    end = first + baseline_s if rule is None else last
    tags = names if rule is None or rule in names else [*names, rule]
    long = asset_readings(session, company_id=asset.company_id, asset_id=asset.id, start=first, end=end, tags=tags)
    if long.empty:
        return None
    frame, floor = smoothed_and_floor(wide_frame(long, freq_s=freq_s), smooth)
    if frame.empty or not set(tags) <= set(frame.columns):
        return None  # the asset lacks a tag the class model needs (or has no good reading of it yet)
    if rule is None:
        return frame[names], first, end
    # As many running rows as the window holds on the grid: stops in between do not count.
    need = max(1, int(baseline_s // freq_s))
    frame = frame.loc[running_rows(frame, detection, floor)].iloc[:need]
    if len(frame) < need:
        return None  # not yet baseline_min minutes of running rows
    return frame[names], float(frame.index[0]), float(frame.index[-1])


def _bind(session: Session, *, asset: Asset, fleet: FleetModel, detection: DetectionConfig) -> ModelVersion | None:
    names = list(fleet.feature_names)
    found = _baseline(session, asset=asset, names=names, fleet=fleet, detection=detection)
    if found is None:
        return None
    baseline, trained_from, trained_to = found
    freq_s, smooth = float(fleet.metrics["freq_s"]), int(fleet.metrics["smooth_rows"])
    first = _reading_span(session, asset=asset)[0]
    assert first is not None  # a baseline was found, so the asset has readings
    normaliser = baseline_normaliser(
        baseline, ClassNominal.from_json(fleet.nominal), coverage=detection.fleet.baseline_guard_coverage
    )
    previous = session.execute(select(func.max(ModelVersion.version)).where(ModelVersion.asset_id == asset.id)).scalar()
    # Inactive on purpose: the asset's own model is trained as soon as its history allows, and
    # the active model always wins.
    binding = ModelVersion(
        company_id=asset.company_id,
        asset_id=asset.id,
        version=(previous or 0) + 1,
        detector=fleet_label(asset.asset_class),
        created_at=time.time(),
        trained_from=trained_from,
        trained_to=trained_to,
        threshold=float(fleet.threshold),
        feature_names=names,
        metrics={
            "fleet_model_id": fleet.id,
            "fleet_version": fleet.version,
            "freq_s": freq_s,
            "smooth_rows": smooth,
            "normaliser": normaliser.to_json(),
            "score_after": first - freq_s,
        },
        active=False,
        status="fleet",
        reason=f"cold start: scored by {fleet_label(asset.asset_class)} until its own model is trained",
        envelope=b"",
    )
    session.add(binding)
    session.flush()
    return binding


def version_label(session: Session, *, company_id: int, version_id: int | None) -> str:
    """How a score's or an alert's model is named to people: ``pca v2`` or ``fleet:<class> v3``."""
    if version_id is None:
        return "—"
    version = session.execute(
        select(ModelVersion).where(ModelVersion.company_id == company_id, ModelVersion.id == version_id)
    ).scalar_one_or_none()
    if version is None:
        return "—"
    if "fleet_version" in (version.metrics or {}):
        return f"{version.detector} v{version.metrics['fleet_version']}"
    return f"{version.detector} v{version.version}"
