"""Multivariate statistical process control: PCA with Hotelling's T² and SPE (Q).

T² catches rows that move unusually far *along* the normal correlation structure (all sensors
high together); SPE catches rows that break the structure (one sensor disagrees with the others).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA

from pdm.models.base import BaseDetector, robust_center_scale

LIMIT_QUANTILE = 0.99


class PCADetector(BaseDetector):
    """PCA monitor on robust-standardised sensors.

    Score, exactly: ``T² / T²_lim + SPE / SPE_lim`` where both limits are the 99th percentile of
    the statistic on the training data. Each term is about 1 at the edge of normal, so the two
    statistics weigh equally whatever the number of components. A term whose training limit is
    zero (no residual variance at all) is left out rather than divided by zero.

    ``n_components``: a float in (0, 1) keeps the smallest number of components explaining that
    variance fraction; an int keeps that many. At least one dimension is always left for the
    residual, otherwise SPE could never see a broken correlation.
    """

    version = "1"

    def __init__(self, *, n_components=0.95, threshold_quantile: float = 0.995, threshold_margin: float = 1.2):
        super().__init__(threshold_quantile=threshold_quantile, threshold_margin=threshold_margin)
        self.n_components = n_components

    def _check_params(self) -> None:
        super()._check_params()
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, Real):
            raise ValueError(f"n_components must be a float in (0, 1) or an int >= 1, got {k!r}")
        if isinstance(k, Integral):
            if k < 1:
                raise ValueError(f"n_components must be >= 1, got {k}")
        elif not 0.0 < k < 1.0:
            raise ValueError(f"n_components as a variance fraction must be in (0, 1), got {k}")

    def _fit(self, X: np.ndarray) -> None:
        n_features = X.shape[1]
        if n_features < 2:
            raise ValueError("PCADetector needs at least 2 sensors (there is no correlation to watch)")
        self.center_, self.scale_ = robust_center_scale(X)
        pca = PCA(svd_solver="full").fit(self._standardise(X))
        k = self._choose_components(pca.explained_variance_ratio_, n_features)
        self.n_components_ = k
        self.pca_mean_ = pca.mean_
        self.components_ = pca.components_[:k]
        # A floor keeps T² finite when a kept component has (almost) no variance.
        variance = pca.explained_variance_[:k]
        self.explained_variance_ = np.maximum(variance, 1e-12 * max(float(variance.max()), 1e-12))
        self.variance_kept_ = float(pca.explained_variance_ratio_[:k].sum())
        t2, spe, _, _ = self._statistics(X)
        self.t2_limit_ = float(np.quantile(t2, LIMIT_QUANTILE))
        self.spe_limit_ = float(np.quantile(spe, LIMIT_QUANTILE))

    def _choose_components(self, ratios: np.ndarray, n_features: int) -> int:
        if isinstance(self.n_components, Integral):
            k = int(self.n_components)
            if k >= n_features:
                raise ValueError(
                    f"n_components={k} must be < the number of sensors ({n_features}) to leave a residual space for SPE"
                )
            return k
        k = int(np.searchsorted(np.cumsum(ratios), self.n_components - 1e-12) + 1)
        return max(1, min(k, n_features - 1))

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center_) / self.scale_

    def _statistics(self, X: np.ndarray):
        """T², SPE, per-sensor T² contributions and per-sensor squared residuals."""
        z = self._standardise(X) - self.pca_mean_
        t = z @ self.components_.T
        residual = z - t @ self.components_
        # Score-weighted loadings: sum_j (t_j / lambda_j) * p_ij * z_i; sums over i to T².
        t2_parts = z * ((t / self.explained_variance_) @ self.components_)
        return t2_parts.sum(axis=1), (residual**2).sum(axis=1), t2_parts, residual**2

    def _weights(self, t2: np.ndarray, spe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = t2 / self.t2_limit_ if self.t2_limit_ > 0 else np.zeros_like(t2)
        b = spe / self.spe_limit_ if self.spe_limit_ > 0 else np.zeros_like(spe)
        return a, b

    def _score(self, X: np.ndarray) -> np.ndarray:
        t2, spe, _, _ = self._statistics(X)
        a, b = self._weights(t2, spe)
        return a + b

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        """Each term's per-sensor shares, weighted by that term's part of the score.

        T² contributions can be negative for a sensor pulling against the others; those are
        clipped to zero before taking shares (the usual convention for score-weighted loadings).
        """
        t2, spe, t2_parts, sq_resid = self._statistics(X)
        a, b = self._weights(t2, spe)
        t2_pos = np.clip(t2_parts, 0.0, None)
        return a[:, None] * _shares(t2_pos) + b[:, None] * _shares(sq_resid)


def _shares(parts: np.ndarray) -> np.ndarray:
    total = parts.sum(axis=1, keepdims=True)
    return np.divide(parts, total, out=np.zeros_like(parts), where=total > 0)
