"""From long readings (one row per tag and timestamp) to the wide frame the detectors score."""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("ts", "tag", "value", "quality")
FFILL_LIMIT_BINS = 2
RATE_MIN_READINGS = 10


def good_quality(quality: pd.Series) -> pd.Series:
    """True where the OPC UA status code is Good: its top two bits are 00 (01 Uncertain, 10 Bad).

    Codes are read as unsigned 32-bit, so a Bad code stored in a signed int32 column is still Bad.
    """
    codes = quality.to_numpy(dtype="int64") & 0xFFFFFFFF
    return pd.Series((codes >> 30) == 0, index=quality.index)


def wide_frame(readings: pd.DataFrame, *, freq_s: float | None = None) -> pd.DataFrame:
    """One column per tag (sorted), one row per grid time (epoch seconds, float index ``ts``).

    Only Good, non-NaN readings are used. Grid times are multiples of ``freq_s`` (``None``: the
    median spacing between a tag's consecutive readings, over all tags), so training and scoring
    windows share a grid. A grid row at time T holds each tag's last reading in (T - freq_s, T],
    i.e. the value known at T, never a later one. A tag without a reading in a bin keeps its
    previous value for at most 2 bins, or 2 of its own reporting intervals when it reports more
    slowly than the grid (a temperature every minute beside a vibration every second); rows still
    missing a tag are dropped.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in readings.columns]
    if missing:
        raise ValueError(f"readings lack column(s) {missing}; need {list(REQUIRED_COLUMNS)}")
    good = readings.loc[good_quality(readings["quality"]), ["ts", "tag", "value"]]
    good = good.astype({"ts": float, "value": float}).dropna(subset=["ts", "value"])
    if good.empty:
        return _empty_frame()
    good = good.sort_values("ts", kind="stable")
    spacings = _tag_spacings(good)  # once: the grid and the carry-over limits both need them
    freq = _infer_freq(spacings) if freq_s is None else float(freq_s)
    if not (np.isfinite(freq) and freq > 0):
        raise ValueError(f"freq_s must be a positive number of seconds, got {freq_s!r}")
    good = good.assign(bin=_grid_bins(good["ts"].to_numpy(), freq))
    wide = good.groupby(["bin", "tag"], sort=True)["value"].last().unstack("tag")
    wide = _forward_fill_bins(wide, FFILL_LIMIT_BINS, _fill_limits(spacings, wide.columns, freq)).dropna(how="any")
    wide = wide.reindex(columns=sorted(wide.columns, key=str))
    wide.index = pd.Index(wide.index.to_numpy(dtype=float) * freq, name="ts")
    wide.columns = pd.Index([str(c) for c in wide.columns], name=None)
    return wide


def causal_rolling_mean(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Mean of each row and the ``window - 1`` rows before it; never looks at a later row."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    return frame.rolling(window=int(window), min_periods=1).mean()


def smoothed_and_floor(frame: pd.DataFrame, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``causal_rolling_mean(frame, window)`` and the lowest value of each cell's same window."""
    return causal_rolling_mean(frame, window), frame.rolling(window=int(window), min_periods=1).min()


def causal_nearer_mean(frame: pd.DataFrame, window: int, center: pd.Series) -> pd.DataFrame:
    """Per cell, whichever of two causal means is nearer ``center``: the mean of the last
    ``window`` rows or of the last ``max(2, window // 4)`` rows.

    Why: a long mean catches small shifts, but after a shift ends it keeps part of the old level
    for up to ``window`` rows, alarming on rows that are normal again. Taking the nearer value
    moves away from ``center`` only when both means have (so onsets are seen as with the long
    mean alone) and comes back as soon as the short one has. ``center`` must be learned from
    training rows only (e.g. their median per column); the result never looks at a later row.
    """
    slow = causal_rolling_mean(frame, window)
    fast = causal_rolling_mean(frame, max(2, int(window) // 4))
    ref = center.reindex(frame.columns)
    if ref.isna().any():
        raise ValueError(f"center lacks column(s) {list(ref.index[ref.isna()])}")
    return slow.where((slow - ref).abs() <= (fast - ref).abs(), fast)


def _grid_bins(ts: np.ndarray, freq: float) -> np.ndarray:
    """Bin k covers (k-1, k] * freq. A reading on a grid line belongs to that line even when
    float division lands a hair above it (0.3 / 0.1 = 2.9999999999999996, 0.9 / 0.3 = 3.0000000000000004)."""
    q = ts / freq
    nearest = np.round(q)
    on_line = np.isclose(q, nearest, rtol=1e-13, atol=1e-9)
    return np.where(on_line, nearest, np.ceil(q)).astype("int64")


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], dtype=float, name="ts"))


def _tag_spacings(good: pd.DataFrame) -> dict:
    """Per tag, its median spacing between distinct timestamps and how many it has."""
    out: dict = {}
    for tag, ts in good.groupby("tag")["ts"]:
        distinct = np.unique(ts.to_numpy())
        out[tag] = (float(np.median(np.diff(distinct))) if len(distinct) > 1 else None, len(distinct))
    return out


def _infer_freq(spacings: dict) -> float:
    """Median over tags of each tag's median spacing, rounded to 3 significant digits.

    Per tag rather than over the union of timestamps: tags polled together often carry source
    timestamps a few milliseconds apart, which would make the union's spacing tiny. Rounding
    turns a jittered 9.9999998 s into 10 s, so grid times stay round.
    """
    known = [s for s, _ in spacings.values() if s is not None]
    if not known:
        raise ValueError("cannot infer freq_s: no tag has two distinct timestamps; pass freq_s")
    return float(f"{float(np.median(known)):.3g}")


def _fill_limits(spacings: dict, tags: pd.Index, freq: float) -> np.ndarray:
    """Per tag, the bins its last value may be carried over: ``FFILL_LIMIT_BINS`` of its own spacing."""
    # A tag's own rate is only known from enough of its readings; below that the grid's applies.
    own = [spacings.get(t, (None, 0)) for t in tags]
    bins = np.array([np.ceil(s / freq - 1e-9) if s and n >= RATE_MIN_READINGS else 1.0 for s, n in own])
    return FFILL_LIMIT_BINS * np.maximum(bins, 1.0)


def _forward_fill_bins(wide: pd.DataFrame, limit: int, limits: np.ndarray | None = None) -> pd.DataFrame:
    """Forward-fill each tag over at most ``limit`` missing grid bins (``limits``: one per column).

    ``wide`` only holds bins where some tag was read, so the gap is measured in bin numbers, not
    rows. Rows for the ``limit`` bins after each observed bin are added so a fill has a row to
    land in; bins further away would be dropped anyway (no other tag is there), so they are never
    materialised.
    """
    observed = wide.index.to_numpy()
    candidates = np.unique(np.concatenate([observed + step for step in range(limit + 1)]))
    candidates = candidates[candidates <= observed.max()]
    wide = wide.reindex(candidates)
    seen_at = np.where(wide.notna(), candidates[:, None].astype(float), np.nan)
    last_seen = pd.DataFrame(seen_at, index=wide.index, columns=wide.columns).ffill()
    age = candidates[:, None] - last_seen.to_numpy()
    most = np.full(len(wide.columns), float(limit)) if limits is None else limits
    return wide.ffill().mask(~(age <= most[None, :]))  # NaN age (never seen yet) is masked too
