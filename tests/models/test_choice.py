"""The detector an asset gets by default (``detector: auto``), read from its training data; and an
asset no detector can take says why, on its page, instead of going unscored in silence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdm.models.choice import choose, profile
from pdm.models.fanout import train_job
from pdm.models.training import fit
from pdm.storage.catalog import get_asset, list_tags
from pdm.storage.readings import insert_readings
from tests.helpers.lifecycle import DETECTION, Plant, ts

N = 600


def _frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=1_700_000_000.0 + 30.0 * np.arange(N))


def _noise(seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, N)


def test_one_tag_gets_mad():
    assert choose(profile(_frame(temperature=40 + _noise(1)))) == [("mad", "auto: one usable tag")]


def test_one_tag_whose_level_moves_gets_rebase():
    level = np.where(np.arange(N) < N // 3, 40.0, 48.0)  # a maintenance reset of the probe's level
    assert [name for name, _ in choose(profile(_frame(temperature=level + _noise(1))))] == ["rebase", "mad"]


def test_tags_that_move_together_get_pca_then_mad():
    load = np.sin(np.linspace(0, 12, N))
    frame = _frame(current=10 + 3 * load + _noise(1, 0.1), temperature=50 + 5 * load + _noise(2, 0.1))
    (first, why), second = choose(profile(frame))
    assert first == "pca" and "between current and temperature" in why and second[0] == "mad"


def test_independent_tags_get_mad():
    (name, why), *_ = choose(profile(_frame(a=_noise(1), b=_noise(2), c=_noise(3))))
    assert name == "mad" and why.startswith("auto: tags independent")


def test_a_level_that_moves_during_training_gets_rebase():
    # A product change halfway through moves the setpoint: the level is not one normal value.
    setpoint = np.where(np.arange(N) < N // 2, 60.0, 75.0)
    frame = _frame(pressure=setpoint + _noise(1), flow=20 + _noise(2))
    (first, why), second = choose(profile(frame))
    assert first == "rebase" and why.startswith("auto: pressure's level moves by") and second[0] == "mad"


def test_stuck_tags_and_counters_are_left_out_with_their_reason():
    parts = np.cumsum(np.random.default_rng(4).integers(0, 3, N)).astype(float)
    frame = _frame(vibration=2 + _noise(1, 0.1), mode=np.full(N, 3.0), parts_made=parts)
    shape = profile(frame)
    assert shape.usable == ["vibration"]
    assert shape.left_out == {
        "mode": "stuck (one value all through training)",
        "parts_made": "a counter (it only rises)",
    }
    assert choose(shape)[0][1].endswith(
        "left out: mode stuck (one value all through training), parts_made a counter (it only rises)"
    )
    detector, metrics = fit(frame, DETECTION.model_copy(update={"detector": "auto"}))
    assert detector.tag_names() == ["vibration"] and metrics["detector"] == "mad"
    assert detector.score_samples(frame).shape == (N,)  # scoring takes the full frame, uses its own tags


def test_a_counter_with_a_daily_reset_is_still_a_counter():
    steps = np.random.default_rng(5).integers(1, 4, N).astype(float)
    counter = np.cumsum(steps)
    counter[N // 2 :] -= counter[N // 2 - 1]  # reset at midnight
    assert profile(_frame(shift_count=counter, speed=_noise(1))).left_out == {
        "shift_count": "a counter (it only rises)"
    }


def test_no_tag_to_learn_from_is_one_clear_error():
    with pytest.raises(ValueError, match="no tag to learn from: a stuck"):
        choose(profile(_frame(a=np.ones(N))))


def test_a_configured_detector_that_refuses_says_so_and_the_next_is_fitted():
    frame = _frame(temperature=40 + _noise(1))
    detector, metrics = fit(frame, DETECTION)  # pca, configured
    assert metrics["detector"] == "mad"
    assert metrics["choice"].startswith("pca refused:") and "2 sensors" in metrics["choice"]


def test_the_asset_page_note_follows_the_latest_training(sessions, db_url):
    plant = Plant(sessions)
    auto = DETECTION.model_copy(update={"detector": "auto"}).model_dump()
    with sessions.begin() as s:
        tags = list_tags(s, company_id=plant.cid, asset_id=plant.aid)
        insert_readings(
            s,
            [
                {"tag_id": t.id, "ts": ts(i), "value": 1.0, "quality": 0, "received_at": 0.0}
                for t in tags
                for i in range(200)
            ],
        )
    job, version, error = train_job(db_url, plant.cid, plant.aid, auto)
    assert version is None and "no tag to learn from" in error
    with sessions() as s:
        asset = get_asset(s, company_id=plant.cid, asset_id=plant.aid)
        assert asset.training_note == error and asset.training_note_at is not None
    plant.write(200, 400)  # the sensors come alive
    job, version, error = train_job(db_url, plant.cid, plant.aid, auto)
    assert version == 1 and error is None
    with sessions() as s:
        assert get_asset(s, company_id=plant.cid, asset_id=plant.aid).training_note is None
