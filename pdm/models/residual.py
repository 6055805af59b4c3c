"""Detectors that estimate each sensor from the others (regression, MSET) score alike:
the mean squared standardised residual, each sensor's share being its own squared residual."""

from __future__ import annotations

import numpy as np

from pdm.models.base import BaseDetector


class ResidualDetector(BaseDetector):
    """Subclasses learn ``center_``, ``scale_``, ``resid_scale_`` and implement ``_residuals``."""

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center_) / self.scale_

    def _residuals(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _z2(self, X: np.ndarray) -> np.ndarray:
        return (self._residuals(X) / self.resid_scale_) ** 2

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._z2(X).mean(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return self._z2(X)
