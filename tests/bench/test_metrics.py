"""Benchmark metrics on tiny hand-made series."""

from __future__ import annotations

import numpy as np
import pytest

from pdm.bench.metrics import Counts, binary_counts, nab_file_events, nab_scores, predicted_changepoints


def test_counts_are_pooled_over_files_before_the_ratios():
    files = [([1, 1, 0, 0], [1, 0, 1, 0]), ([1, 0, 0, 0, 0], [1, 1, 1, 1, 0])]
    c = binary_counts(files)
    assert (c.tp, c.fp, c.tn, c.fn) == (2, 4, 2, 1)
    assert c.f1 == pytest.approx(2 / (2 + (4 + 1) / 2))
    assert c.far == pytest.approx(100 * 4 / 6)
    assert c.mar == pytest.approx(100 * 1 / 3)


def test_empty_counts_do_not_divide_by_zero():
    assert (Counts().f1, Counts().far, Counts().mar) == (0.0, 0.0, 0.0)


def test_predicted_changepoints_are_switches_on_and_off():
    assert predicted_changepoints([1, 1, 0, 1, 1, 0, 0, 1]).tolist() == [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
        True,
    ]
    assert predicted_changepoints([0, 0, 0]).tolist() == [False, False, False]


T = np.arange(300.0)  # one row per second


def _cp(*at):
    y = np.zeros(len(T), dtype=int)
    y[list(at)] = 1
    return y


def test_nab_perfect_null_and_false_positives():
    true = _cp(100)
    assert nab_scores([nab_file_events(T, true, _cp(100))]) == pytest.approx(
        {"standard": 100.0, "low_fp": 100.0, "low_fn": 100.0}
    )
    assert nab_scores([nab_file_events(T, true, np.zeros(len(T)))])["standard"] == 0.0
    # A detection on time plus one false positive far away: 1 - 0.11 on a 1-point scale.
    events = nab_file_events(T, true, _cp(100, 250))
    assert events == (1, [0.0], 0)
    s = nab_scores([events])
    assert s["standard"] == pytest.approx(100 * (0.89 + 1) / 2)
    assert s["low_fp"] == pytest.approx(100 * (0.78 + 1) / 2)
    assert s["low_fn"] == pytest.approx(100 * (0.89 + 2) / 3)


def test_nab_window_is_60_s_to_the_right_and_late_detection_earns_less():
    true = _cp(100)
    assert nab_file_events(T, true, _cp(99)) == (1, [], 1)  # before the window: FP and a miss
    assert nab_file_events(T, true, _cp(161))[2] == 1  # after 60 s: a miss
    fp, (mid,), missed = nab_file_events(T, true, _cp(130, 140))  # only the first one counts
    assert (fp, missed, mid) == (0, 0, 0.5)
    # Half-way down the tanh curve: (A_tp + A_fp) / 2 = 0.445 of a point, standard profile.
    assert nab_scores([(0, [0.5], 0)])["standard"] == pytest.approx(100 * (0.445 + 1) / 2, abs=0.2)
    assert nab_scores([(0, [1.0], 0)])["standard"] == pytest.approx(100 * (-0.11 + 1) / 2, abs=0.01)


def test_nab_pools_files_before_normalising():
    both = nab_scores([(0, [0.0], 0), (0, [], 1)])
    assert both["standard"] == pytest.approx(50.0)
