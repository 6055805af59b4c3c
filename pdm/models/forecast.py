"""How long until a health indicator reaches its limit: a fitted trend with a bootstrap interval.

The indicator is the model's score over its threshold (1.0 = where an alert opens). Over a recent
window it is smoothed by time-bin medians (one noisy scoring row cannot make or break a trend),
then fitted three ways, each a straight line in its own space (``SPACES``): linear, quadratic and
exponential. The best fit is named; the interval comes from the residuals: each bootstrap draw
refits on the fitted values plus residuals resampled in blocks and lets the crossing happen with
one more residual on top, so it widens with a shaky trend and with a noisy indicator, instead of
a fixed ±. Shapes that fit nearly as well as the best share the draws, and so do the past levels
at failure when ``limit`` gives several: on simulated run-to-failure histories
(``bench/prognosis.py``) the shape beyond the window and the level at failure were most of the
error, which residuals alone would not show.

A forecast is withheld ("no trend") rather than guessed when the fit does not carry it: too
few bins, a slope that is not clearly upward, a poor fit, or a crossing further out than
``max_horizon`` windows (a three-day trend says little about next quarter).

Each outcome carries a ``Reason`` code and the numbers its sentence needs as fields, so every
reader says it in its own words from those: ``Forecast.sentence`` and ``reason`` in English (the
CLI's), the asset page in the session's language (``pdm.ui.remaining_time``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

DAY_S = 86_400.0


class Reason(StrEnum):
    """Why a forecast is given or withheld; the fields each needs are named beside it."""

    FORECAST = "forecast"  # eta_s, low_s, high_s, horizon_s, interval, trend, based_on_s
    REACHED = "reached"  # level: the indicator is over its limit now
    FEW_ROWS = "few_rows"  # n_rows: too few finite scored rows in the window
    FEW_BINS = "few_bins"  # n_bins of bins: too few time bins hold scores
    NOT_RISING = "not_rising"  # the slope is not clearly upward (min_slope_t standard errors)
    POOR_FIT = "poor_fit"  # trend, r2: the best fit explains under min_r2 of the moves
    TOO_FAR = "too_far"  # horizon_s, based_on_s: the crossing is beyond max_horizon windows


# The status each reason comes under.
STATUS = {
    Reason.FORECAST: "forecast",
    Reason.REACHED: "reached",
    Reason.FEW_ROWS: "too_little_data",
    Reason.FEW_BINS: "too_little_data",
    Reason.NOT_RISING: "no_trend",
    Reason.POOR_FIT: "no_trend",
    Reason.TOO_FAR: "no_trend",
}


@dataclass(frozen=True)
class Forecast:
    """``status``: ``forecast`` (eta and interval set), ``reached`` (the indicator is over its
    limit now), ``no_trend`` or ``too_little_data``; ``code`` says which case, ``reason`` says
    why in English (empty for a forecast)."""

    status: str
    reason: str
    code: Reason = Reason.FORECAST
    level: float | None = None  # smoothed indicator at the latest bin
    trend: str | None = None  # "linear" or "exponential"
    eta_s: float | None = None  # median time from the latest reading to the limit
    low_s: float | None = None  # interval bounds (``interval`` of the bootstrap crossings)
    high_s: float | None = None  # None: beyond ``horizon_s``, the farthest this trend may say
    horizon_s: float | None = None
    interval: float | None = None
    based_on_s: float | None = None  # time span the trend was fitted on
    r2: float | None = None
    n_rows: int | None = None  # few_rows: finite scored rows in the window
    n_bins: int | None = None  # few_bins: time bins holding scores, of ``bins``
    bins: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        """One line for a maintenance lead."""
        if self.status != "forecast":
            return self.reason
        assert self.eta_s is not None and self.low_s is not None and self.horizon_s is not None
        assert self.interval is not None and self.based_on_s is not None
        high = _span(self.high_s) if self.high_s is not None else f"more than {_span(self.horizon_s)}"
        return (
            f"limit in about {_span(self.eta_s)}, {self.interval:.0%} interval "
            f"{_span(self.low_s)}–{high} ({self.trend} trend over the last {_span(self.based_on_s)})"
        )


def _withheld(code: Reason, **fields: Any) -> Forecast:
    """The forecast of a case that is not one, its English reason written from its fields."""
    return Forecast(STATUS[code], _english(code, fields), code=code, **fields)


def _english(code: Reason, f: dict[str, Any]) -> str:
    if code is Reason.FEW_ROWS:
        return f"too little data: {f['n_rows']} scored rows in the window"
    if code is Reason.FEW_BINS:
        return f"too little data: {f['n_bins']} of {f['bins']} time bins hold scores"
    if code is Reason.REACHED:
        return f"the indicator is at {f['level']:.2f} of its limit now"
    if code is Reason.NOT_RISING:
        return "no trend: the indicator is not clearly rising toward its limit"
    if code is Reason.POOR_FIT:
        return f"no trend: the best fit ({f['trend']}) explains {f['r2']:.0%} of the indicator's moves"
    if code is Reason.TOO_FAR:
        horizon, span = _span(f["horizon_s"]), _span(f["based_on_s"])
        return f"the trend would reach the limit beyond {horizon}: too far to forecast from {span}"
    return ""


def _span(seconds: float) -> str:
    if seconds >= 2 * DAY_S:
        return f"{seconds / DAY_S:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


@dataclass(frozen=True)
class TrendSettings:
    bins: int = 36  # time bins over the window; their medians are what is fitted
    min_bins: int = 8  # bins holding data needed before any trend is fitted
    min_slope_t: float = 3.0  # the upward slope must stand this many standard errors above zero
    min_r2: float = 0.5
    max_horizon: float = 10.0  # farthest forecast, in windows
    interval: float = 0.8
    n_boot: int = 400
    seed: int = 0


def forecast(
    t: np.ndarray,
    h: np.ndarray,
    *,
    limit: float | Sequence[float] = 1.0,
    end: float | None = None,
    settings: TrendSettings | None = None,
) -> Forecast:
    """Forecast when the indicator ``h`` (at epoch seconds ``t``, ascending) reaches ``limit``, counted
    from ``end`` (default: the last ``t``; binned rows end before the latest reading they average).

    ``limit`` may be several values: the levels at which past failures of such assets happened. Each
    bootstrap draw then takes one of them, so the interval carries the doubt about where the limit
    lies, which on real fleets is most of a forecast's error."""
    cfg = settings or TrendSettings()
    t, h = np.asarray(t, dtype=float), np.asarray(h, dtype=float)
    keep = np.isfinite(t) & np.isfinite(h)
    t, h = t[keep], h[keep]
    if len(t) < cfg.min_bins:
        return _withheld(Reason.FEW_ROWS, n_rows=len(t))
    x, y = _binned(t, h, cfg.bins)
    span = float(t[-1] - t[0])
    if len(x) < cfg.min_bins:
        return _withheld(Reason.FEW_BINS, n_bins=len(x), bins=cfg.bins)
    level = float(y[-1])
    limits = np.atleast_1d(np.asarray(limit, dtype=float))
    if level >= float(np.median(limits)):
        return _withheld(Reason.REACHED, level=level, based_on_s=span)
    fits = _fits(x, y)
    best = min(fits, key=lambda f: f["sse"])
    refusal = _refusal(best, cfg)
    if refusal:
        return _withheld(refusal, level=level, trend=best["kind"], based_on_s=span, r2=best["r2"])
    x_last = float((t[-1] if end is None else end) - t[0])
    # Shapes that fit nearly as well as the best (within twice its squared error) and rise too
    # share the draws: which curve the wear follows beyond the window is part of the doubt.
    close = [f for f in fits if f["sse"] <= 2 * best["sse"] and _refusal(f, cfg) is None]
    crossings = np.concatenate([_bootstrap(f, x, limits, cfg) for f in close]) - x_last
    lo_q, hi_q = (1 - cfg.interval) / 2, 1 - (1 - cfg.interval) / 2
    eta = float(np.median(crossings))
    horizon = cfg.max_horizon * max(span, 1.0)
    if not np.isfinite(eta) or eta > horizon:
        fit = {"level": level, "trend": best["kind"], "r2": best["r2"]}
        return _withheld(Reason.TOO_FAR, horizon_s=horizon, based_on_s=span, **fit)
    low, high = np.quantile(crossings, [lo_q, hi_q])
    return Forecast(
        "forecast",
        "",
        code=Reason.FORECAST,
        level=level,
        trend=best["kind"],
        eta_s=max(eta, 0.0),
        low_s=max(float(low), 0.0),
        high_s=max(float(high), 0.0) if high <= horizon else None,
        horizon_s=horizon,
        interval=cfg.interval,
        based_on_s=span,
        r2=best["r2"],
    )


