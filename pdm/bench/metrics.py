"""Benchmark metrics: pooled F1 / FAR / MAR for outlier detection, NAB scores for changepoints.

Both follow the SKAB protocol (waico/SKAB, README at b2c0d46). The NAB scorer matches the
cleaned-up implementation in waico/tsad (``tsad/evaluating/univariate_funcs.py``,
``single_evaluate_nab`` with ``scale_func="improved"``, ``scale_koef=1``,
``clear_anomalies_mode=True``), which SKAB's own ``evaluating.py`` was folded into:

- each true changepoint opens a scoring window [t, t + 60 s] (both ends included);
- a predicted changepoint outside every window is a false positive (``A_fp`` each);
- a window without a predicted changepoint is a miss (``A_fn``);
- the FIRST predicted changepoint in a window earns ``y(event)`` on a tanh curve that goes from
  ``A_tp`` at the window's start to ``A_fp`` at its end; later ones in the same window are free;
- per profile, raw scores are summed over files and normalised as
  ``100 * (S - S_null) / (S_perfect - S_null)`` with ``S_null = n_cp * A_fn`` (no detection) and
  ``S_perfect = n_cp * A_tp``.

SKAB's own ``evaluating.py`` (waico/SKAB at 7f3d7b7) differs in places that look unintended (it
counts false positives only in a trailing slice before the next changepoint, and counts a
detection on a window's first row also as a false positive), so tsad's version is the one matched.

Profiles: standard (A_tp 1, A_fp -0.11, A_fn -1), low FP (A_fp -0.22), low FN (A_fn -2).
Predicted changepoints are derived from 0/1 predictions as the rows where the prediction switches
(0 -> 1 or 1 -> 0), as a row-wise detector has no separate changepoint output: SKAB labels the end
of an anomaly as a changepoint too (32 of the 34 anomalies that end before their file does), and
the row where an alarm clears is where the detector sees that end. Both are known at that row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROFILES = {"standard": (1.0, -0.11, -1.0), "low_fp": (1.0, -0.22, -1.0), "low_fn": (1.0, -0.11, -2.0)}
NAB_WINDOW_S = 60.0
_DETAIL = 1000  # points on the tanh curve, as in tsad


@dataclass
class Counts:
    """Pooled confusion counts over rows (positive = anomalous)."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add(self, y_true, y_pred) -> Counts:
        t, p = np.asarray(y_true) == 1, np.asarray(y_pred) == 1
        self.tp += int((t & p).sum())
        self.fp += int((~t & p).sum())
        self.tn += int((~t & ~p).sum())
        self.fn += int((t & ~p).sum())
        return self

    @property
    def f1(self) -> float:
        denom = self.tp + (self.fp + self.fn) / 2
        return self.tp / denom if denom else 0.0

    @property
    def far(self) -> float:
        """False alarm rate, percent of normal rows flagged."""
        return 100.0 * self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        """Missed alarm rate, percent of anomalous rows not flagged."""
        return 100.0 * self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0


def binary_counts(pairs) -> Counts:
    """Counts pooled over ``(y_true, y_pred)`` pairs, one per file."""
    total = Counts()
    for y_true, y_pred in pairs:
        total.add(y_true, y_pred)
    return total


def predicted_changepoints(y_pred) -> np.ndarray:
    """True where a 0/1 prediction switches on or off (the first row counts if it is already on)."""
    p = (np.asarray(y_pred) == 1).astype(int)
    return np.diff(p, prepend=0) != 0


def _tanh_curve(a_tp: float, a_fp: float) -> np.ndarray:
    x = np.linspace(-np.pi / 2, np.pi / 2, _DETAIL)
    return (a_tp - a_fp) / 2 * -np.tanh(x) / np.tanh(np.pi / 2) + (a_tp - a_fp) / 2 + a_fp


def nab_file_events(t_s, true_cp, pred_cp, window_s: float = NAB_WINDOW_S):
    """One file's NAB events: (number of false positives, relative positions of first detections
    in [0, 1] per detected window, number of missed windows). ``t_s`` is time in seconds."""
    t = np.asarray(t_s, dtype=float)
    starts = t[np.asarray(true_cp) == 1]
    return nab_events([(s, s + window_s) for s in starts], t[np.asarray(pred_cp, dtype=bool)])


def nab_events(windows, detections) -> tuple[int, list[float], int]:
    """NAB events of detection times against (start, end) windows, both ends included."""
    detections = np.asarray(detections, dtype=float)
    inside = np.zeros(len(detections), dtype=bool)
    positions, missed = [], 0
    for start, end in windows:
        hit = (detections >= start) & (detections <= end)
        inside |= hit
        if hit.any():
            positions.append((detections[hit][0] - start) / (end - start) if end > start else 0.0)
        else:
            missed += 1
    return int((~inside).sum()), positions, missed


def nab_scores(events) -> dict[str, float]:
    """Normalised NAB scores (0 = null detector, 100 = perfect) from per-file events."""
    events = list(events)
    n_cp = sum(len(pos) + missed for _, pos, missed in events)
    result = {}
    for name, (a_tp, a_fp, a_fn) in PROFILES.items():
        curve = _tanh_curve(a_tp, a_fp)
        raw = 0.0
        for n_fp, positions, missed in events:
            raw += a_fp * n_fp + a_fn * missed
            raw += sum(curve[min(int(p * _DETAIL), _DETAIL - 1)] for p in positions)
        null, perfect = n_cp * a_fn, n_cp * a_tp
        result[name] = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return result
