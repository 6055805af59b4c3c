"""Long readings to a wide, gridded frame; causal smoothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdm.models.features import causal_nearer_mean, causal_rolling_mean, wide_frame

GOOD, GOOD_OVERRIDE, UNCERTAIN, BAD = 0, 0x00D80000, 0x40000000, 0x80000000
BAD_AS_INT32 = -0x80000000  # the same Bad code stored in a signed 32-bit column


def long(rows) -> pd.DataFrame:
    """Rows of (ts, tag, value[, quality]) as the long readings frame."""
    rows = [r if len(r) == 4 else (*r, GOOD) for r in rows]
    return pd.DataFrame(rows, columns=["ts", "tag", "value", "quality"])


def regular(tags: dict[str, list[float]], *, start: float = 100.0, step: float = 10.0) -> pd.DataFrame:
    return long([(start + i * step, tag, v) for tag, values in tags.items() for i, v in enumerate(values)])


def test_only_good_non_nan_readings_are_used():
    readings = long(
        [
            (10.0, "a", 1.0, GOOD),
            (10.0, "b", 1.0, GOOD),
            (20.0, "a", 2.0, GOOD_OVERRIDE),
            (20.0, "b", 2.0, GOOD),
            (30.0, "a", 99.0, UNCERTAIN),
            (30.0, "b", 3.0, GOOD),
            (40.0, "a", 99.0, BAD),
            (40.0, "b", 4.0, GOOD),
            (50.0, "a", 99.0, BAD_AS_INT32),
            (50.0, "b", 5.0, GOOD),
            (60.0, "a", np.nan, GOOD),
            (60.0, "b", 6.0, GOOD),
        ]
    )
    wide = wide_frame(readings, freq_s=10.0)
    assert 99.0 not in wide.to_numpy()
    # a's last Good value (2.0) is carried 2 bins (30, 40); 50 and 60 are dropped.
    assert wide["a"].to_dict() == {10.0: 1.0, 20.0: 2.0, 30.0: 2.0, 40.0: 2.0}
    assert wide["b"].to_dict() == {10.0: 1.0, 20.0: 2.0, 30.0: 3.0, 40.0: 4.0}


def test_grid_is_epoch_aligned_sorted_and_keeps_the_last_value_per_bin():
    readings = long(
        [
            (101.0, "b", 1.0),
            (104.0, "b", 2.0),
            (103.0, "a", 7.0),
            (108.0, "a", 8.0),
            (112.0, "b", 3.0),
            (118.0, "a", 9.0),
        ]
    )
    wide = wide_frame(readings, freq_s=10.0)
    assert list(wide.columns) == ["a", "b"]
    assert wide.index.name == "ts" and wide.index.dtype == float
    # Row T holds the last reading in (T - 10, T]: the value known at T.
    assert wide.to_dict("index") == {110.0: {"a": 8.0, "b": 2.0}, 120.0: {"a": 9.0, "b": 3.0}}


def test_unsorted_input_and_fractional_grids():
    readings = long([(0.3, "a", 3.0), (0.1, "a", 1.0), (0.2, "a", 2.0)])
    wide = wide_frame(readings, freq_s=0.1)
    np.testing.assert_allclose(wide.index.to_numpy(), [0.1, 0.2, 0.3])
    assert list(wide["a"]) == [1.0, 2.0, 3.0]
    # A grid line near 1.7e9 s where line / 0.1 lands just above 17_000_000_003.
    line = 17_000_000_003 * 0.1
    readings = long([(line, "a", 1.0), (line + 0.1, "a", 2.0), (line + 0.15, "a", 3.0)])
    wide = wide_frame(readings, freq_s=0.1)
    assert list(wide["a"]) == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(np.diff(wide.index.to_numpy()), 0.1, atol=1e-6)


def test_freq_defaults_to_each_tags_median_spacing():
    # Tags polled together but stamped a few ms apart: the union's spacing would be 0.005 s.
    readings = pd.concat(
        [
            long([(1000.0 + 10 * i, "a", float(i)) for i in range(20)]),
            long([(1000.005 + 10 * i, "b", float(i)) for i in range(20)]),
        ]
    )
    readings["ts"] += np.random.default_rng(5).uniform(0.0, 0.004, size=len(readings))
    wide = wide_frame(readings)
    assert len(wide) == 20
    assert list(wide.index) == [1010.0 + 10 * i for i in range(20)]  # round grid despite jitter


def test_forward_fill_stops_after_two_bins():
    readings = pd.concat(
        [
            regular({"a": [float(i) for i in range(10)]}),
            regular({"b": [0.0, 1.0]}),  # b falls silent after t=110
            long([(190.0, "b", 9.0)]),  # and comes back at t=190
        ]
    )
    wide = wide_frame(readings, freq_s=10.0)
    assert wide["b"].to_dict() == {100.0: 0.0, 110.0: 1.0, 120.0: 1.0, 130.0: 1.0, 190.0: 9.0}


def test_gaps_in_every_tag_are_not_bridged_beyond_the_limit():
    readings = regular({"a": [1.0], "b": [1.0]}, start=100.0)
    readings = pd.concat([readings, regular({"a": [2.0], "b": [2.0]}, start=10_000.0)])
    wide = wide_frame(readings, freq_s=10.0)
    # Two filled bins after t=100, nothing invented in the gap or after the last reading.
    assert list(wide.index) == [100.0, 110.0, 120.0, 10_000.0]


def test_rows_missing_a_tag_are_dropped():
    readings = pd.concat([regular({"a": [1.0, 2.0, 3.0, 4.0]}), regular({"b": [5.0, 6.0]}, start=120.0)])
    wide = wide_frame(readings, freq_s=10.0)
    assert list(wide.index) == [120.0, 130.0]


def test_wide_frame_is_causal():
    rng = np.random.default_rng(3)
    readings = regular({"a": list(rng.normal(size=50)), "b": list(rng.normal(size=50))})
    # Jitter inside each bin: a grid that labelled bins by their start would put t=403 in row 400.
    readings["ts"] += rng.uniform(0.0, 9.0, size=len(readings))
    before = wide_frame(readings, freq_s=10.0)
    later = readings["ts"] > 400.0
    changed = readings.assign(value=readings["value"].where(~later, 1e6))
    after = wide_frame(changed, freq_s=10.0)
    pd.testing.assert_frame_equal(before.loc[:400.0], after.loc[:400.0])


def test_empty_and_malformed_input():
    assert wide_frame(long([(1.0, "a", 1.0, BAD)])).empty
    with pytest.raises(ValueError, match="quality"):
        wide_frame(pd.DataFrame({"ts": [1.0], "tag": ["a"], "value": [1.0]}))
    with pytest.raises(ValueError, match="pass freq_s"):
        wide_frame(long([(1.0, "a", 1.0)]))
    with pytest.raises(ValueError, match="positive"):
        wide_frame(regular({"a": [1.0, 2.0]}), freq_s=0)


def test_causal_rolling_mean_uses_only_current_and_previous_rows():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [0.0, 0.0, 6.0, 0.0, 0.0]})
    smooth = causal_rolling_mean(frame, 3)
    assert list(smooth["a"]) == [1.0, 1.5, 2.0, 3.0, 4.0]  # min_periods=1 at the start
    assert list(smooth["b"]) == [0.0, 0.0, 2.0, 2.0, 2.0]
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("xyz"))
    future = frame.copy()
    future.iloc[60:] = 1e9
    pd.testing.assert_frame_equal(causal_rolling_mean(frame, 7).iloc[:60], causal_rolling_mean(future, 7).iloc[:60])
    pd.testing.assert_frame_equal(causal_rolling_mean(frame, 1), frame)
    with pytest.raises(ValueError, match="window"):
        causal_rolling_mean(frame, 0)


def test_causal_nearer_mean_follows_the_long_mean_out_and_the_short_mean_back():
    # A sensor at 0 steps to 10 for 40 rows, then back to 0.
    frame = pd.DataFrame({"a": [0.0] * 40 + [10.0] * 40 + [0.0] * 40})
    out = causal_nearer_mean(frame, 20, pd.Series({"a": 0.0}))["a"].to_numpy()
    slow = causal_rolling_mean(frame, 20)["a"].to_numpy()
    np.testing.assert_allclose(out[:80], slow[:80])  # going out: the long mean is the nearer one
    assert out[85] == 0.0 and slow[85] > 5.0  # coming back: the 5-row mean has returned already
    np.testing.assert_allclose(out[100:], 0.0)


def test_causal_nearer_mean_is_causal_and_checks_its_center():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(100, 2)), columns=["x", "y"])
    future = frame.copy()
    future.iloc[60:] = 1e9
    center = frame.iloc[:40].median()
    pd.testing.assert_frame_equal(
        causal_nearer_mean(frame, 8, center).iloc[:60], causal_nearer_mean(future, 8, center).iloc[:60]
    )
    with pytest.raises(ValueError, match=r"center lacks column\(s\) \['y'\]"):
        causal_nearer_mean(frame, 8, center[["x"]])
    with pytest.raises(ValueError, match="window"):
        causal_nearer_mean(frame, 0, center)


def test_a_slow_tag_beside_a_fast_one_keeps_every_row():
    # Vibration every 10 s, temperature every 60 s: the grid is the fast tag's, and temperature
    # is carried over up to two of its own intervals instead of two grid bins.
    fast = regular({"vibration": [float(i) for i in range(120)]}, step=10.0)
    slow = regular({"temperature": [40.0 + i for i in range(20)]}, step=60.0)
    wide = wide_frame(pd.concat([fast, slow]), freq_s=10.0)
    assert len(wide) == 120  # every fast row (the slow tag is carried 120 s past its last reading, at 1240)
    assert wide.loc[150.0, "temperature"] == 40.0 and wide.loc[160.0, "temperature"] == 41.0
    # Silent for longer than two of its own intervals: no longer carried.
    late = pd.concat([fast, slow.iloc[:10], regular({"vibration": [1.0] * 60}, start=1300.0, step=10.0)])
    tail = wide_frame(late, freq_s=10.0)
    assert tail.index.max() == 100.0 + 9 * 60.0 + 120.0
