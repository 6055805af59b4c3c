"""SKAB through the service's own path: every file replayed by ``pdm.bench.replay``.

Usage: python bench/skab_replay.py [SKAB folder] [--detector NAME] [--smooth-rows N]

Each file trains on its first 400 rows (SKAB's protocol) and is scored in batches of 60 s, as
the worker would. Prints the pooled event figures (faults caught, false alerts per 30 days,
lead time, NAB) and SKAB's row-level F1 / FAR / MAR of the rows inside the alerts the worker
opened, beside always-alarm and never-alarm, and the seconds taken.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pdm.bench.events import pooled
from pdm.bench.metrics import binary_counts
from pdm.bench.replay import replay
from pdm.bench.series import load_series
from pdm.bench.skab import GROUPS, TRAIN_ROWS, data_root
from pdm.cli.bench import event_table
from pdm.config import DetectionConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default="../shared/data/skab")
    parser.add_argument("--detector", default="pca")
    parser.add_argument("--smooth-rows", type=int, default=3)
    parser.add_argument("--debounce-rows", type=int, default=4)
    parser.add_argument("--budget", type=float, default=1.0, help="false alerts per asset per 30 days")
    parser.add_argument("--holdout-fraction", type=float, default=0.25, help="of the training rows, to calibrate on")
    args = parser.parse_args()
    root = data_root(args.data)
    detection = DetectionConfig(
        detector=args.detector,
        smooth_rows=args.smooth_rows,
        debounce_rows=args.debounce_rows,
        false_alerts_per_month=args.budget,
        holdout_fraction=args.holdout_fraction,
        train_min_span_min=0,
        train_max_rows=TRAIN_ROWS,
    )
    started = time.perf_counter()
    results, pairs = [], []
    for group in GROUPS:
        for path in sorted((root / group).glob("*.csv"), key=lambda p: int(p.stem)):
            series = load_series(path, timestamp="datetime", label="anomaly", ignore=("changepoint",))
            r = replay(series, detection, train_rows=TRAIN_ROWS, batch_s=60.0)
            results.append(r)
            labels = np.zeros(len(series.frame), dtype=int)
            t = series.frame.index.to_numpy(dtype=float)
            for s, e in series.windows:
                labels[(t >= s) & (t <= e)] = 1
            pairs.append((labels[TRAIN_ROWS:], r.flagged()))
    counts = binary_counts(pairs)
    print(
        f"SKAB, {len(results)} files, {args.detector}, smooth_rows={args.smooth_rows}, "
        f"debounce_rows={args.debounce_rows}, budget {args.budget:g}/30 d "
        f"calibrated on the last {args.holdout_fraction:.0%}, trained on the first {TRAIN_ROWS} rows of each"
    )
    print(
        event_table(
            [
                ("service", pooled([r.figures() for r in results])),
                ("always alarm", pooled([r.always() for r in results])),
                ("never alarm", pooled([r.never() for r in results])),
            ]
        )
    )
    print(f"rows inside alerts: F1 {counts.f1:.3f}  FAR {counts.far:.2f} %  MAR {counts.mar:.2f} %")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
