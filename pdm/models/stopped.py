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
# Warm-up: rows this long after a restart show the machine settled (its reference ranges); the
# warm-up is the time at most a quarter of the restarts take to settle into them.
SETTLED_MIN = 180.0
STILL_WARMING = 0.25
HOLD_MIN = 15.0


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


def _settle_s(ts: np.ndarray, outside: np.ndarray, first: int, last: int, hold: int) -> float | None:
    """Seconds from a restart (row ``first``) to the first of ``hold`` rows in a row all inside the
    settled ranges, within rows ``first`` to ``last``; None when its run is too short to tell."""
    inside = ~outside[first : last + 1]
    if len(inside) < hold:
        return None
    calm = np.convolve(inside, np.ones(hold, dtype=int), mode="valid") == hold
    return float(ts[first + int(np.argmax(calm))] - ts[first]) if calm.any() else float(ts[last] - ts[first])


def warmup_min(frame: pd.DataFrame, mode: OffMode) -> tuple[float, str]:
    """Minutes after each restart until the machine's tags are back in the ranges they keep once
    settled, from the restarts in ``frame`` (training rows); 0 and why when it cannot tell.

    A cold machine's temperatures climb for a while after it starts (a thermal lag of minutes to
    an hour): those rows are normal but unlike any settled row, so they must not be scored. Each
    restart settles when ``HOLD_MIN`` of rows in a row are inside the settled ranges (one noisy row
    does not end a warm-up, nor prolong one); the figure is the settling time a quarter of the
    restarts exceed."""
    ts = frame.index.to_numpy(dtype=float)
    running = frame[mode.tag].to_numpy(dtype=float) > mode.above
    starts = np.flatnonzero(running[1:] & ~running[:-1]) + 1
    if len(starts) < 2:
        return 0.0, f"{len(starts)} restart in the training rows: no warm-up measured"
    latest = np.searchsorted(ts[starts], ts, side="right") - 1
    since = np.where(latest >= 0, ts - ts[starts[np.maximum(latest, 0)]], np.inf)
    settled = running & (since > SETTLED_MIN * 60.0)
    if settled.sum() < MIN_ROWS:
        return 0.0, f"{int(settled.sum())} settled rows: no warm-up measured"
    values = frame.to_numpy(dtype=float)
    lo, hi = np.nanquantile(values[settled], 0.01, axis=0), np.nanquantile(values[settled], 0.99, axis=0)
    pad = 0.1 * (hi - lo)
    outside = ((values < lo - pad) | (values > hi + pad)).any(axis=1)
    step = float(np.median(np.diff(ts)))
    hold = max(3, round(HOLD_MIN * 60.0 / step))
    times = []
    for first in map(int, starts):
        stop = np.flatnonzero(~running[first:] | (since[first:] > SETTLED_MIN * 60.0))
        last = first + (int(stop[0]) - 1 if len(stop) else len(ts) - 1 - first)
        settle = _settle_s(ts, outside, first, last, hold)
        if settle is not None:
            times.append(settle)
    if len(times) < 2:
        return 0.0, f"{len(times)} restart long enough to tell: no warm-up measured"
    minutes = float(np.ceil(np.quantile(times, 1.0 - STILL_WARMING) / 60.0))
    return minutes, f"warm-up {minutes:.0f} min after a restart (from {len(times)} restarts)"
