"""The alarm budget: thresholds set for a number of alerts per 30 days, counted as the worker opens them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdm.alerts.simulate import simulate_openings
from pdm.config import DetectionConfig
from pdm.models.budget import MONTH_S, alerts_per_month, calibrate
from pdm.models.training import fit

DAY = 86_400.0


def _normal_scores(days: float, step_s: float = 60.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A healthy asset's scores: positive, autocorrelated (smoothed readings), with a heavy-ish tail."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / step_s)
    noise = np.convolve(rng.standard_normal(n + 4), np.ones(5) / 5, mode="valid")[:n]
    return np.arange(n) * step_s, np.abs(noise) * 3 + rng.exponential(0.2, n)


def _count(ts, scores, threshold, debounce=4, silent=30.0):
    return len(simulate_openings(ts, scores, threshold, debounce_rows=debounce, silent_period_min=silent))


@pytest.mark.parametrize("seed", range(5))
def test_a_threshold_calibrated_on_a_week_holds_its_budget_over_the_next_months(seed):
    ts, scores = _normal_scores(7 + 90, seed=seed)
    week = ts < 7 * DAY
    cal = calibrate([(ts[week], scores[week])], budget_per_month=1.0, debounce_rows=4, silent_min=30.0, fallback=0.0)
    assert cal.method == "budget" and cal.rows == week.sum() and cal.span_h == pytest.approx(168.0)
    later = _count(ts[~week], scores[~week], cal.threshold)
    # The budget is one false alert a month: three months later, a handful at most, and not none
    # because the threshold went far above what the budget needs either.
    assert later <= 6, (later, cal)
    assert cal.threshold < 2 * np.max(scores[~week])


def test_a_larger_budget_gives_a_lower_threshold_and_more_alerts():
    ts, scores = _normal_scores(30)
    thresholds = [
        calibrate([(ts, scores)], budget_per_month=b, debounce_rows=4, silent_min=30.0, fallback=0.0).threshold
        for b in (0.5, 1, 10, 100)
    ]
    assert thresholds == sorted(thresholds, reverse=True) and len(set(thresholds)) == 4
    counts = [_count(ts, scores, t) for t in thresholds]
    assert counts == sorted(counts) and counts[-1] <= 100


def test_on_a_month_of_data_the_count_seen_binds():
    """Over a full month the alerts opened at the threshold are seen, not extrapolated."""
    ts, scores = _normal_scores(30)
    cal = calibrate([(ts, scores)], budget_per_month=20.0, debounce_rows=4, silent_min=30.0, fallback=0.0)
    assert cal.observed_alerts == _count(ts, scores, cal.threshold) <= 20
    assert alerts_per_month(ts, scores, cal.threshold, debounce_rows=4, silent_min=30.0) <= 20 * 1.001


def test_segments_of_several_assets_share_one_budget_per_asset():
    (t1, s1), (t2, s2) = _normal_scores(15, seed=1), _normal_scores(15, seed=2)
    one = calibrate([(t1, s1)], budget_per_month=10.0, debounce_rows=4, silent_min=30.0, fallback=0.0)
    both = calibrate([(t1, s1), (t2, s2)], budget_per_month=10.0, debounce_rows=4, silent_min=30.0, fallback=0.0)
    assert both.rows == 2 * one.rows and both.span_h == pytest.approx(2 * one.span_h)
    assert _count(t1, s1, both.threshold) + _count(t2, s2, both.threshold) <= 10


def test_too_few_rows_keep_the_detectors_own_threshold():
    ts, scores = _normal_scores(0.05)  # 72 rows
    cal = calibrate([(ts, scores)], budget_per_month=1.0, debounce_rows=4, silent_min=30.0, fallback=7.5)
    assert (cal.method, cal.threshold, cal.expected_per_month) == ("quantile", 7.5, None)
    empty = calibrate([], budget_per_month=1.0, debounce_rows=4, silent_min=30.0, fallback=2.0)
    assert (empty.method, empty.threshold, empty.rows) == ("quantile", 2.0, 0)


def test_a_flat_score_gives_no_threshold_below_the_detectors_own():
    """A stuck sensor scores the same on every row: no excursion to learn a tail from."""
    ts = np.arange(5000) * 60.0
    cal = calibrate([(ts, np.full(5000, 0.3))], budget_per_month=1.0, debounce_rows=4, silent_min=30.0, fallback=2.0)
    assert cal.method == "budget" and cal.threshold == 2.0 and cal.observed_alerts == 0


def test_fit_calibrates_the_model_on_its_latest_rows_and_stores_how():
    rng = np.random.default_rng(3)
    n = 3000
    index = 1.7e9 + np.arange(n) * 60.0
    frame = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(5, 2, n)}, index=index)
    detection = DetectionConfig(detector="mad", holdout_fraction=0.25, false_alerts_per_month=2.0)
    detector, metrics = fit(frame, detection)
    calibration = metrics["threshold"]
    assert calibration["method"] == "budget" and calibration["rows"] == 750
    assert calibration["budget_per_month"] == 2.0 and detector.threshold_ == calibration["threshold"]
    # Fitted on the first 75 % only: the calibration rows were never seen by the fit.
    assert detector.feature_median_[1] == pytest.approx(np.median(frame["b"].iloc[:2250]))
    held = frame.iloc[2250:]
    opened = _count(held.index.to_numpy(), detector.score_samples(held), detector.threshold_, silent=30.0)
    assert opened == calibration["observed_alerts"] <= 2.0 * calibration["span_h"] / (30 * 24) + 1e-9
    assert MONTH_S == 30 * DAY
