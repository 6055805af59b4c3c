"""A stopped machine is not abnormal: rows while it is stopped, and its warm-up after a restart,
are neither learned from nor scored (``detection.running_tag`` / ``running_above`` / ``startup_min``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from pdm.config import DetectionConfig
from pdm.models import training
from pdm.models.features import smoothed_and_floor
from pdm.models.running import running_rows
from pdm.models.scoring import score_asset
from pdm.storage.catalog import list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Alert, Asset, Score
from tests.helpers.lifecycle import DETECTION, TAGS, Plant, ts

RUNNING = DETECTION.model_copy(update={"running_tag": "flow", "running_above": 1.0, "startup_min": 5.0})


def test_rows_while_stopped_and_during_warm_up_are_left_out():
    flow = np.array([10, 10, 0, 0, 10, 10, 10, 10, 10, 10], dtype=float)
    frame = pd.DataFrame({"flow": flow, "temp": 1.0}, index=60.0 * np.arange(10))
    rule = DetectionConfig(running_tag="flow", running_above=1.0, startup_min=2.0)
    # Stopped at 120 and 180 s; running again at 240 s, warming up until 180 + 120 s.
    assert running_rows(frame, rule).tolist() == [True, True, False, False, False, False, True, True, True, True]
    assert running_rows(frame, DetectionConfig()).all()  # no running_tag: always running
    with pytest.raises(ValueError, match="detection.running_tag 'speed' is not a tag of this asset"):
        running_rows(frame, rule.model_copy(update={"running_tag": "speed"}))


def test_a_smoothed_row_that_averages_a_stopped_reading_is_not_running():
    flow = np.array([10, 10, 10, 0, 0, 0, 10, 10, 10, 10], dtype=float)
    raw = pd.DataFrame({"flow": flow, "temp": np.where(flow > 0, 50.0, 20.0)}, index=60.0 * np.arange(10))
    smoothed, floor = smoothed_and_floor(raw, 3)
    rule = DetectionConfig(running_tag="flow", running_above=5.0, startup_min=0.0)
    # At the stop (180 s) the smoothed flow is still 6.7, above the limit: read alone it is running,
    # and its temperature, half-way between two regimes, would be scored as a fault.
    assert running_rows(smoothed, rule).tolist()[3] is True
    # With each window's lowest raw reading, the stop and both rows after the restart that still
    # average a stopped reading are left out.
    assert running_rows(smoothed, rule, floor).tolist() == [True, True, True] + [False] * 5 + [True, True]


def _stop(plant: Plant, first: int, n: int) -> None:
    """The pump stopped: every sensor at its resting level."""
    rng = np.random.default_rng(first)
    with plant.sessions.begin() as s:
        tags = list_tags(s, company_id=plant.cid, asset_id=plant.aid)
        insert_readings(
            s,
            [
                {"tag_id": t.id, "ts": ts(i), "value": float(rng.normal(0, 0.01)), "quality": 0, "received_at": 0.0}
                for t in tags
                for i in range(first, first + n)
            ],
        )


def _score(plant: Plant, detection: DetectionConfig) -> int | None:
    with plant.sessions.begin() as s:
        alert = score_asset(s, company_id=plant.cid, asset_id=plant.aid, detection=detection)
        return None if alert is None else alert.id


@pytest.mark.parametrize("detection", [DETECTION, RUNNING], ids=["no rule", "running rule"])
def test_a_stopped_machine_raises_nothing_with_its_running_rule(sessions, detection):
    assert "flow" in TAGS
    plant = Plant(sessions)
    plant.write(0, 400)
    assert plant.train(detection)[1] == "active"
    plant.write(400, 100)
    assert _score(plant, detection) is None  # running normally: nothing
    _stop(plant, 500, 200)  # a night stopped
    plant.write(700, 100)  # running again
    opened = _score(plant, detection)
    with sessions() as s:
        scored = s.execute(select(func.count()).select_from(Score).where(Score.asset_id == plant.aid)).scalar()
        alerts = s.execute(select(func.count()).select_from(Alert).where(Alert.asset_id == plant.aid)).scalar()
    if detection is DETECTION:  # without the rule the stop looks like a fault
        assert opened is not None and alerts == 1 and scored == 400
    else:  # the 200 stopped rows and 10 warm-up rows (5 min at 30 s) are not scored
        assert opened is None and alerts == 0 and scored == 400 - 200 - 10


def test_training_learns_only_from_running_rows(sessions):
    plant = Plant(sessions)
    plant.write(0, 300)
    _stop(plant, 300, 100)
    plant.write(400, 200)
    version = plant.train(RUNNING)
    assert version[1] == "active" and version[5]["rows"] == 600 - 100 - 10


@pytest.mark.parametrize("detector", ["pca", "rebase"])
def test_a_long_stop_is_read_once_and_the_restart_scored_after_its_warm_up(sessions, monkeypatch, detector):
    loaded: list[int] = []
    load = training.asset_readings

    def counting(*args, **kwargs):  # readings loaded to build feature rows, one entry per load
        long = load(*args, **kwargs)
        loaded.append(len(long))
        return long

    monkeypatch.setattr(training, "asset_readings", counting)
    rule = RUNNING.model_copy(update={"detector": detector})
    plant = Plant(sessions)
    plant.write(0, 400)
    assert plant.train(rule)[1] == "active"
    plant.write(400, 100)
    _score(plant, rule)
    loaded.clear()
    for first in (500, 1100):  # a long stop, seen by two passes
        _stop(plant, first, 600)
        assert _score(plant, rule) is None
    # Each pass reads its own 600 stopped rows and the 11 before them that can tell a recent
    # restart (startup_min 5 at 30 s, both ends counted); without the mark the second read 1211.
    assert loaded == [(600 + 11) * len(TAGS)] * 2
    with sessions() as s:
        assert s.get(Asset, plant.aid).considered_to == ts(1699)
    plant.write(1700, 100)  # running again
    assert _score(plant, rule) is None
    with sessions() as s:
        after = s.execute(select(Score.ts).where(Score.asset_id == plant.aid, Score.ts > ts(500))).scalars().all()
    assert min(after) == ts(1710) and len(after) == 90  # after its 10 warm-up rows (5 min at 30 s)
