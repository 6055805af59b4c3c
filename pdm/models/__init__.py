"""Anomaly detectors, registered by name.

Every detector follows ``pdm.models.base.BaseDetector``: fit on normal data, a higher score is
more abnormal, ``predict`` uses the calibrated ``threshold_``, ``explain`` gives per-sensor shares.
"""

from __future__ import annotations

from pdm.models.base import BaseDetector
from pdm.models.ensemble import EnsembleDetector
from pdm.models.iforest import IsolationForestDetector
from pdm.models.mad import MADDetector
from pdm.models.mset import MSETDetector
from pdm.models.pca import PCADetector
from pdm.models.rebase import RebaselineMADDetector
from pdm.models.regression import RegressionDetector

DETECTORS: dict[str, type[BaseDetector]] = {
    "pca": PCADetector,
    "iforest": IsolationForestDetector,
    "mad": MADDetector,
    "regression": RegressionDetector,
    "mset": MSETDetector,
    "ensemble": EnsembleDetector,
    "rebase": RebaselineMADDetector,
}


def make_detector(name: str, **params) -> BaseDetector:
    """A new, unfitted detector; unknown names or parameters raise ``ValueError``."""
    try:
        cls = DETECTORS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector {name!r}; known: {known}") from None
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"detector {name!r} has no parameter(s) {unknown}; valid: {', '.join(valid)}")
    return cls(**params)


__all__ = [
    "DETECTORS",
    "BaseDetector",
    "EnsembleDetector",
    "IsolationForestDetector",
    "MADDetector",
    "MSETDetector",
    "PCADetector",
    "RebaselineMADDetector",
    "RegressionDetector",
    "make_detector",
]
