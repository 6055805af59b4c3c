"""Every registered detector honours the same contract (pdm.models.base)."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError

from pdm.models import DETECTORS, IsolationForestDetector, PCADetector, make_detector

# Five sensors driven by two latent factors plus small independent noise.
LOADINGS = np.array([[1.0, 0.8, 0.5, 0.0, -0.6], [0.0, 0.5, 0.9, 1.0, 0.4]])
NOISE = 0.1
TAGS = [f"s{i}" for i in range(LOADINGS.shape[1])]
FAULTY = 2  # the sensor the anomalies perturb


def normal_rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    factors = rng.normal(size=(n, LOADINGS.shape[0]))
    values = factors @ LOADINGS + NOISE * rng.normal(size=(n, LOADINGS.shape[1]))
    return pd.DataFrame(values, columns=TAGS)


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(42)
    train = normal_rows(rng, 2000)
    sigma = train[TAGS[FAULTY]].std()
    shifted = normal_rows(rng, 500)
    shifted[TAGS[FAULTY]] += 6 * sigma
    # One marginal sigma is ten noise sigmas: the sensor stays in its own normal range but no
    # longer agrees with what the other sensors imply.
    broken = normal_rows(rng, 500)
    broken[TAGS[FAULTY]] += 1.0 * sigma
    return {"train": train, "fresh": normal_rows(rng, 2000), "shifted": shifted, "broken": broken}


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def fitted(request, data):
    return make_detector(request.param).fit(data["train"])


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_init_only_stores_and_clone_works(name):
    detector = make_detector(name)
    params = detector.get_params()
    assert set(vars(detector)) == set(params)
    assert clone(detector).get_params() == params
    with pytest.raises(TypeError):
        DETECTORS[name](0.9)  # keyword-only
    # Validation belongs to fit: a bad value is stored, cloned, and refused only when fitting.
    bad = clone(detector.set_params(threshold_quantile=1.5))
    with pytest.raises(ValueError, match="threshold_quantile"):
        bad.fit(np.random.default_rng(0).normal(size=(50, 3)))
    assert isinstance(DETECTORS[name].version, str)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_scoring_before_fit_raises_not_fitted(name, data):
    detector = make_detector(name)
    for method in (detector.score_samples, detector.predict, detector.explain, detector.top_contributors):
        with pytest.raises(NotFittedError):
            method(data["fresh"])


def test_fit_learns_names_ranges_and_threshold(fitted, data):
    train = data["train"]
    assert list(fitted.feature_names_in_) == TAGS and fitted.n_features_in_ == len(TAGS)
    np.testing.assert_allclose(fitted.feature_median_, train.median().to_numpy())
    assert np.all(fitted.feature_low_ < fitted.feature_median_)
    assert np.all(fitted.feature_median_ < fitted.feature_high_)
    scores = fitted.score_samples(train)
    expected = np.quantile(scores, fitted.threshold_quantile) * fitted.threshold_margin
    assert fitted.threshold_ == pytest.approx(expected)
    assert set(fitted.train_score_quantiles_) == {0.5, 0.9, 0.99}
    assert fitted.train_score_quantiles_[0.99] == pytest.approx(np.quantile(scores, 0.99))


def test_fit_on_array_records_feature_count_only(fitted, data):
    detector = clone(fitted).fit(data["train"].to_numpy())
    assert detector.n_features_in_ == len(TAGS)
    assert not hasattr(detector, "feature_names_in_")
    assert detector.tag_names() == ["x0", "x1", "x2", "x3", "x4"]


def test_few_false_alarms_on_fresh_normal_data(fitted, data):
    assert fitted.predict(data["fresh"]).mean() < 0.02


def test_shifted_sensor_is_flagged_and_blamed(fitted, data):
    fresh, shifted = fitted.score_samples(data["fresh"]), fitted.score_samples(data["shifted"])
    assert np.median(shifted) > np.quantile(fresh, 0.99)
    assert fitted.predict(data["shifted"]).mean() > 0.90
    assert np.mean(fitted.explain(data["shifted"]).argmax(axis=1) == FAULTY) > 0.95
    assert fitted.top_contributors(data["shifted"])[0]["tag"] == TAGS[FAULTY]


def test_broken_correlation_raises_scores(fitted, data):
    fresh, broken = fitted.score_samples(data["fresh"]), fitted.score_samples(data["broken"])
    assert np.median(broken) > np.median(fresh)
    if type(fitted).detects_correlation_breaks:
        assert fitted.predict(data["broken"]).mean() > 0.90
        assert np.mean(fitted.explain(data["broken"]).argmax(axis=1) == FAULTY) > 0.90


def test_explain_gives_shares_that_sum_to_one(fitted, data):
    rows = pd.concat([data["fresh"].head(50), data["shifted"].head(50), data["broken"].head(50)])
    shares = fitted.explain(rows)
    assert shares.shape == (150, len(TAGS))
    assert np.all(shares >= 0)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    # A row at the training median has nothing to explain: equal shares, not NaN.
    np.testing.assert_allclose(fitted.explain(fitted.feature_median_[None, :]).sum(), 1.0)


def test_top_contributors_reads_the_last_row(fitted, data):
    rows = pd.concat([data["shifted"].head(3), data["fresh"].head(1)])
    rows.iloc[-1, 4] += 50.0  # only the last row matters, and it blames s4
    top = fitted.top_contributors(rows, k=2)
    assert [t["tag"] for t in top][:1] == ["s4"] and len(top) == 2
    assert top[0]["contribution"] >= top[1]["contribution"]
    assert fitted.top_contributors(rows.iloc[-1])[0]["tag"] == "s4"  # a Series row
    assert fitted.top_contributors(rows.to_numpy()[-1], k=10)[0]["tag"] == "s4"  # k is capped
    assert len(fitted.top_contributors(rows, k=10)) == len(TAGS)


def test_pickle_round_trip_keeps_scores(fitted, data):
    copy = pickle.loads(pickle.dumps(fitted))
    rows = pd.concat([data["fresh"].head(200), data["shifted"].head(50)])
    np.testing.assert_array_equal(copy.score_samples(rows), fitted.score_samples(rows))
    np.testing.assert_array_equal(copy.explain(rows), fitted.explain(rows))
    assert copy.threshold_ == fitted.threshold_


def test_columns_are_matched_by_name(fitted, data):
    rows = data["fresh"].head(20)
    np.testing.assert_allclose(fitted.score_samples(rows[TAGS[::-1]]), fitted.score_samples(rows))
    with pytest.raises(ValueError, match="missing"):
        fitted.score_samples(rows.drop(columns=["s1"]))
    with pytest.raises(ValueError, match="4 features"):
        fitted.score_samples(rows.to_numpy()[:, :4])


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(name, bad, data):
    train = data["train"].copy()
    train.iloc[7, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        make_detector(name).fit(train)
    detector = make_detector(name).fit(data["train"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        detector.score_samples(train.head(10))


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize(("rows", "sensors", "needed"), [(9, 3, 10), (15, 8, 16)])
def test_too_few_rows_says_how_many(name, rows, sensors, needed):
    X = np.random.default_rng(1).normal(size=(rows, sensors))
    with pytest.raises(ValueError, match=rf"got {rows}, need at least {needed}"):
        make_detector(name).fit(X)


def test_make_detector_refuses_unknown_names_and_parameters():
    with pytest.raises(ValueError, match=re.escape("unknown detector 'x'; known: " + ", ".join(sorted(DETECTORS)))):
        make_detector("x")
    with pytest.raises(ValueError, match="no parameter"):
        make_detector("pca", n_trees=3)
    assert make_detector("pca", n_components=2).n_components == 2


# -- detector specifics ------------------------------------------------------------------------
def test_iforest_score_is_sklearns_flipped(data):
    detector = IsolationForestDetector(n_estimators=50).fit(data["train"])
    forest = IsolationForest(n_estimators=50, random_state=0).fit(data["train"].to_numpy())
    rows = data["fresh"].head(100).to_numpy()  # inside the training range: forest term only
    inside = np.all((rows >= detector.train_min_) & (rows <= detector.train_max_), axis=1)
    expected = -forest.score_samples(rows) / detector.forest_limit_
    np.testing.assert_allclose(detector.score_samples(rows)[inside], expected[inside])


def test_pca_components_follow_the_parameter(data):
    assert PCADetector().fit(data["train"]).n_components_ == 2  # two latent factors
    assert PCADetector(n_components=3).fit(data["train"]).n_components_ == 3
    assert PCADetector(n_components=0.9999).fit(data["train"]).n_components_ == 4  # residual kept
    with pytest.raises(ValueError, match="residual"):
        PCADetector(n_components=5).fit(data["train"])
    detector = PCADetector().fit(data["train"])
    with pytest.raises(ValueError, match="at least 2 sensors"):
        detector.fit(data["train"][["s0"]])
    with pytest.raises(NotFittedError):  # a failed refit leaves nothing half-learned behind
        detector.score_samples(data["train"])


def test_pca_constant_sensor_does_not_divide_by_zero(data):
    train = data["train"].assign(s5=3.0)
    detector = PCADetector().fit(train)
    assert np.isfinite(detector.score_samples(train)).all()
    assert detector.top_contributors(train.head(1).assign(s5=4.0))[0]["tag"] == "s5"
