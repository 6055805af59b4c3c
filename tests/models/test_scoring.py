"""Scoring in runs: a sequential detector (``rebase``) continues where its previous run left off."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from pdm.models.training import active_model, asset_frames, load_version
from pdm.storage.tables import DetectorState, Score
from tests.helpers.lifecycle import DETECTION, Plant

REBASE = DETECTION.model_copy(update={"detector": "rebase"})
LOAD = (0.0, 0.2)  # a steady operating point: the level an excursion settles at is then clear


@pytest.fixture
def plant(sessions) -> Plant:
    return Plant(sessions)


def _scores(plant) -> np.ndarray:
    with plant.sessions() as s:
        return np.array(
            s.execute(select(Score.score).where(Score.asset_id == plant.aid).order_by(Score.ts)).scalars().all()
        )


def _score(plant) -> None:
    from pdm.models.scoring import score_asset

    with plant.sessions.begin() as s:
        score_asset(s, company_id=plant.cid, asset_id=plant.aid, detection=REBASE)


def _one_call(plant) -> np.ndarray:
    """The whole run since training scored in one call."""
    with plant.sessions() as s:
        version = active_model(s, company_id=plant.cid, asset_id=plant.aid)
        frame, _floor = asset_frames(
            s,
            company_id=plant.cid,
            asset_id=plant.aid,
            freq_s=float(version.metrics["freq_s"]),
            smooth_rows=1,
            start=version.trained_to,
        )
        return load_version(s, version).score_samples(
            frame.loc[frame.index > version.trained_to, list(version.feature_names)]
        )


def test_rebase_scored_run_by_run_gets_the_scores_of_one_call_and_settles(plant):
    plant.write(0, 200, load=LOAD)
    assert plant.train(REBASE)[:2] == (1, "active")
    # A fault (+3 on vibration), then the machine back near, not at, its old level (+0.4).
    row, chunks = 200, [(7, {"vibration": 3.0})] * 6 + [(7, {"vibration": 0.4})] * 20
    for n, shift in chunks:
        plant.write(row, n, shift=shift, load=LOAD)
        row += n
        _score(plant)
    stored, whole = _scores(plant), _one_call(plant)
    assert len(stored) == row - 200
    np.testing.assert_allclose(stored, whole, rtol=1e-9)
    with plant.sessions() as s:
        threshold = active_model(s, company_id=plant.cid, asset_id=plant.aid).threshold
        state = s.execute(select(DetectorState)).scalar_one()
    assert stored[:42].min() > threshold  # the fault is flagged throughout
    assert stored[-60:].max() < threshold  # the level it settled at is normal now, across runs
    assert state.resume_ts is None and state.company_id == plant.cid


def test_a_new_model_version_starts_from_its_own_baseline(plant):
    plant.write(0, 200)
    plant.train(REBASE)
    plant.write(200, 40, shift={"vibration": 3.0})
    _score(plant)
    with plant.sessions() as s:
        first = s.execute(select(DetectorState)).scalar_one()
        assert first.state["episode"]["peak"] > 0  # the episode is still open: its peak is carried on
        version_id = first.model_version_id
    with plant.sessions.begin() as s:
        s.delete(active_model(s, company_id=plant.cid, asset_id=plant.aid))
    with plant.sessions() as s:  # the state went with its model version
        assert s.get(DetectorState, version_id) is None


def test_after_rebaselining_an_alerts_normal_ranges_move_with_the_baseline(plant):
    from pdm.storage.tables import Alert

    plant.write(0, 200, load=LOAD)
    plant.train(REBASE)
    row = 200
    for n, shift in [(42, {"vibration": 3.0}), (140, {"vibration": 0.4}), (14, {"vibration": 15.0})]:
        for start in range(row, row + n, 7):  # scored every 7 rows, as the worker would
            plant.write(start, 7, shift=shift, load=LOAD)
            _score(plant)
        row += n
    with plant.sessions() as s:
        version = active_model(s, company_id=plant.cid, asset_id=plant.aid)
        detector = load_version(s, version)
        alert = s.execute(select(Alert)).scalar_one()  # still open: the second fault's peak updated it
        trained = detector.feature_median_[list(version.feature_names).index("vibration")]
    vibration = next(x for x in alert.sensors if x["tag"] == "vibration")
    assert abs(vibration["median"] - (trained + 0.4)) < 0.15  # the level it settled at, not the training one
    assert vibration["low"] < trained + 0.4 < vibration["high"] < vibration["value"]
