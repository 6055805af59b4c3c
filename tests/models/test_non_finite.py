"""A tag whose stored values are not finite (an inf kept as a Good reading before the connectors checked
values, still in older databases) is left out of the model with its reason, whatever the detector, instead
of making every retrain of its asset fail for ever."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from pdm.models.choice import choose, profile
from pdm.models.training import fit
from pdm.storage.tables import ModelVersion, Reading, Tag
from tests.helpers.lifecycle import DETECTION, TAGS, Plant, ts

N = 600


def _frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=1_700_000_000.0 + 30.0 * np.arange(N))


def _noise(seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, N)


def _with_inf(values: np.ndarray, rows) -> np.ndarray:
    values = values.copy()
    values[rows] = np.inf
    return values


def test_a_tag_with_inf_rows_is_left_out_with_its_reason():
    frame = _frame(vibration=2 + _noise(1, 0.1), temperature=_with_inf(40 + _noise(2), [10, 11, 500]))
    shape = profile(frame)
    assert shape.usable == ["vibration"]
    assert shape.left_out == {"temperature": "not a finite number (inf) in 3 of 600 rows"}
    assert choose(shape) == [
        ("mad", "auto: one usable tag; left out: temperature not a finite number (inf) in 3 of 600 rows")
    ]


def test_an_all_inf_tag_is_not_a_number_rather_than_stuck():
    frame = _frame(vibration=2 + _noise(1, 0.1), flow=np.full(N, -np.inf))
    assert profile(frame).left_out == {"flow": f"not a finite number (inf) in {N} of {N} rows"}


@pytest.mark.parametrize("detector", ["auto", "pca", "mad", "iforest"])
def test_every_detector_trains_without_the_tag_and_says_so(detector):
    load = np.sin(np.linspace(0, 12, N))
    frame = _frame(
        current=10 + 3 * load + _noise(1, 0.1),
        temperature=50 + 5 * load + _noise(2, 0.1),
        flow=_with_inf(20 + _noise(3), slice(300, 320)),
    )
    detector_, metrics = fit(frame, DETECTION.model_copy(update={"detector": detector}))
    assert detector_.tag_names() == ["current", "temperature"]
    assert metrics["choice"].endswith("left out: flow not a finite number (inf) in 20 of 600 rows")
    assert np.isfinite(detector_.score_samples(frame)).all()  # scoring takes the full frame, uses its own tags


def test_a_configured_detector_with_only_non_finite_tags_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^no tag to learn from: a not a finite number \(inf\) in 600 of 600 rows$"):
        fit(_frame(a=np.full(N, np.inf)), DETECTION)


@pytest.mark.parametrize("detector", ["auto", "pca"])
def test_an_asset_with_inf_readings_in_its_database_trains_and_scores(sessions, detector):
    plant = Plant(sessions)
    plant.write(0, 400)
    with sessions.begin() as s:  # as stored before values were checked: inf, quality Good
        flow = s.execute(select(Tag.id).where(Tag.name == TAGS[0])).scalars().first()
        s.execute(update(Reading).where(Reading.tag_id == flow, Reading.ts > ts(300)).values(value=float("inf")))
    version, status, reason, *_ = plant.train(DETECTION.model_copy(update={"detector": detector}))
    assert (version, status) == (1, "active")
    assert f"left out: {TAGS[0]} not a finite number (inf) in " in reason
    with sessions() as s:
        names = s.execute(select(ModelVersion.feature_names).where(ModelVersion.asset_id == plant.aid)).scalar_one()
    assert TAGS[0] not in names and len(names) == len(TAGS) - 1
    plant.write(400, 50)
    assert plant.score() is None  # scored without an error (and without an alert: the others are normal)
