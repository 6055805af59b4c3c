"""The alert episodes the worker's rule gives on one series of scores, without a database.

``pdm.alerts.rules.evaluate`` opens and updates alerts in the database, batch by batch; the alarm
budget (``pdm.models.budget``) and quick what-ifs (``bench/skab_offline.py``) need the same rule
on thousands of candidate thresholds, so it is written here once more, row by row, and a test
(tests/alerts/test_rules.py) holds the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CLEAR_RATIO = 0.9


@dataclass(frozen=True)
class SimulatedAlert:
    """One episode: an alert opening, or an open alert becoming active again."""

    opened_at: float
    last_seen_at: float
    first_row: int  # index of the run's first row in the scored series
    last_row: int


def simulate_openings(
    ts: Sequence[float] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    threshold: float,
    *,
    debounce_rows: int,
    silent_period_min: float,
    clear_ratio: float = CLEAR_RATIO,
    return_to_normal_rows: int = 1,
) -> list[SimulatedAlert]:
    """The episodes ``evaluate`` would give with nobody closing an alert: an episode ends once
    ``return_to_normal_rows`` rows in a row stay calm (back to normal), and the next needs a
    debounced run after the silent period, counted from the last anomalous row.

    With ``return_to_normal_rows=1`` this is also the worker with a technician who closes each
    alert as a false alarm when its run ends. What the alarm budget counts on normal data: the
    same debounce, hysteresis, return to normal and silent period as the worker, so the number is
    the one a plant would see, not a share of rows.
    """
    clear = threshold * clear_ratio
    out: list[SimulatedAlert] = []
    run, start, calm = 0, 0, 0
    opened: float | None = None
    first = last = 0
    quiet_until = float("-inf")
    for i, (t, s) in enumerate(zip(ts, scores)):
        if s > threshold or (run and s > clear):
            run, start, calm = run + 1, start if run else i, 0
            if opened is not None:
                last = i
            elif run >= debounce_rows and t >= quiet_until:
                opened, first, last = max(float(ts[start]), quiet_until), start, i
            continue
        run, calm = 0, calm + 1
        if opened is not None and calm >= return_to_normal_rows:
            out.append(SimulatedAlert(opened, float(ts[last]), first, last))
            quiet_until = float(ts[last]) + silent_period_min * 60.0
            opened = None
    if opened is not None:
        out.append(SimulatedAlert(opened, float(ts[last]), first, last))
    return out
