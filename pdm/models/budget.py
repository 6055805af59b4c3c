"""The alarm budget: a model's threshold is set so that, on normal data it has not been fitted on,
it would open at most ``false_alerts_per_month`` alerts per 30 days, counted as the worker opens
them (debounce, hysteresis, silent period: ``pdm.alerts.rules.simulate_openings``), not as rows.

Held-out normal data rarely spans a month, so the count at the threshold wanted cannot be
observed directly. The excursions over a lower level are counted instead
and their peaks' tail extrapolated (peaks over threshold with an exponential tail, the usual
extreme-value shortcut): rate(t) = rate(u) x exp(-(t - u) / sigma). The threshold is never below
the lowest one that keeps the observed count within the budget, so a long held-out period is
held to what it shows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pdm.alerts.simulate import CLEAR_RATIO, SimulatedAlert, simulate_openings

MONTH_S = 30 * 86_400.0
# Fewer excursions than this over the base level leave the tail unknown.
MIN_PEAKS = 5
# Fewer held-out rows than this say too little about normal excursions to set a threshold on.
MIN_ROWS = 100
# Base levels tried, as quantiles of the opening levels, until enough excursions are seen.
BASE_QUANTILES = (0.99, 0.97, 0.9, 0.75, 0.5)


@dataclass(frozen=True)
class Calibration:
    threshold: float
    method: str  # "budget": calibrated on held-out rows; "quantile": too few of them, the detector's own
    budget_per_month: float
    expected_per_month: float | None  # at ``threshold``, from the fitted tail
    observed_alerts: int  # at ``threshold``, on the held-out rows
    rows: int
    span_h: float

    def as_metrics(self) -> dict:
        return asdict(self)


def enough_rows(rows: int, debounce_rows: int) -> bool:
    """Whether that many held-out rows are enough to count excursions on."""
    return rows >= max(MIN_ROWS, 10 * debounce_rows)


def opening_levels(scores: np.ndarray, debounce_rows: int, clear_ratio: float = CLEAR_RATIO) -> np.ndarray:
    """Per row, the highest threshold at which a run of ``debounce_rows`` starting there opens an
    alert: the run starts above the threshold and lasts while above ``clear_ratio`` of it."""
    if debounce_rows <= 1:
        return scores
    rest = np.lib.stride_tricks.sliding_window_view(scores[1:], debounce_rows - 1).min(axis=1)
    return np.minimum(scores[: len(rest)], rest / clear_ratio)


Segment = tuple[np.ndarray, np.ndarray]  # (times, scores) of consecutive rows of one asset


def alerts_per_month(
    ts: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    *,
    debounce_rows: int,
    silent_min: float,
    return_to_normal_rows: int = 1,
) -> float:
    """Alerts (episodes: openings and returns from normal) the worker would give per 30 days at ``threshold``."""
    span = _span_s(ts)
    opened = simulate_openings(
        ts,
        scores,
        threshold,
        debounce_rows=debounce_rows,
        silent_period_min=silent_min,
        return_to_normal_rows=return_to_normal_rows,
    )
    return len(opened) * MONTH_S / span if span > 0 else 0.0


def calibrate(
    segments: list[Segment],
    *,
    budget_per_month: float,
    debounce_rows: int,
    silent_min: float,
    fallback: float,
    return_to_normal_rows: int = 1,
) -> Calibration:
    """The threshold for ``budget_per_month`` alerts per asset, from held-out normal scores.

    ``segments``: one per asset (a fleet model is calibrated on every member it did not see), each
    its row times and scores. ``fallback`` (the detector's quantile threshold) is kept when there
    are too few rows to count excursions on, and is the floor when too few excursions show.
    """
    segments = [(np.asarray(t, dtype=float), np.asarray(v, dtype=float)) for t, v in segments]
    segments = [(t, v) for t, v in segments if len(v) >= debounce_rows]
    span = sum(_span_s(t) for t, _ in segments)
    rows, span_h = sum(len(v) for _, v in segments), span / 3600.0

    def opened(t: float) -> list[list[SimulatedAlert]]:
        return [
            simulate_openings(
                ts,
                v,
                t,
                debounce_rows=debounce_rows,
                silent_period_min=silent_min,
                return_to_normal_rows=return_to_normal_rows,
            )
            for ts, v in segments
        ]

    def count(t: float) -> int:
        return sum(len(o) for o in opened(t))

    if not enough_rows(rows, debounce_rows) or span <= 0:
        return Calibration(fallback, "quantile", budget_per_month, None, count(fallback), rows, span_h)
    levels = [opening_levels(v, debounce_rows) for _, v in segments]
    allowed = budget_per_month * span / MONTH_S
    observed = _lowest_within(np.unique(np.concatenate(levels)), count, allowed)
    tail = _tail(levels, opened, debounce_rows, span)
    if tail is None:  # too few excursions to know the tail: not below the detector's own threshold
        threshold, expected = max(observed, fallback), None
    else:
        base, sigma, rate = tail
        wanted = budget_per_month / MONTH_S
        extrapolated = base + sigma * math.log(rate / wanted) if rate > wanted else base
        threshold = max(observed, extrapolated)
        expected = rate * math.exp(-(threshold - base) / sigma) * MONTH_S if sigma > 0 else 0.0
    if count(threshold) > allowed:  # hysteresis and silence make the count not quite monotone
        threshold = max(threshold, float(max(lv.max() for lv in levels)))
    return Calibration(float(threshold), "budget", budget_per_month, expected, count(threshold), rows, span_h)


def _span_s(ts: np.ndarray) -> float:
    """Data time the rows cover, counting the last row's own interval."""
    if len(ts) < 2:
        return 0.0
    return float(ts[-1] - ts[0]) + float(np.median(np.diff(ts)))


def _lowest_within(candidates: np.ndarray, count, allowed: float) -> float:
    """The lowest candidate level at which at most ``allowed`` alerts open (the count falls as the
    threshold rises; the highest candidate opens none, since opening needs a score above it)."""
    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count(float(candidates[mid])) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[hi])


def _tail(levels: list[np.ndarray], opened, debounce_rows: int, span: float) -> tuple[float, float, float] | None:
    """(base level u, exponential scale of the excursion peaks over u, excursions per second at u),
    at the highest base level with enough excursions; None when none has."""
    every = np.concatenate(levels)
    for q in BASE_QUANTILES:
        base = float(np.quantile(every, q))
        # An excursion's height is the highest threshold it would still open at, over the runs of
        # ``debounce_rows`` starting inside it (it is at least that long, since it opened one).
        peaks = np.array(
            [
                lv[a.first_row : a.last_row - debounce_rows + 2].max()
                for lv, alerts in zip(levels, opened(base))
                for a in alerts
            ]
        )
        if len(peaks) >= MIN_PEAKS:
            return base, float(np.mean(np.maximum(peaks - base, 0.0))), len(peaks) / span
    return None