def _binned(t: np.ndarray, h: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Median indicator per time bin, at the bin's median time, seconds from the first row."""
    x = t - t[0]
    edges = np.linspace(0.0, max(float(x[-1]), 1e-9), bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    xs, ys = [], []
    for b in np.unique(which):
        rows = which == b
        xs.append(float(np.median(x[rows])))
        ys.append(float(np.median(h[rows])))
    return np.array(xs), np.array(ys)


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Intercept, slope and the slope's standard error."""
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx) if sxx > 0 else 0.0
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * x)
    dof = max(len(x) - 2, 1)
    se = float(np.sqrt((resid**2).sum() / dof / sxx)) if sxx > 0 else float("inf")
    return intercept, slope, se


# Each trend is a straight line in its own space: the indicator itself (wear that adds up), its
# square root (a squared-distance score, as ``mad`` and ``pca`` give, over a deviation that grows
# steadily) and its log (damage that feeds itself). Forward map, inverse map, and the lowest value
# the forward map takes.
SPACES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], float]] = {
    "linear": (lambda v: v, lambda v: v, -np.inf),
    "quadratic": (np.sqrt, np.square, 0.0),
    "exponential": (np.log, np.exp, 1e-12),
}


def _fits(x: np.ndarray, y: np.ndarray) -> list[dict]:
    out = []
    for kind, (forward, inverse, lowest) in SPACES.items():
        # A score can be 0 (a perfectly normal row): no log then.
        if lowest > -np.inf and (y < lowest).any():
            continue
        space = forward(y)
        a, b, se = _ols(x, space)
        fitted_space = a + b * x
        sse = float(((y - inverse(fitted_space)) ** 2).sum())
        sst = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - sse / sst if sst > 0 else 0.0
        out.append({"kind": kind, "a": a, "b": b, "se": se, "sse": sse, "r2": r2, "resid": space - fitted_space})
    return out


