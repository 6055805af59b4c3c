"""Robust per-sensor baseline: distance from the training median in MAD units."""

from __future__ import annotations

from numbers import Real

import numpy as np

from pdm.models.base import BaseDetector

MAD_TO_SIGMA = 1.4826  # MAD x this = standard deviation on Gaussian data


def mad_center_scale(
    X: np.ndarray, drift_floor: float = 0.0, level_floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based spread per column, never zero.

    ``drift_floor`` widens a column's scale to at least that fraction of its training range
    (max - min): a sensor that drifts slowly during training (warming up) has a small MAD over
    any short stretch but a wide range, and its later level is only known to lie near that range.
    ``level_floor`` widens it to at least that fraction of the sensor's typical level |median|:
    a very steady sensor (a smoothed flow) otherwise alarms on a 1 % change of operating point.
    A stuck column falls back to its standard deviation, then to 1.
    """
    center = np.median(X, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(X - center), axis=0)
    if drift_floor > 0:
        scale = np.maximum(scale, drift_floor * (X.max(axis=0) - X.min(axis=0)))
    if level_floor > 0:
        scale = np.maximum(scale, level_floor * np.abs(center))
    tiny = 1e-9 * np.maximum(1.0, np.abs(center))
    scale = np.where(scale > tiny, scale, X.std(axis=0))
    return center, np.where(scale > tiny, scale, 1.0)


class MADDetector(BaseDetector):
    """Each sensor's robust z-score ``(x - median) / (1.4826 MAD)``; score = the largest squared z.

    The largest (not the mean) because a single faulty sensor must not be diluted by the healthy
    ones: with a mean over 5 sensors a 6-sigma shift was flagged on only 81 % of rows. It watches each sensor on its
    own, so a broken correlation inside the sensors' normal ranges is not seen (use ``regression``).
    Contributions are the squared z-scores.
    """

    version = "1"
    detects_correlation_breaks = False

    def __init__(
        self,
        *,
        drift_floor: float = 0.0,
        level_floor: float = 0.0,
        threshold_quantile: float = 0.995,
        threshold_margin: float = 1.2,
    ):
        super().__init__(threshold_quantile=threshold_quantile, threshold_margin=threshold_margin)
        self.drift_floor = drift_floor
        self.level_floor = level_floor

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("drift_floor", "level_floor"):
            d = getattr(self, name)
            if isinstance(d, bool) or not isinstance(d, Real) or not 0.0 <= d <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {d!r}")

    def _fit(self, X: np.ndarray) -> None:
        self.center_, self.scale_ = mad_center_scale(X, self.drift_floor, self.level_floor)

    def _z2(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.center_) / self.scale_) ** 2

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._z2(X).max(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return self._z2(X)
