"""The SKAB outlier-detection protocol (waico/SKAB README at b2c0d46), run on a local copy.

Per file: the first 400 rows are training data (labels ignored), the rest is scored; counts are
pooled over all 34 files of valve1, valve2 and other. Features are causal rolling means fitted on
the training rows only. One setting for all files; labels are read only for scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pdm.bench.metrics import Counts, binary_counts, nab_file_events, nab_scores, predicted_changepoints
from pdm.errors import ConfigError
from pdm.models import make_detector
from pdm.models.features import causal_rolling_mean

GROUPS = ("valve1", "valve2", "other")
TRAIN_ROWS = 400
SENSORS = ("Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature",
           "Thermocouple", "Voltage", "Volume Flow RateRMS")


@dataclass
class SkabFile:
    name: str  # e.g. "valve1/0.csv"
    group: str
    frame: pd.DataFrame  # sensors, indexed by datetime
    anomaly: np.ndarray
    changepoint: np.ndarray

    @property
    def test_slice(self) -> slice:
        return slice(TRAIN_ROWS, None)


@dataclass
class Setting:
    """One point of the declared grid: the feature window and the detector's threshold margin."""

    window: int
    margin: float
    params: dict = field(default_factory=dict)

    def label(self) -> str:
        return f"window={self.window}s margin={self.margin:g}"


def data_root(path: str | Path) -> Path:
    """The folder holding valve1/, valve2/, other/ (``path`` or ``path/data``)."""
    root = Path(path)
    for candidate in (root / "data", root):
        if all((candidate / g).is_dir() for g in GROUPS):
            return candidate
    if not root.exists():
        raise ConfigError("--data", "data", str(root), "path does not exist")
    raise ConfigError("--data", "data", str(root), f"no {', '.join(GROUPS)} folders found in it")


def load_files(path: str | Path, only: list[str] | None = None) -> list[SkabFile]:
    """Every experiment file (or only those named like ``valve1/0.csv``), ordered by group then
    file number."""
    root = data_root(path)
    files = []
    for group in GROUPS:
        paths = sorted((root / group).glob("*.csv"), key=lambda p: int(p.stem) if p.stem.isdigit() else 10**9)
        for p in paths:
            if only is not None and f"{group}/{p.name}" not in only:
                continue
            df = pd.read_csv(p, sep=";", index_col="datetime", parse_dates=True)
            files.append(SkabFile(f"{group}/{p.name}", group, df[list(SENSORS)].astype(float),
                                  df["anomaly"].to_numpy(int), df["changepoint"].to_numpy(int)))
    return files


def file_scores(f: SkabFile, detector: str, window: int, params: dict | None = None):
    """Fit on the file's training rows, return (test scores, base threshold at margin 1).

    The rolling mean is causal, so the test features at a row only use that row and earlier
    ones; the detector never sees a test row while fitting.
    """
    feats = causal_rolling_mean(f.frame, window)
    model = make_detector(detector, threshold_margin=1.0, **(params or {}))
    model.fit(feats.iloc[:TRAIN_ROWS])
    return model.score_samples(feats.iloc[TRAIN_ROWS:]), model.threshold_


@dataclass
class Result:
    counts: Counts
    nab: dict[str, float]
    predictions: dict[str, np.ndarray]


def evaluate(files, scored: dict[str, tuple[np.ndarray, float]], margin: float) -> Result:
    """Threshold the cached scores at ``margin`` x base threshold and score every file."""
    preds = {f.name: (scored[f.name][0] > scored[f.name][1] * margin).astype(int) for f in files}
    return score_predictions(files, preds)


def score_predictions(files, preds: dict[str, np.ndarray]) -> Result:
    counts = binary_counts((f.anomaly[TRAIN_ROWS:], preds[f.name]) for f in files)
    events = []
    for f in files:
        t = (f.frame.index[TRAIN_ROWS:] - f.frame.index[0]).total_seconds().to_numpy()
        events.append(nab_file_events(t, f.changepoint[TRAIN_ROWS:], predicted_changepoints(preds[f.name])))
    return Result(counts, nab_scores(events), preds)


