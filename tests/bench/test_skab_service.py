"""SKAB through the service's path: files become replayable series, scored with SKAB's protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pdm.bench import skab, skab_service
from pdm.cli.main import app
from pdm.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "../shared/data/skab"


def _file(n=1200, fault=(800, 900), seed=0) -> skab.SkabFile:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2020-03-09 10:00:00", periods=n, freq="s")
    frame = pd.DataFrame(rng.normal(size=(n, 2)), index=index, columns=["Current", "Pressure"])
    frame.iloc[fault[0] : fault[1], 0] += 6.0
    anomaly = np.zeros(n, dtype=int)
    anomaly[fault[0] : fault[1]] = 1
    return skab.SkabFile("valve1/0.csv", "valve1", frame, anomaly, np.diff(anomaly, prepend=0).clip(0))


def test_a_file_becomes_a_series_with_one_window_per_labelled_run():
    f = _file()
    f.anomaly[1000:1010] = 1
    series = skab_service.as_series(f)
    t0 = pd.Timestamp("2020-03-09 10:00:00").timestamp()
    assert series.frame.index[0] == t0 and series.frame.index[1] - series.frame.index[0] == 1.0
    assert series.windows == [(t0 + 800, t0 + 899), (t0 + 1000, t0 + 1009)]
    assert list(series.frame.columns) == ["Current", "Pressure"]


def test_the_service_flags_the_fault_rows_of_a_file_and_little_else():
    f = _file()
    rows = skab_service.flagged(f, skab_service.ServiceSetting("mad", 1, 2))
    assert len(rows) == len(f.anomaly) - skab.TRAIN_ROWS
    truth = f.anomaly[skab.TRAIN_ROWS :]
    assert rows[truth == 1].mean() > 0.9 and rows[truth == 0].mean() < 0.05


def test_the_setting_is_what_the_plant_file_would_say():
    setting = skab_service.ServiceSetting("rebase", 3, 4, 2.0)
    detection = setting.detection()
    assert (detection.detector, detection.smooth_rows, detection.debounce_rows) == ("rebase", 3, 4)
    assert detection.false_alerts_per_month == 2.0 and detection.train_max_rows == skab.TRAIN_ROWS
    assert skab_service.DEFAULT in skab_service.GRID
    assert len({s.key() for s in skab_service.GRID}) == len(skab_service.GRID)


def test_a_detector_without_direct_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(
        app, ["bench", "skab", "--data", str(tmp_path), "--predictions", str(tmp_path / "p.csv"), "--detector", "mad"]
    )  # refused before the data is looked for: no data needed
    assert isinstance(result.exception, ConfigError) and "only with --direct" in str(result.exception)


@pytest.mark.skipif(not DATA.exists(), reason="SKAB data not present at ../shared/data/skab")
def test_two_real_files_replayed_with_group_held_out_rows():
    grid = [skab_service.ServiceSetting("mad", 3, 4), skab_service.ServiceSetting("rebase", 1, 4)]
    report = skab_service.run(DATA, grid[1], grid, only=["valve1/0.csv", "valve2/0.csv"])
    assert [f.name for f in report.files] == ["valve1/0.csv", "valve2/0.csv"]
    assert {name: len(p) for name, p in report.result.predictions.items()} == {
        f.name: len(f.anomaly) - skab.TRAIN_ROWS for f in report.files
    }
    assert [g for g, _s, _r in report.held_out] == ["valve1", "valve2"]
    assert all(s in grid for _g, s, _r in report.held_out)
    c = report.result.counts
    assert c.tp + c.fp + c.tn + c.fn == sum(len(f.anomaly) - skab.TRAIN_ROWS for f in report.files)