def _refusal(fit: dict, cfg: TrendSettings) -> Reason | None:
    if fit["b"] <= 0 or fit["b"] < cfg.min_slope_t * fit["se"]:
        return Reason.NOT_RISING
    if fit["r2"] < cfg.min_r2:
        return Reason.POOR_FIT
    return None


def _bootstrap(fit: dict, x: np.ndarray, limits: np.ndarray, cfg: TrendSettings) -> np.ndarray:
    """Crossing times (seconds from the first row) of ``n_boot`` refits on resampled residuals.

    Residuals are drawn in runs of neighbouring bins (a moving-block bootstrap): a trend that bends
    leaves residuals of one sign for a stretch, and drawing them one by one would hide it and give
    an interval far too sure of itself."""
    rng = np.random.default_rng(cfg.seed)
    target = SPACES[fit["kind"]][0](rng.choice(limits, size=cfg.n_boot))
    resid = fit["resid"]
    n = len(resid)
    block = max(2, round(n**0.5))
    starts = rng.integers(0, n - block + 1, size=(cfg.n_boot, -(-n // block)))
    drawn = resid[(starts[:, :, None] + np.arange(block)).reshape(cfg.n_boot, -1)[:, :n]]
    ys = fit["a"] + fit["b"] * x + drawn
    # Every refit at once: the same least squares as _ols, one row per bootstrap sample.
    xc = x - x.mean()
    b = (ys * xc).sum(axis=1) / (xc**2).sum()
    a = ys.mean(axis=1) - b * x.mean()
    noise = rng.choice(resid, size=cfg.n_boot)
    with np.errstate(divide="ignore"):
        return np.where(b > 0, (target - noise - a) / np.where(b > 0, b, 1.0), np.inf)
