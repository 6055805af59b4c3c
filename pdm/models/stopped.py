"""Recognising a stopped machine from its own tags when the plant file names no ``running_tag``.

A speed, a current or a flow reads about zero while the machine is stopped: a tight mode at the
bottom of the tag's range, far below the running values, with next to nothing in between (only
the rows of the stops and starts themselves). Such a tag, found in the training data, becomes the
asset's running rule, with the threshold half-way across the empty stretch; the choice and why are
stored with the model and the same rule is used in scoring.

Conservative on purpose: a rule wrongly found hides real rows from detection, a rule missed only
leaves a stop to alert as it did before. So each test below must hold clearly, any unit and any tag
name: a two-speed machine (its low speed is not near zero), a cooling temperature or a long low
tail (no empty stretch) give no rule. On a one-tag asset the only tag is also the only signal (a
sensor reading zero may be the fault), so there the stopped mode must be exactly constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_ROWS = 100  # fewer rows cannot show two modes and the stretch between them
MIN_SHARE = 0.10  # each mode, stopped and running, holds at least this share of the rows
# Rows allowed in the empty stretch: the smoothed rows of each stop and start (2 of 3-row smoothing
# per edge, a nightly stop on 10-minute rows is 4 in 144).
TRANSITION_SHARE = 0.03
MIN_GAP = 0.5  # the empty stretch is at least this share of the distance between the modes
NEAR = 0.1  # the stopped mode's level and width, at most this share of that distance


@dataclass(frozen=True)
class OffMode:
    tag: str
    above: float  # running while the tag reads above this
    separation: float  # the empty stretch over the modes' distance: how clear the evidence is
    reason: str


def _off_mode(tag: str, values: np.ndarray) -> OffMode | str:
    """The tag's stopped mode, or why it shows none."""
    v = np.sort(values[np.isfinite(values)])
    n = len(v)
    if n < MIN_ROWS:
        return f"{tag}: {n} rows"
    # The widest stretch holding fewer than k rows: (v[j], v[j + k]) with k - 1 rows inside.
    k = 1 + math.floor(TRANSITION_SHARE * n)
    low_n = np.arange(n - k) + 1  # rows at or below v[j]
    widths = v[k:] - v[:-k]
    ok = (low_n >= MIN_SHARE * n) & (n - low_n - (k - 1) >= MIN_SHARE * n)
    if not ok.any() or not (widths[ok] > 0).any():
        return f"{tag}: no empty stretch"
    j = int(np.flatnonzero(ok)[np.argmax(widths[ok])])
    low, high = v[: j + 1], v[j + k :]
    distance = float(np.median(high) - np.median(low))
    gap = float(v[j + k] - v[j])
    if distance <= 0 or gap < MIN_GAP * distance:
        return f"{tag}: no empty stretch between its low and high values"
    level, width = float(np.median(low)), float(np.quantile(low, 0.95) - low[0])
    if abs(level) > NEAR * distance:
        return f"{tag}: its low mode {level:.4g} is not near zero (a second operating point?)"
    if width > NEAR * distance:
        return f"{tag}: its low mode is spread over {width:.4g}"
    if np.ptp(high) == 0:  # 0/1: which state is running (a status flag? an alarm?) its values do not say
        return f"{tag}: a two-state tag"
    above = float(v[j] + gap / 2)
    share = len(low) / n
    reason = (
        f"{tag} reads {level:.4g} (at most {float(v[j]):.4g}) on {share:.0%} of the training rows and from "
        f"{float(v[j + k]):.4g} (median {float(np.median(high)):.4g}) on the others: stopped at or below {above:.4g}"
    )
    return OffMode(tag, above, gap / distance, reason)


def find_off_mode(frame: pd.DataFrame) -> tuple[OffMode | None, str]:
    """The tag of ``frame`` (one column per tag) that shows the clearest stopped mode, and why; or
    None and why no tag does."""
    tags = [c for c in frame.columns if frame[c].nunique() > 1]  # a stuck tag tells nothing
    found = [m for m in (_off_mode(str(t), frame[t].to_numpy(dtype=float)) for t in tags) if isinstance(m, OffMode)]
    if len(tags) == 1 and found:
        low = frame[tags[0]].to_numpy(dtype=float) <= found[0].above
        if np.ptp(frame[tags[0]].to_numpy(dtype=float)[low]) > 0:
            return None, f"one tag, whose low mode is not exactly constant: {found[0].reason}"
    if not found:
        return None, "no tag shows a clear stopped mode"
    best = max(found, key=lambda m: m.separation)
    return best, f"auto: {best.reason}"
