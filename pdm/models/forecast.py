"""How long until a health indicator reaches its limit: a fitted trend with a bootstrap interval.

The indicator is the model's score over its threshold (1.0 = where an alert opens), so one limit
serves every detector. Over a recent window it is smoothed by time-bin medians (one noisy
scoring row cannot make or break a trend), then fitted two ways: a straight line (wear that
adds up steadily) and an exponential (damage that feeds itself, as a spreading bearing fault
does). The better fit is kept and named. The interval comes from the residuals: each bootstrap
refits the trend on the fitted values plus resampled residuals and lets the crossing happen
with one more resampled residual on top, so it widens both with a shaky trend and with a
noisy indicator, instead of a fixed ±.

A forecast is withheld ("no trend") rather than guessed when the fit does not carry it: too
few bins, a slope that is not clearly upward, a poor fit, or a crossing further out than
``max_horizon`` windows (a three-day trend says little about next quarter).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DAY_S = 86_400.0


@dataclass(frozen=True)
class Forecast:
    """``status``: ``forecast`` (eta and interval set), ``reached`` (the indicator is over its
    limit now), ``no_trend`` or ``too_little_data`` (``reason`` says why)."""

    status: str
    reason: str
    level: float | None = None  # smoothed indicator at the latest bin
    trend: str | None = None  # "linear" or "exponential"
    eta_s: float | None = None  # median time from the latest reading to the limit
    low_s: float | None = None  # interval bounds (``interval`` of the bootstrap crossings)
    high_s: float | None = None  # None: beyond ``horizon_s``, the farthest this trend may say
    horizon_s: float | None = None
    interval: float | None = None
    based_on_s: float | None = None  # time span the trend was fitted on
    r2: float | None = None

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
    t: np.ndarray, h: np.ndarray, *, limit: float = 1.0, end: float | None = None, settings: TrendSettings | None = None
) -> Forecast:
    """Forecast when the indicator ``h`` (at epoch seconds ``t``, ascending) reaches ``limit``, counted
    from ``end`` (default: the last ``t``; binned rows end before the latest reading they average)."""
    cfg = settings or TrendSettings()
    t, h = np.asarray(t, dtype=float), np.asarray(h, dtype=float)
    keep = np.isfinite(t) & np.isfinite(h)
    t, h = t[keep], h[keep]
    if len(t) < cfg.min_bins:
        return Forecast("too_little_data", f"too little data: {len(t)} scored rows in the window")
    x, y = _binned(t, h, cfg.bins)
    span = float(t[-1] - t[0])
    if len(x) < cfg.min_bins:
        return Forecast("too_little_data", f"too little data: {len(x)} of {cfg.bins} time bins hold scores")
    level = float(y[-1])
    if level >= limit:
        return Forecast("reached", f"the indicator is at {level:.2f} of its limit now", level=level, based_on_s=span)
    fits = [f for f in (_fit_linear(x, y), _fit_exponential(x, y)) if f is not None]
    best = min(fits, key=lambda f: f["sse"])
    refusal = _refusal(best, cfg)
    if refusal:
        return Forecast("no_trend", refusal, level=level, trend=best["kind"], based_on_s=span, r2=best["r2"])
    x_last = float((t[-1] if end is None else end) - t[0])
    crossings = _bootstrap(best, x, limit, cfg) - x_last
    lo_q, hi_q = (1 - cfg.interval) / 2, 1 - (1 - cfg.interval) / 2
    eta = float(np.median(crossings))
    horizon = cfg.max_horizon * max(span, 1.0)
    if not np.isfinite(eta) or eta > horizon:
        reason = f"the trend would reach the limit beyond {_span(horizon)}: too far to forecast from {_span(span)}"
        return Forecast("no_trend", reason, level=level, trend=best["kind"], based_on_s=span, r2=best["r2"])
    low, high = np.quantile(crossings, [lo_q, hi_q])
    return Forecast(
        "forecast",
        "",
        level=level,
        trend=best["kind"],
        eta_s=max(eta, 0.0),
        low_s=max(float(low), 0.0),
        high_s=float(high) if high <= horizon else None,
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


def _fit(kind: str, x: np.ndarray, y: np.ndarray, space: np.ndarray) -> dict:
    a, b, se = _ols(x, space)
    fitted_space = a + b * x
    fitted = fitted_space if kind == "linear" else np.exp(fitted_space)
    sse = float(((y - fitted) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else 0.0
    return {"kind": kind, "a": a, "b": b, "se": se, "sse": sse, "r2": r2, "resid": space - fitted_space}


def _fit_linear(x: np.ndarray, y: np.ndarray) -> dict:
    return _fit("linear", x, y, y)


def _fit_exponential(x: np.ndarray, y: np.ndarray) -> dict | None:
    # A score can be 0 (a perfectly normal row); an exponential needs a positive indicator.
    if (y <= 0).any():
        return None
    return _fit("exponential", x, y, np.log(y))


def _refusal(fit: dict, cfg: TrendSettings) -> str:
    if fit["b"] <= 0 or fit["b"] < cfg.min_slope_t * fit["se"]:
        return "no trend: the indicator is not clearly rising toward its limit"
    if fit["r2"] < cfg.min_r2:
        return f"no trend: the best fit ({fit['kind']}) explains {fit['r2']:.0%} of the indicator's moves"
    return ""


def _bootstrap(fit: dict, x: np.ndarray, limit: float, cfg: TrendSettings) -> np.ndarray:
    """Crossing times (seconds from the first row) of ``n_boot`` refits on resampled residuals."""
    rng = np.random.default_rng(cfg.seed)
    target = limit if fit["kind"] == "linear" else np.log(limit)
    resid = fit["resid"]
    ys = fit["a"] + fit["b"] * x + rng.choice(resid, size=(cfg.n_boot, len(x)))
    # Every refit at once: the same least squares as _ols, one row per bootstrap sample.
    xc = x - x.mean()
    b = (ys * xc).sum(axis=1) / (xc**2).sum()
    a = ys.mean(axis=1) - b * x.mean()
    noise = rng.choice(resid, size=cfg.n_boot)
    with np.errstate(divide="ignore"):
        return np.where(b > 0, (target - noise - a) / np.where(b > 0, b, 1.0), np.inf)