def score_all(files, detector: str, windows, params: dict | None = None):
    """Scores per (window, file), computed once so every margin of the grid is free."""
    return {w: {f.name: file_scores(f, detector, w, params) for f in files} for w in windows}


def choose(files, cache, grid: list[Setting]) -> Setting:
    """The grid point with the best F1 on ``files`` among those with FAR <= 10 % (the long-term
    target); if none qualifies, the one with the lowest FAR. Ties go to the earlier grid point."""
    results = [(s, evaluate(files, cache[s.window], s.margin).counts) for s in grid]
    ok = [(s, c) for s, c in results if c.far <= 10.0]
    if ok:
        return max(ok, key=lambda sc: sc[1].f1)[0]
    return min(results, key=lambda sc: sc[1].far)[0]


def held_out(files, cache, grid: list[Setting]):
    """For each group: choose on that group alone, score on the other groups."""
    rows = []
    for group in sorted({f.group for f in files}, key=GROUPS.index):
        pick = [f for f in files if f.group == group]
        rest = [f for f in files if f.group != group]
        if not rest:
            continue
        setting = choose(pick, cache, grid)
        rows.append((group, setting, evaluate(rest, cache[setting.window], setting.margin)))
    return rows


def always(files, value: int) -> Result:
    return score_predictions(files, {f.name: np.full(len(f.anomaly) - TRAIN_ROWS, value) for f in files})


def write_predictions(path: str | Path, files, preds: dict[str, np.ndarray]) -> None:
    """CSV ``file,datetime,anomaly``: one line per test row of every file."""
    parts = [pd.DataFrame({"file": f.name, "datetime": f.frame.index[TRAIN_ROWS:].strftime("%Y-%m-%d %H:%M:%S"),
                           "anomaly": preds[f.name].astype(int)}) for f in files]
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)


# The declared selection grid: causal rolling-mean windows in seconds and threshold margins
# (multiples of the detector's training-quantile threshold). Smoothing makes 400 training rows
# look very regular, so useful margins run far above 1.
WINDOWS = (15, 30, 60)
MARGINS = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 50.0)
GRID = [Setting(w, m) for w in WINDOWS for m in MARGINS]


@dataclass
class Report:
    detector: str
    files: list
    fixed: Setting
    result: Result
    held_out: list
    always_on: Result
    null: Result


def run(path, detector: str, fixed: Setting, grid=GRID, only: list[str] | None = None) -> Report:
    """The whole benchmark: the fixed setting on every file, plus group-held-out selection."""
    files = load_files(path, only)
    if not files:
        raise ConfigError("--files", "files", only, "no such SKAB file (use names like valve1/0.csv)")
    windows = sorted({s.window for s in grid} | {fixed.window})
    cache = score_all(files, detector, windows, fixed.params)
    result = evaluate(files, cache[fixed.window], fixed.margin)
    rows = held_out(files, cache, grid)
    return Report(detector, files, fixed, result, rows, always(files, 1), always(files, 0))


# Chosen by the mean F1 of the three group-held-out rows (mad 0.749, mset 0.746, ensemble 0.734,
# pca 0.661, regression 0.681, iforest 0.623; measured 2026-11-28), i.e. on held-out groups, never on
# the all-files score. That is still a choice among six made with every group's labels once.
DEFAULT_DETECTOR = "mad"
# Fixed settings per detector, each chosen ON VALVE1 ONLY by ``choose`` over ``GRID`` (best F1 with
# FAR <= 10 %, else lowest FAR); valve2 and other never informed them. The all-files number the
# command prints for them therefore includes valve1, the group they were chosen on.
DEFAULT_SETTINGS: dict[str, Setting] = {
    "ensemble": Setting(60, 50.0), "iforest": Setting(60, 12.0), "mad": Setting(30, 3.0),
    "mset": Setting(60, 50.0), "pca": Setting(60, 12.0), "regression": Setting(60, 20.0),
}
FALLBACK_SETTING = Setting(30, 5.0)
