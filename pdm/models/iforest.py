"""Isolation forest: flags rows that random axis-parallel splits isolate in few steps."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.ensemble import IsolationForest

from pdm.models.base import BaseDetector, robust_center_scale

LIMIT_QUANTILE = 0.99


class IsolationForestDetector(BaseDetector):
    """scikit-learn's ``IsolationForest`` with this package's sign, plus a training-range term.

    Score, exactly: ``f / f_lim + sum_i excess_i`` where

    - ``f`` is the negation of scikit-learn's ``score_samples`` (scikit-learn is *lower* for
      more abnormal rows; its negation is Liu et al.'s anomaly score in (0, 1]) and ``f_lim``
      is its 99th percentile on the training data, so the forest term is about 1 at the edge
      of normal;
    - ``excess_i`` is how far sensor i lies outside its training [min, max], in robust standard
      deviations (0 inside the range, so 0 for every training row).

    Why the range term: a forest's splits only cover the training range, so a sensor 6 or 20
    standard deviations out scores like an ordinary edge point (measured: about 0 % flagged
    without it). Condition monitoring must alarm on a sensor far out of range.

    Limitation: axis-parallel splits see correlations poorly; a sensor that disagrees with the
    others while staying inside its own range raises the score only a little (use ``pca``).

    Contributions are an approximation: the forest has no per-sensor attribution, so a sensor's
    share is its squared distance from the training median in robust-standardised units.
    """

    version = "1"
    detects_correlation_breaks = False

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        random_state=0,
        threshold_quantile: float = 0.995,
        threshold_margin: float = 1.2,
    ):
        super().__init__(threshold_quantile=threshold_quantile, threshold_margin=threshold_margin)
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        n = self.n_estimators
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n_estimators must be an int >= 1, got {n!r}")

    def _fit(self, X: np.ndarray) -> None:
        self.center_, self.scale_ = robust_center_scale(X)
        self.train_min_, self.train_max_ = X.min(axis=0), X.max(axis=0)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state).fit(X)
        self.forest_limit_ = float(np.quantile(self._forest_score(X), LIMIT_QUANTILE))

    def _forest_score(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:  # scikit-learn refuses empty input; an empty window is not an error here
            return np.empty(0)
        return -self.forest_.score_samples(X)

    def _range_excess(self, X: np.ndarray) -> np.ndarray:
        above = (X - self.train_max_) / self.scale_
        below = (self.train_min_ - X) / self.scale_
        return np.clip(np.maximum(above, below), 0.0, None)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._forest_score(X) / self.forest_limit_ + self._range_excess(X).sum(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        # center_ is the training median, so this is the squared standardised deviation from it.
        return ((X - self.center_) / self.scale_) ** 2
