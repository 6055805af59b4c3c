"""Without a running_tag in the plant file, training recognises a stopped machine from a tag with a
clear stopped mode (pdm.models.stopped), stores the rule with the model, and scoring uses it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from pdm.models.features import causal_rolling_mean
from pdm.models.stopped import find_off_mode, warmup_min
from pdm.storage.tables import Alert, Score
from tests.helpers.lifecycle import DETECTION, Plant, ts
from tests.models.test_running import _score, _stop

MINUTES = 3 * 24 * 60  # three days, a row a minute


def _days(level: float, noise: float, *, stops: bool, seed: int = 1, off: float = 0.0, off_noise: float = None):
    """A tag over three days at ``level``; with ``stops`` it reads ``off`` from 22:00 to 06:00."""
    rng = np.random.default_rng(seed)
    minute = np.arange(MINUTES)
    values = level + rng.normal(0, noise, MINUTES)
    if stops:
        night = (minute % 1440 >= 22 * 60) | (minute % 1440 < 6 * 60)
        off_noise = noise / 100 if off_noise is None else off_noise
        values[night] = off + rng.normal(0, off_noise, night.sum()) if off_noise else off
    return values


def _frame(columns: dict) -> pd.DataFrame:
    # As training sees it: smoothed over 3 rows, so each stop and start leaves 2 rows in between.
    return causal_rolling_mean(pd.DataFrame(columns, index=60.0 * np.arange(MINUTES)), 3)


@pytest.mark.parametrize(("tag", "level", "noise"), [("speed", 1480.0, 15.0), ("M3.I_A", 12.5, 0.4), ("q", 0.04, 2e-3)])
def test_a_tag_that_stops_every_night_becomes_the_rule(tag, level, noise):
    frame = _frame(
        {
            tag: _days(level, noise, stops=True),
            # Cools towards ambient while stopped: no empty stretch, and not near zero.
            "bearing": 40
            + 15 * np.exp(-((np.arange(MINUTES) % 1440) / 300.0))
            + np.random.default_rng(2).normal(0, 0.3, MINUTES),
        }
    )
    mode, reason = find_off_mode(frame)
    assert mode is not None and mode.tag == tag, reason
    assert level * 0.2 < mode.above < level * 0.8  # between the modes, in the tag's own units
    assert reason.startswith(f"auto: {tag} reads ") and "33%" in reason


def test_a_machine_that_never_stops_gets_no_rule():
    frame = _frame({"speed": _days(1480, 15, stops=False), "current": _days(12.5, 0.4, stops=False, seed=3)})
    assert find_off_mode(frame) == (None, "no tag shows a clear stopped mode")


def test_a_noisy_tag_with_a_long_low_tail_gets_no_rule():
    rng = np.random.default_rng(4)
    # 20 % of the rows spread from 0 up to the running level: a tail, not a mode with a gap.
    values = np.where(rng.random(MINUTES) < 0.2, rng.uniform(0, 1400, MINUTES), rng.normal(1480, 40, MINUTES))
    frame = _frame({"speed": values, "temp": _days(60, 1, stops=False, seed=5)})
    assert find_off_mode(frame)[0] is None


@pytest.mark.parametrize(
    "columns",
    [
        {
            "speed": np.where(np.arange(MINUTES) % 1440 < 480, 1000.0, 1500.0)
            + np.random.default_rng(6).normal(0, 5, MINUTES)
        },
        {"pressure_bara": _days(6.0, 0.05, stops=True, off=1.0)},  # stopped at 1 bar absolute: not near zero
        {"alarm": np.where(np.arange(MINUTES) % 1440 < 300, 1.0, 0.0), "temp": _days(60, 1, stops=False)},
    ],
    ids=["two speeds", "offset zero", "two-state flag"],
)
def test_a_second_operating_point_an_offset_zero_or_a_flag_gets_no_rule(columns):
    assert find_off_mode(_frame(columns))[0] is None


def test_a_one_tag_asset_gets_a_rule_only_when_it_reads_exactly_constant_when_stopped():
    noisy = pd.DataFrame({"vib": _days(4.0, 0.2, stops=True, off_noise=0.01)}, index=60.0 * np.arange(MINUTES))
    mode, reason = find_off_mode(noisy)
    assert mode is None and reason.startswith("one tag, whose low mode is not exactly constant")
    exact = pd.DataFrame({"vib": _days(4.0, 0.2, stops=True, off_noise=0.0)}, index=60.0 * np.arange(MINUTES))
    assert find_off_mode(exact)[0].tag == "vib"


def _scored(plant: Plant, first: float, last: float) -> int:
    with plant.sessions() as s:
        stmt = select(func.count()).select_from(Score).where(Score.asset_id == plant.aid, Score.ts.between(first, last))
        return s.execute(stmt).scalar()


def _alerts(plant: Plant) -> int:
    with plant.sessions() as s:
        return s.execute(select(func.count()).select_from(Alert).where(Alert.asset_id == plant.aid)).scalar()


@pytest.mark.parametrize("auto", [True, False], ids=["found", "running_auto off"])
def test_a_rule_found_at_training_is_stored_and_keeps_a_stopped_night_quiet(sessions, auto):
    detection = DETECTION.model_copy(update={"running_auto": auto})
    plant = Plant(sessions)
    plant.write(0, 300)
    _stop(plant, 300, 100)  # stopped during its training data
    plant.write(400, 200)
    version = plant.train(detection)
    assert version[1] == "active"
    running = version[5].get("running")
    plant.write(600, 100)
    assert _score(plant, detection) is None
    _stop(plant, 700, 200)  # a night stopped
    plant.write(900, 100)
    opened = _score(plant, detection)
    if auto:  # every tag rests near zero: the clearest one is the rule, its reason with the model
        assert running["tag"] is not None and running["reason"].startswith(f"auto: {running['tag']} reads ")
        assert "running rule auto:" in version[2] and version[5]["rows"] < 600 - 100 + 5
        assert opened is None and _alerts(plant) == 0 and _scored(plant, ts(702), ts(899)) == 0
    else:  # as before: every row is learned from and scored
        assert running is None and version[5]["rows"] == 600 and _scored(plant, ts(702), ts(899)) == 198


def _warming(tau_min: float) -> pd.DataFrame:
    """Nightly stops; a temperature that cools to 20 while stopped and climbs back to 60 with ``tau_min``."""
    speed = _days(1480, 15, stops=True)
    temp, level = np.empty(MINUTES), 20.0
    for i, running in enumerate(speed > 100):
        level = (60.0 if running else 20.0) + (level - (60.0 if running else 20.0)) * np.exp(-1.0 / tau_min)
        temp[i] = level
    return _frame({"speed": speed, "temp": temp + np.random.default_rng(5).normal(0, 0.3, MINUTES)})


def test_the_warm_up_after_each_restart_is_measured_from_the_training_rows():
    from pdm.config import DetectionConfig
    from pdm.models.running import auto_rule, model_rule, running_rows

    slow, fast = _warming(10.0), _warming(0.3)
    mode, _ = find_off_mode(slow)
    quick, _ = find_off_mode(fast)
    assert mode is not None and quick is not None
    minutes, why = warmup_min(slow, mode)
    # 40 degrees to within the settled range (about 1 degree): ln(40) tau, about 37 min.
    assert 25 <= minutes <= 50 and "restarts" in why
    assert warmup_min(fast, quick)[0] <= 5
    detection, found = auto_rule(slow, DetectionConfig())
    assert found is not None and "warm-up" in found["reason"]
    assert detection.startup_min == found["startup_min"] == minutes
    scored = model_rule(DetectionConfig(), {"running": found})
    keep = running_rows(slow, scored)
    restart = 6 * 60 + 1440  # the second morning's start, in rows
    assert not keep[restart : restart + int(minutes)].any() and keep[restart + int(minutes) + 2 :][:60].all()
    # A model stored before the warm-up was measured keeps the plant file's startup_min.
    assert model_rule(DetectionConfig(), {"running": {"tag": "speed", "above": 700.0}}).startup_min == 0


def test_a_model_relearnt_from_rows_without_a_stop_keeps_the_rule_an_earlier_model_found(sessions):
    """After a repair the next model learns from the hours since: no stop among them, but the machine
    still stops at night, and its restarts must not alert."""
    plant = Plant(sessions)
    plant.write(0, 300)
    _stop(plant, 300, 100)
    plant.write(400, 200)
    first = plant.train(DETECTION)
    assert first[5]["running"]["tag"] is not None
    with sessions.begin() as s:  # a repair: the next model learns from what came after it only
        s.add(
            Alert(
                company_id=plant.cid,
                asset_id=plant.aid,
                status="RESOLVED",
                severity="high",
                opened_at=ts(550),
                last_seen_at=ts(560),
                closed_at=ts(600),
                peak_score=5.0,
                threshold=1.0,
            )
        )
    plant.write(600, 300)
    second = plant.train(DETECTION)
    kept = second[5]["running"]
    assert second[3] >= ts(600)  # trained on rows after the repair, none of them stopped
    assert kept["tag"] == first[5]["running"]["tag"] and kept["reason"].startswith("kept from an earlier model")
    _stop(plant, 900, 200)  # that night
    plant.write(1100, 100)
    assert _score(plant, DETECTION) is None and _alerts(plant) == 1  # only the repaired one


def test_rows_with_one_restart_keep_the_warm_up_an_earlier_model_measured_on_the_same_tag():
    """A model re-learnt on the day after a repair sees one restart: too few to measure a warm-up.
    It keeps the earlier model's, or every cold restart would be scored (and alert)."""
    from pdm.config import DetectionConfig
    from pdm.models.running import auto_rule

    one_day = _warming(10.0).iloc[: 24 * 60]  # the first day: its 06:00 restart only
    _, alone = auto_rule(one_day, DetectionConfig())
    assert alone is not None and alone["startup_min"] == 0 and "no warm-up measured" in alone["reason"]
    earlier = {"tag": alone["tag"], "above": alone["above"], "startup_min": 37.0, "reason": "found"}
    detection, kept = auto_rule(one_day, DetectionConfig(), earlier)
    assert detection.startup_min == kept["startup_min"] == 37.0 and "kept from an earlier model" in kept["reason"]
    # An earlier rule on another tag says nothing of this one's warm-up.
    _, other = auto_rule(one_day, DetectionConfig(), {**earlier, "tag": "temp"})
    assert other["startup_min"] == 0
