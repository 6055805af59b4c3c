"""Where the service path's false-alarm and missed rows on SKAB come from, beside the bare detector.

Usage: python bench/skab_diagnose.py [SKAB folder] [--detector rebase] [--smooth-rows 1] [--debounce-rows 4]
       [--files valve1/0.csv,...] [--workers 2] [--per-file]

Each file is replayed through the worker (``pdm.bench.skab_service``) and its flagged rows split by
cause. False-alarm rows: inside an alert opened before its fault's window ("early"), rows after the
window's end in an alert that was open during it ("held": the score stays over the clear level, or
later runs extend the alert's last-seen row), or in an alert that opened after the window ("after").
Missed rows: a window no alert overlaps ("missed"), rows of a window before the alert opened
("late"), rows after the alert's last-seen row ("early end"). The "held" rows are split again: those
in the run still going on when the window ended ("tail") and those added by later runs ("relit").
The bare detector (``--direct``'s setting for the detector) is split the same way, rows only.
"""

from __future__ import annotations

import argparse
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from pdm.alerts.rules import CLEAR_RATIO
from pdm.bench import skab
from pdm.bench.metrics import binary_counts
from pdm.bench.replay import replay
from pdm.bench.skab_service import BATCH_S, add_setting_arguments, as_series, files_and_setting

CAUSES = ("early", "held_tail", "held_relit", "after", "missed", "late", "early_end")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(int), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]  # [a, b)


def split(labels: np.ndarray, flagged: np.ndarray, above_clear: np.ndarray | None = None) -> Counter:
    """Row counts per cause for one file (``above_clear``: the score over the clear level per row)."""
    out: Counter = Counter()
    windows = _runs(labels)
    for a, b in _runs(flagged):
        hit = [(wa, wb) for wa, wb in windows if wa < b and a < wb]
        if not hit:
            out["after" if any(wb <= a for _, wb in windows) else "early"] += b - a
            continue
        first, last = hit[0], hit[-1]
        out["early"] += max(0, first[0] - a)
        if b > last[1]:
            tail = last[1]
            if above_clear is not None:
                while tail < b and above_clear[tail]:
                    tail += 1
            out["held_tail"] += tail - last[1]
            out["held_relit"] += b - tail
    for wa, wb in windows:
        inside = flagged[wa:wb]
        if not inside.any():
            out["missed"] += wb - wa
            continue
        on = np.flatnonzero(inside)
        out["late"] += int(on[0])
        out["early_end"] += int(wb - wa - 1 - on[-1])
        out["gap"] += int((inside[on[0] : on[-1] + 1] == 0).sum())
    return out


def _service(args: tuple) -> tuple[str, np.ndarray, np.ndarray, str]:
    f, setting = args
    r = replay(as_series(f), setting.detection(), train_rows=skab.TRAIN_ROWS, batch_s=BATCH_S)
    flagged = r.flagged()
    above = np.zeros(len(flagged), dtype=bool)
    if r.scores is not None and len(r.scores):
        t = as_series(f).frame.index.to_numpy(dtype=float)[skab.TRAIN_ROWS :]
        pos = np.searchsorted(t, r.scores[:, 0])
        above[pos] = r.scores[:, 1] > r.scores[:, 2] * CLEAR_RATIO
    return f.name, flagged, above, r.model


def _direct(f, detector: str) -> np.ndarray:
    s = skab.DEFAULT_SETTINGS[detector]
    scores, threshold = skab.file_scores(f, detector, s.window, s.params, s.margin)
    return (scores > threshold).astype(np.int8)


def _line(name: str, c: Counter) -> str:
    return f"{name:18s} " + " ".join(f"{k}={c[k]:6d}" for k in (*CAUSES, "gap"))


def main() -> None:
    p = argparse.ArgumentParser()
    add_setting_arguments(p)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--per-file", action="store_true")
    args = p.parse_args()
    files, setting = files_and_setting(args)
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(_service, [(f, setting) for f in files]))
    bare = args.detector if args.detector in skab.DEFAULT_SETTINGS else skab.DEFAULT_DETECTOR
    total_s: Counter = Counter()
    total_d: Counter = Counter()
    pairs_s, pairs_d = [], []
    for f, (_, flagged, above, model) in zip(files, done):
        labels = f.anomaly[skab.TRAIN_ROWS :]
        direct = _direct(f, bare)
        cs, cd = split(labels, flagged, above), split(labels, direct)
        total_s.update(cs)
        total_d.update(cd)
        pairs_s.append((labels, flagged))
        pairs_d.append((labels, direct))
        if args.per_file:
            print(f"{f.name}: {model.split(' (')[0]}")
            print(_line("  service", cs))
            print(_line("  bare", cd))
    for name, total, pairs in (("service", total_s, pairs_s), (f"bare {bare}", total_d, pairs_d)):
        c = binary_counts(pairs)
        print(_line(name, total), f" F1 {c.f1:.3f} FAR {c.far:.2f} MAR {c.mar:.2f}")


if __name__ == "__main__":
    main()
