"""Specifics of the MAD, regression, MSET and ensemble detectors (the contract is tested elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from pdm.models import EnsembleDetector, MADDetector, MSETDetector, RegressionDetector
from pdm.models.mad import mad_center_scale


def _rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return np.column_stack([a, 2 * a + 0.05 * rng.normal(size=n), rng.normal(size=n), 50 + 0.01 * rng.normal(size=n)])


def test_mad_floors_widen_the_scale():
    X = _rows()
    _, plain = mad_center_scale(X)
    _, floored = mad_center_scale(X, level_floor=0.01)
    assert floored[3] == pytest.approx(0.5, rel=1e-3)  # 1 % of a level of 50, far above its noise
    np.testing.assert_allclose(floored[:3], plain[:3])
    drifting = np.column_stack([np.linspace(0, 10, 400), X[:, 2]])
    _, wide = mad_center_scale(drifting, drift_floor=0.5)
    assert wide[0] == pytest.approx(5.0)  # half the range beats 1.4826 MAD = 3.7


def test_mad_score_is_the_largest_squared_z():
    X = _rows()
    d = MADDetector().fit(X)
    row = d.center_.copy()
    row[2] += 4 * d.scale_[2]
    assert d.score_samples(row[None, :])[0] == pytest.approx(16.0)


def test_regression_learns_the_linear_link():
    d = RegressionDetector(alpha=0.01).fit(_rows())
    # In standardised units sensor 1 is (almost) sensor 0.
    assert d.coef_[1, 0] == pytest.approx(1.0, abs=0.05)
    row = np.median(_rows(), axis=0)
    row[1] += 1.0  # inside sensor 1's range, but no longer twice sensor 0
    assert d.predict(row[None, :])[0] == 1
    assert d.explain(row[None, :]).argmax() in (0, 1)


def test_mset_memory_holds_each_sensors_extremes():
    X = _rows()
    d = MSETDetector(n_memory=30).fit(X)
    Z = (X - d.center_) / d.scale_
    for j in range(X.shape[1]):
        assert np.isclose(d.memory_[:, j].max(), Z[:, j].max()) and np.isclose(d.memory_[:, j].min(), Z[:, j].min())
    assert len(d.memory_) <= 30
    far = np.median(X, axis=0) + 10 * X.std(axis=0)
    assert d.predict(far[None, :])[0] == 1


def test_ensemble_refuses_unknown_members_at_fit():
    with pytest.raises(ValueError, match="members"):
        EnsembleDetector(members=("mad", "nope")).fit(_rows())
    with pytest.raises(ValueError, match="members"):
        EnsembleDetector(members=("ensemble",)).fit(_rows())
    d = EnsembleDetector(members=("mad", "pca")).fit(_rows())
    assert len(d.members_) == 2 and np.all(d.member_scale_ > 0)
