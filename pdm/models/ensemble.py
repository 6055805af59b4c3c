"""Ensemble: several detectors' normalised scores averaged into one."""

from __future__ import annotations

import numpy as np

from pdm.models.base import BaseDetector

NORMALISING_QUANTILE = 0.99


class EnsembleDetector(BaseDetector):
    """Mean of the members' scores, each divided by its own 99th training percentile.

    Dividing by a training percentile puts every member on the same footing (about 1 at the
    edge of normal) whatever its raw units, so no member dominates by scale alone. Averaging
    lets detectors that fail in different ways (a per-sensor baseline, a cross-sensor
    regression, a similarity model, PCA) outvote one member's false alarm.
    ``members`` are registry names; each member keeps its default parameters.
    Contributions: each member's per-sensor shares, weighted by its normalised score.
    """

    version = "1"

    def __init__(
        self,
        *,
        members: tuple = ("mad", "regression", "mset", "pca"),
        threshold_quantile: float = 0.995,
        threshold_margin: float = 1.2,
    ):
        super().__init__(threshold_quantile=threshold_quantile, threshold_margin=threshold_margin)
        self.members = members

    def _check_params(self) -> None:
        super()._check_params()
        from pdm.models import DETECTORS

        names = list(self.members) if isinstance(self.members, (list, tuple)) else None
        if not names or any(n not in DETECTORS or n == "ensemble" for n in names):
            raise ValueError(
                f"members must be a non-empty list of detector names (not 'ensemble'), got {self.members!r}"
            )

    def _fit(self, X: np.ndarray) -> None:
        from pdm.models import make_detector

        self.members_ = [make_detector(name).fit(X) for name in self.members]
        self.member_scale_ = np.array(
            [max(m.train_score_quantiles_[NORMALISING_QUANTILE], 1e-12) for m in self.members_]
        )

    def _normalised(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.score_samples(X) for m in self.members_]) / self.member_scale_

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._normalised(X).mean(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        weights = self._normalised(X)
        return sum(w[:, None] * m.explain(X) for w, m in zip(weights.T, self.members_))
