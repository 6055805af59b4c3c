"""SKAB through the service's own path: each file replayed by ``pdm.bench.replay`` (storage,
the worker's training with its alarm budget, scheduled scoring, debounce, hysteresis, silent
period, alerts), then scored with SKAB's row-level protocol (F1 / FAR / MAR of the rows inside the
alerts the worker opened) and NAB, as ``pdm.bench.skab`` scores a bare detector.

One setting for all files. Settings are points of a small declared grid of what an engineer sets
in the plant file's ``detection:`` section; group-held-out rows choose on one group and score the
others, with ``pdm.bench.skab``'s rule.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pdm.bench.replay import replay
from pdm.bench.series import Series
from pdm.bench.skab import TRAIN_ROWS, Report, SkabFile, always, held_out, load_files, score_predictions
from pdm.config import DetectionConfig
from pdm.errors import ConfigError

# SKAB rows are one second apart: a scoring run every minute of data, as a worker on its schedule.
BATCH_S = 60.0


@dataclass(frozen=True)
class ServiceSetting:
    """The ``detection:`` settings a file is replayed with."""

    detector: str
    smooth_rows: int
    debounce_rows: int
    false_alerts_per_month: float = 1.0
    holdout_fraction: float = 0.25  # of the 400 training rows: 100 to calibrate the budget on
    # The service defaults unless a what-if changes them (bench/skab_offline.py).
    return_to_normal_rows: int = DetectionConfig().return_to_normal_rows
    silent_period_min: float = DetectionConfig().silent_period_min

    def key(self) -> tuple:
        return (
            self.detector,
            self.smooth_rows,
            self.debounce_rows,
            self.false_alerts_per_month,
            self.holdout_fraction,
            self.return_to_normal_rows,
            self.silent_period_min,
        )

    def label(self) -> str:
        return (
            f"{self.detector} smooth_rows={self.smooth_rows} debounce_rows={self.debounce_rows} "
            f"false_alerts_per_month={self.false_alerts_per_month:g} holdout_fraction={self.holdout_fraction:g} "
            f"return_to_normal_rows={self.return_to_normal_rows} silent_period_min={self.silent_period_min:g}"
        )

    def detection(self) -> DetectionConfig:
        return DetectionConfig(
            detector=self.detector,
            smooth_rows=self.smooth_rows,
            debounce_rows=self.debounce_rows,
            false_alerts_per_month=self.false_alerts_per_month,
            holdout_fraction=self.holdout_fraction,
            return_to_normal_rows=self.return_to_normal_rows,
            silent_period_min=self.silent_period_min,
            train_min_span_min=0,
            train_max_rows=TRAIN_ROWS,
        )


DETECTORS = ("mad", "rebase", "pca")
SMOOTH_ROWS = (1, 3, 10)
DEBOUNCE_ROWS = (2, 4, 8)
GRID = [ServiceSetting(d, s, b) for d, s, b in itertools.product(DETECTORS, SMOOTH_ROWS, DEBOUNCE_ROWS)]
# Chosen ON VALVE1 ONLY by ``pdm.bench.skab.choose`` over ``GRID`` (best F1 with FAR <= 10 %, else
# the lowest FAR); valve2 and other never informed it.
DEFAULT = ServiceSetting("rebase", 1, 8)


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """The SKAB folder, one service setting and a file subset: the hand-run bench scripts' options."""
    parser.add_argument("data", nargs="?", default="../shared/data/skab")
    parser.add_argument("--detector", default="rebase")
    parser.add_argument("--smooth-rows", type=int, default=1)
    parser.add_argument("--debounce-rows", type=int, default=4)
    parser.add_argument("--return-to-normal-rows", type=int, default=DetectionConfig().return_to_normal_rows)
    parser.add_argument("--silent-min", type=float, default=DetectionConfig().silent_period_min)
    parser.add_argument("--files", default=None)


def files_and_setting(args: argparse.Namespace) -> tuple[list[SkabFile], ServiceSetting]:
    files = load_files(args.data, args.files.split(",") if args.files else None)
    setting = ServiceSetting(
        args.detector,
        args.smooth_rows,
        args.debounce_rows,
        return_to_normal_rows=args.return_to_normal_rows,
        silent_period_min=args.silent_min,
    )
    return files, setting


def as_series(f: SkabFile) -> Series:
    """The file as the replay reads a CSV: epoch-second index, one window per run of labelled rows."""
    t = pd.DatetimeIndex(f.frame.index).as_unit("s").asi8.astype(float)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], f.anomaly, [0]))))
    windows = [(t[a], t[b - 1]) for a, b in zip(edges[::2], edges[1::2])]
    frame = f.frame.copy()
    frame.index = t
    return Series(f.name, frame, windows)


def flagged(f: SkabFile, setting: ServiceSetting) -> np.ndarray:
    """0/1 per test row: inside an alert the worker opened."""
    return replay(as_series(f), setting.detection(), train_rows=TRAIN_ROWS, batch_s=BATCH_S).flagged()


def _one(args: tuple[SkabFile, ServiceSetting]) -> np.ndarray:
    return flagged(*args)


def replay_all(
    files: list[SkabFile], grid: list[ServiceSetting], workers: int = 1
) -> dict[tuple, dict[str, np.ndarray]]:
    """Predictions of every setting on every file, keyed by ``ServiceSetting.key()`` then file name."""
    jobs = [(f, s) for s in grid for f in files]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_one, jobs, chunksize=4))
    else:
        results = [_one(job) for job in jobs]
    preds: dict[tuple, dict[str, np.ndarray]] = {}
    for (f, s), r in zip(jobs, results):
        preds.setdefault(s.key(), {})[f.name] = r
    return preds


def run(
    path,
    fixed: ServiceSetting = DEFAULT,
    grid: list[ServiceSetting] | None = None,
    only: list[str] | None = None,
    workers: int = 1,
) -> Report:
    """The fixed setting on every file, plus group-held-out selection over ``grid``."""
    files = load_files(path, only)
    if not files:
        raise ConfigError("--files", "files", only, "no such SKAB file (use names like valve1/0.csv)")
    grid = GRID if grid is None else grid
    preds = replay_all(files, grid if fixed in grid else [*grid, fixed], workers)
    result = score_predictions(files, preds[fixed.key()])
    rows = held_out(files, preds, grid)  # type: ignore[arg-type]  # any setting with key() and label()
    name = f"service ({fixed.detector})"
    return Report(name, files, fixed, result, rows, always(files, 1), always(files, 0))  # type: ignore[arg-type]
