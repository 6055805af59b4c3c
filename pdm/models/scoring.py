"""Scoring: run each asset's active model over readings it has not scored yet.

An asset without a model of its own yet is scored by its class's fleet model
(``pdm.models.fleet_scoring``) until its own model is trained.

New scores are stored, and the rows are handed to ``pdm.alerts.rules`` with the sensors that
explain them, so an alert can say which sensors moved and how far. A sequential detector
(``rebase``, whose baseline moves after an excursion has gone back) continues from where its
previous run left off (``detector_states``), so its scores do not depend on how often scoring ran.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.alerts import rules as alerts
from pdm.config import DetectionConfig
from pdm.models import DETECTORS
from pdm.models.fleet_scoring import fleet_model_for
from pdm.models.running import lookback_s, model_rule, running_rows
from pdm.models.training import active_model, asset_detection, asset_frames, load_version
from pdm.storage.catalog import get_asset
from pdm.storage.readings import insert_ignore
from pdm.storage.tables import Alert, DetectorState, ModelVersion, Score


def _last_scored(session: Session, *, company_id: int, asset_id: int) -> float | None:
    stmt = select(func.max(Score.ts)).where(Score.company_id == company_id, Score.asset_id == asset_id)
    return session.execute(stmt).scalar()


def _model_for(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig):
    """The asset's own active model, else its class's fleet model (cold start), if any; as the
    version row and a function that loads the detector (only called when there is something to score)."""
    version = active_model(session, company_id=company_id, asset_id=asset_id)
    if version is not None:
        return version, lambda: load_version(session, version)
    return fleet_model_for(session, company_id=company_id, asset_id=asset_id, detection=detection)


def score_asset(session: Session, *, company_id: int, asset_id: int, detection: DetectionConfig) -> Alert | None:
    """Score the asset's new rows; returns its open alert, if any, after this batch."""
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    detection = asset_detection(detection, asset)
    chosen = _model_for(session, company_id=company_id, asset_id=asset_id, detection=detection)
    if chosen is None:
        return None
    version, load_detector = chosen
    detection = model_rule(detection, version.metrics)  # a rule found at training, if the plant file has none
    # A fleet model also scores the asset's first rows (its baseline window).
    last = _last_scored(session, company_id=company_id, asset_id=asset_id) or version.metrics.get(
        "score_after", version.trained_to
    )
    # Rows up to ``since`` were scored or left out as stopped (which leaves no score).
    since = max(last, asset.considered_to or last)
    run = _run_state(session, version)
    resume = None if run is None else run.resume_ts
    names = list(version.feature_names)
    frame, latest = _rows_to_score(
        session, asset=asset, names=names, version=version, detection=detection, last=last, since=since, resume=resume
    )
    if frame is None:
        return None
    if latest is not None and latest > since:
        asset.considered_to = latest
    if not (frame.index > last).any():
        return None
    detector = load_detector()
    if detector is None:  # a fleet model that cannot be loaded; logged where it was refused
        return None
    threshold = float(version.threshold)
    # A sequential detector starts again at its resume row (a few rows already scored): only new rows are kept.
    scored = detector.score_run(frame, None if run is None else (run.state or None))
    if run is not None:
        _save_run_state(run, scored.state, frame.index)
    new = np.asarray(frame.index > last)
    high = new & (scored.scores > threshold)
    explained = iter(detector.explain_run(frame, scored, high))
    values = frame.to_numpy()
    insert_ignore(
        session,
        Score.__table__,
        [
            {
                "asset_id": asset_id,
                "ts": float(ts),
                "company_id": company_id,
                "model_version_id": version.id,
                "score": float(s),
                "threshold": threshold,
            }
            for ts, s in zip(frame.index[new], scored.scores[new])
        ],
    )
    rows = [
        alerts.ScoredRow(
            ts=float(frame.index[i]),
            score=float(scored.scores[i]),
            sensors=detector.top_sensors(
                next(explained), values[i], None if scored.shifts is None else scored.shifts[i]
            )
            if high[i]
            else [],
        )
        for i in np.flatnonzero(new)
    ]
    return alerts.evaluate(
        session,
        company_id=company_id,
        asset=asset,
        model_version_id=version.id,
        threshold=threshold,
        rows=rows,
        debounce_rows=detection.debounce_rows,
        silent_period_min=detection.silent_period_min,
        return_to_normal_rows=detection.return_to_normal_rows,
    )


def _rows_to_score(session: Session, *, asset, names, version, detection, last, since, resume):
    """The running rows to score (those after ``since``, and a sequential detector's rows again from
    ``resume``) and the latest row read, or (None, None) when the asset lacks a model tag.

    Rows in (``last``, ``since``] were left out as stopped by an earlier pass: not read again. Each
    read reaches back far enough for the causal smoothing window to be full and a recent restart known."""
    freq_s, smooth = float(version.metrics["freq_s"]), int(version.metrics["smooth_rows"])
    pad = max(freq_s * (smooth + 3), lookback_s(detection))

    def read(start, end=None):
        frame, floor = asset_frames(
            session,
            company_id=asset.company_id,
            asset_id=asset.id,
            freq_s=freq_s,
            smooth_rows=smooth,
            start=start - pad,
            end=end,
        )
        if frame.empty or not set(names) <= set(frame.columns):
            return None, None
        return frame.loc[running_rows(frame, detection, floor), names], float(frame.index[-1])  # stopped: not scored

    if resume is None or resume > last or since == last:
        # One read: from the last score (or the resume row, a few rows already scored) onwards.
        frame, latest = read(since if resume is None else min(since, resume))
        if frame is None:
            return None, None
        return frame.loc[(frame.index > since) if resume is None else (frame.index >= resume)], latest
    # A sequential detector's rows from its resume row to its last score, then the rows after the stop.
    tail, latest = read(since)
    if tail is None:
        return None, None
    head, _ = read(resume, end=last)
    parts = [tail.loc[tail.index > since]]
    if head is not None:
        parts.insert(0, head.loc[(head.index >= resume) & (head.index <= last)])
    return pd.concat(parts), latest


def _run_state(session: Session, version: ModelVersion) -> DetectorState | None:
    """Where a sequential detector (``rebase``) left off with this model version (a new, empty
    state on its first run); None for the others, which score every batch on its own."""
    detector_class = DETECTORS.get(version.detector)
    if detector_class is None or not detector_class.sequential:
        return None
    run = session.get(DetectorState, version.id)
    if run is None:
        run = DetectorState(
            model_version_id=version.id,
            company_id=version.company_id,
            asset_id=version.asset_id,
            resume_ts=None,
            state={},
            updated_at=time.time(),
        )
        session.add(run)
    return run


def _save_run_state(run: DetectorState, state: dict, index) -> None:
    row = state.pop("resume_row")
    run.resume_ts = None if row is None else float(index[row])
    run.state, run.updated_at = state, time.time()
