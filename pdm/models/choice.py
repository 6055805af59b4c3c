"""Which detector an asset gets when its settings say ``detector: auto`` (the default): read from
its training data, so an asset nobody tuned still gets a detector suited to its shape.

- one usable tag (a probe, a vibration RMS, a current clamp): ``mad``, its robust z-score
  (``rebase`` when its level moves, as below);
- tags that move together (a load that drives every sensor): ``pca``, which learns the relation
  and alarms when it breaks, not when the load changes (a slow load cycle moves every level,
  so this is asked first);
- a tag whose level moves during training on its own (drift, a product change, a maintenance
  reset): ``rebase``, which follows a level the process settles at;
- otherwise (independent tags): ``mad``.

Some tags are left out of the model, each with its reason: a tag that is not a finite number in
some rows (an inf stored as a Good reading before the connectors checked values: one such tag
would make every detector refuse the asset, at every retrain, for ever), a stuck tag (one value
over the whole training) carries no information, and a counter (parts made, running hours: it
only rises) has a level that is never "normal". Each choice comes with the figure that decided it, stored with
the model and shown on the asset page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Two tags this correlated (|Pearson r|) move together.
CORRELATED = 0.8
# A tag drifts when the medians of its training chunks spread over more than this many of its
# within-chunk robust spreads.
DRIFT_SPREADS = 4.0
CHUNKS = 5
# A counter rises (or stays) at almost every step and takes many values; a reset now and then
# (a shift counter at midnight) is allowed.
COUNTER_RISING = 0.99
COUNTER_DISTINCT = 0.2


@dataclass(frozen=True)
class Profile:
    """What an asset's training data shows."""

    usable: list[str]
    left_out: dict[str, str]  # tag -> why it is not in the model
    max_corr: float  # largest |r| between two usable tags (0 with fewer than two)
    corr_pair: tuple[str, str] | None
    drift: float  # largest level movement, in within-chunk spreads
    drift_tag: str | None


def _drift(values: np.ndarray) -> float:
    chunks = [c for c in np.array_split(values[~np.isnan(values)], CHUNKS) if len(c) >= 5]
    if len(chunks) < 2:
        return 0.0
    medians = np.array([np.median(c) for c in chunks])
    spread = np.median([1.4826 * np.median(np.abs(c - np.median(c))) for c in chunks])
    # A tag quantised to a few levels has a zero within-chunk MAD; its overall spread stands in.
    spread = spread if spread > 0 else float(np.nanstd(values))
    return float((medians.max() - medians.min()) / spread) if spread > 0 else 0.0


def _is_counter(values: pd.Series) -> bool:
    steps = values.dropna().diff().dropna()
    if len(steps) < 10 or values.nunique(dropna=True) < COUNTER_DISTINCT * len(steps):
        return False
    return bool((steps >= 0).mean() >= COUNTER_RISING and (steps > 0).mean() >= COUNTER_DISTINCT)


def non_finite(frame: pd.DataFrame) -> dict[str, str]:
    """Tags with an inf (or the NaN a smoothed inf becomes) in any row -> why they are left out.

    Whatever the detector, not only ``auto``'s: no detector fits on them."""
    out = {}
    for tag in frame.columns:
        values = frame[tag].to_numpy(dtype=float)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            out[tag] = f"not a finite number (inf) in {bad} of {len(values)} rows"
    return out


def said(left_out: dict[str, str]) -> str:
    """``"; left out: a why, b why"`` to end a choice's reason with, or nothing."""
    return "; left out: " + ", ".join(f"{t} {why}" for t, why in left_out.items()) if left_out else ""


def _left_out(frame: pd.DataFrame) -> dict[str, str]:
    out = non_finite(frame)  # first: an all-inf tag is not "stuck", it is not a number
    for tag in frame.columns:
        if tag in out:
            continue
        if frame[tag].nunique(dropna=True) <= 1:
            out[tag] = "stuck (one value all through training)"
        elif _is_counter(frame[tag]):
            out[tag] = "a counter (it only rises)"
    return out


def profile(frame: pd.DataFrame) -> Profile:
    left_out = _left_out(frame)
    usable = [c for c in frame.columns if c not in left_out]
    max_corr, pair = 0.0, None
    if len(usable) >= 2:
        corr = frame[usable].corr().abs().to_numpy(copy=True)
        np.fill_diagonal(corr, 0.0)
        corr = np.nan_to_num(corr)
        i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
        max_corr, pair = float(corr[i, j]), (usable[i], usable[j])
    drifts = {c: _drift(frame[c].to_numpy(dtype=float)) for c in usable}
    drift_tag = max(drifts, key=drifts.__getitem__) if drifts else None
    return Profile(usable, left_out, max_corr, pair, drifts.get(drift_tag, 0.0) if drift_tag else 0.0, drift_tag)


def choose(p: Profile) -> list[tuple[str, str]]:
    """Detectors to try on an asset of this profile, best suited first, each with why."""
    if not p.usable:
        raise ValueError("no tag to learn from: " + "; ".join(f"{t} {why}" for t, why in p.left_out.items()))
    stuck = said(p.left_out)
    if len(p.usable) == 1 and p.drift <= DRIFT_SPREADS:
        return [("mad", f"auto: one usable tag{stuck}")]
    if p.max_corr >= CORRELATED and p.corr_pair is not None:
        a, b = p.corr_pair
        why = f"auto: tags move together (|r| {p.max_corr:.2f} between {a} and {b}){stuck}"
        return [("pca", why), ("mad", "auto: next after pca")]
    if p.drift > DRIFT_SPREADS:
        why = f"auto: {p.drift_tag}'s level moves by {p.drift:.1f} spreads during training{stuck}"
        return [("rebase", why), ("mad", "auto: next after rebase")]
    return [("mad", f"auto: tags independent (|r| at most {p.max_corr:.2f}){stuck}")]
