"""The SKAB protocol: CSV output, causality, errors, and a smoke run on two real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pdm.bench import skab
from pdm.cli.main import app
from pdm.errors import ConfigError

DATA = Path("../shared/data/skab")
if not DATA.exists():  # tests may run from the repository root or elsewhere
    DATA = Path(__file__).resolve().parents[2] / "../shared/data/skab"


def _fake_file(name="valve1/0.csv", n=460, seed=0) -> skab.SkabFile:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2020-03-09 10:00:00", periods=n, freq="s")
    frame = pd.DataFrame(rng.normal(size=(n, len(skab.SENSORS))), index=index, columns=list(skab.SENSORS))
    anomaly = np.zeros(n, dtype=int)
    anomaly[430:450] = 1
    return skab.SkabFile(name, name.split("/")[0], frame, anomaly, np.diff(anomaly, prepend=0).clip(0))


def test_predictions_csv_has_one_row_per_test_row(tmp_path):
    f = _fake_file()
    out = tmp_path / "p.csv"
    skab.write_predictions(out, [f], {f.name: (np.arange(60) % 2)})
    got = pd.read_csv(out)
    assert list(got.columns) == ["file", "datetime", "anomaly"]
    assert len(got) == len(f.anomaly) - skab.TRAIN_ROWS
    assert got["file"].unique().tolist() == ["valve1/0.csv"]
    assert got["datetime"].iloc[0] == "2020-03-09 10:06:40"  # row 400
    assert set(got["anomaly"]) == {0, 1}


@pytest.mark.parametrize("detector", ["mad", "rebase", "regression", "mset", "ensemble"])
def test_scores_never_use_a_later_row(detector):
    """Changing rows after row k leaves every score up to row k unchanged: features are causal and
    the detector is fitted on training rows only."""
    f = _fake_file()
    scores, threshold = skab.file_scores(f, detector, 30)
    changed = _fake_file()
    changed.frame.iloc[440:] += 100.0
    scores2, threshold2 = skab.file_scores(changed, detector, 30)
    k = 440 - skab.TRAIN_ROWS
    np.testing.assert_array_equal(scores[:k], scores2[:k])
    assert threshold == threshold2 and scores2[k:].min() > scores[k:].max()


def test_missing_data_path_is_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        skab.data_root(tmp_path / "nope")
    result = CliRunner().invoke(
        app, ["bench", "skab", "--data", str(tmp_path / "nope"), "--predictions", str(tmp_path / "p.csv")]
    )
    assert isinstance(result.exception, ConfigError)


@pytest.mark.skipif(not DATA.exists(), reason="SKAB data not present at ../shared/data/skab")
def test_bench_command_on_two_real_files(tmp_path):
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "skab",
            "--data",
            str(DATA),
            "--predictions",
            str(out),
            "--direct",
            "--detector",
            "mad",
            "--files",
            "valve1/0.csv,valve2/0.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "always alarm" in result.output and "Conv-AE" in result.output
    assert "valve1 -> valve2" in result.output and "valve2 -> valve1" in result.output
    got = pd.read_csv(out)
    assert got["file"].unique().tolist() == ["valve1/0.csv", "valve2/0.csv"]
    assert set(got["anomaly"]) <= {0, 1}
    files = skab.load_files(DATA, ["valve1/0.csv", "valve2/0.csv"])
    assert len(got) == sum(len(f.anomaly) - skab.TRAIN_ROWS for f in files)


def test_grid_declares_every_combination_and_holds_the_fixed_settings():
    grid = skab.grid_for("rebase")
    axes = skab.PARAM_GRIDS["rebase"]
    assert len(grid) == len(skab.WINDOWS) * len(skab.MARGINS) * int(np.prod([len(v) for v in axes.values()]))
    assert len({s.key() for s in grid}) == len(grid)
    assert len(skab.grid_for("pca")) == len(skab.WINDOWS) * len(skab.MARGINS)
    for name in ("mad", "rebase"):  # a fixed setting is a point of the declared grid
        assert skab.DEFAULT_SETTINGS[name] in skab.grid_for(name)
    assert skab.DEFAULT_SETTINGS["rebase"].label() == (
        "window=30s margin=3 drift=0.25 level=0.005 return=0.5 settle=60"
    )


def test_sequential_detector_at_a_margin_equals_fitting_at_that_margin():
    """The bench fits a sequential detector once and re-runs it per margin with the threshold
    scaled; that must give what a fit at that margin gives."""
    f = _fake_file(n=700, seed=3)
    f.frame.iloc[450:550, 0] += 8.0
    f.frame.iloc[550:, 0] += 2.5
    params = {"return_ratio": 0.5, "settle_rows": 10}
    grid = [skab.Setting(15, m, params) for m in (1.0, 5.0, 12.0)]
    preds = skab.predict_all([f], "rebase", grid)
    for s in grid:
        scores, threshold = skab.file_scores(f, "rebase", 15, params, s.margin)
        np.testing.assert_array_equal(preds[s.key()][f.name], (scores > threshold).astype(np.int8))
    # Thresholding the margin-1 scores instead would be wrong: at margin 5 the re-baselining differs.
    scores1, threshold1 = skab.file_scores(f, "rebase", 15, params, 1.0)
    assert (preds[grid[1].key()][f.name] != (scores1 > threshold1 * 5.0)).sum() > 10


@pytest.mark.skipif(not DATA.exists(), reason="SKAB data not present at ../shared/data/skab")
@pytest.mark.parametrize("detector", ["mad", "rebase"])
def test_fixed_setting_is_what_valve1_chooses(detector):
    """The fixed setting follows the declared rule on valve1 alone (valve2 and other unread)."""
    files = skab.load_files(DATA, [f"valve1/{i}.csv" for i in range(16)])
    grid = skab.grid_for(detector)
    assert skab.choose(files, skab.predict_all(files, detector, grid), grid) == skab.DEFAULT_SETTINGS[detector]
