"""Each sensor predicted from the others (ridge regression); the residuals are the signal."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.linear_model import Ridge

from pdm.models.mad import mad_center_scale
from pdm.models.residual import ResidualDetector


class RegressionDetector(ResidualDetector):
    """One ridge model per sensor on the other sensors, all in robust-standardised units.

    Score, exactly: mean over sensors of ``(residual_i / s_i)²``, where ``s_i`` is the MAD-based
    spread of sensor i's training residuals. A sensor that disagrees with what the others imply
    stands out even inside its own normal range; a sensor shifted far out of range does too,
    and it has the largest residual because the others only see it through small coefficients.

    ``alpha`` is the ridge penalty in standardised units; it keeps the models stable when two
    sensors are nearly collinear (SKAB's current and voltage, or the two accelerometers).
    """

    version = "1"

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        drift_floor: float = 0.0,
        level_floor: float = 0.0,
        threshold_quantile: float = 0.995,
        threshold_margin: float = 1.2,
    ):
        super().__init__(threshold_quantile=threshold_quantile, threshold_margin=threshold_margin)
        self.alpha = alpha
        self.drift_floor = drift_floor
        self.level_floor = level_floor

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("alpha", "drift_floor", "level_floor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Real) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")

    def _fit(self, X: np.ndarray) -> None:
        if X.shape[1] < 2:
            raise ValueError("RegressionDetector needs at least 2 sensors (nothing to predict from)")
        self.center_, self.scale_ = mad_center_scale(X, self.drift_floor, self.level_floor)
        Z = self._standardise(X)
        n = Z.shape[1]
        self.coef_ = np.zeros((n, n))  # row i: weights of the sensors predicting sensor i
        self.intercept_ = np.zeros(n)
        for i in range(n):
            others = np.arange(n) != i
            model = Ridge(alpha=self.alpha).fit(Z[:, others], Z[:, i])
            self.coef_[i, others] = model.coef_
            self.intercept_[i] = model.intercept_
        _, self.resid_scale_ = mad_center_scale(self._residuals(X))

    def _residuals(self, X: np.ndarray) -> np.ndarray:
        Z = self._standardise(X)
        return Z - (Z @ self.coef_.T + self.intercept_)
