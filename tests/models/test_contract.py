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

from pdm.models import (
    DETECTORS,
    IsolationForestDetector,
    MADDetector,
    PCADetector,
    RebaselineMADDetector,
    make_detector,
)

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


# -- rebase: re-baselining after an excursion has gone back ---------------------------------------
def _rebase_reference(det: RebaselineMADDetector, X: np.ndarray) -> np.ndarray:
    """The documented rule, one row at a time (the detector does the same per episode)."""
    z2 = ((X - det.center_) / det.scale_) ** 2
    peak, sensor, calm = 0.0, 0, 0
    for i in range(len(z2)):
        score = z2[i].max()
        if score <= det.threshold_:
            peak, calm = 0.0, 0
            continue
        if score > peak:
            peak, sensor, calm = score, z2[i].argmax(), 0
        elif z2[i, sensor] < det.return_ratio * peak:
            calm += 1
        else:
            calm = 0
        if calm >= det.settle_rows:
            recent = X[i - det.settle_rows + 1 : i + 1]
            z2[i + 1 :] = ((X[i + 1 :] - recent.mean(0)) / np.maximum(det.scale_, np.ptp(recent, 0))) ** 2
            peak, calm = 0.0, 0
    return z2.max(axis=1)


def _excursion(rng, back_to: float, n_fault: int = 150, n_after: int = 300) -> np.ndarray:
    """100 normal rows, sensor 0 at +30 sigma, then sensor 0 at ``back_to`` sigma."""
    X = rng.normal(size=(100 + n_fault + n_after, 3))
    X[100 : 100 + n_fault, 0] += 30.0
    X[100 + n_fault :, 0] += back_to
    return X


def test_rebase_matches_the_row_by_row_rule():
    relearned = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        X = _excursion(rng, back_to=float(rng.uniform(-6, 6)), n_fault=int(rng.integers(5, 200)))
        X[int(rng.integers(0, 500)) :, int(rng.integers(3))] += rng.normal(0, 5)
        det = RebaselineMADDetector(
            settle_rows=int(rng.integers(2, 40)), return_ratio=float(rng.uniform(0.05, 0.9)), threshold_margin=1.0
        ).fit(rng.normal(size=(300, 3)))
        got = det.score_samples(X)
        np.testing.assert_allclose(got, _rebase_reference(det, X), err_msg=f"seed {seed}")
        relearned += not np.allclose(got, (((X - det.center_) / det.scale_) ** 2).max(axis=1))
    assert relearned >= 10  # the comparison exercised re-baselining, not only the fixed baseline


def test_rebase_accepts_the_level_an_excursion_settles_at():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 3))
    # Back from +30 sigma, settled 8 sigma off: always above the threshold, so one episode.
    X = _excursion(rng, back_to=8.0)
    fixed = MADDetector(drift_floor=0.1, level_floor=0.002, threshold_margin=1.2).fit(train)
    det = RebaselineMADDetector(threshold_margin=1.2).fit(train)
    assert fixed.predict(X[300:]).mean() > 0.9  # a fixed baseline alarms for the rest of the run
    flags = det.predict(X)  # one run: the rows before a row are what re-baselining learns from
    assert flags[100:250].mean() > 0.95  # the fault itself is still flagged
    assert flags[250 + det.settle_rows + 5 :].mean() < 0.05  # the level it settled at is normal now
    assert det.explain(X).shape == X.shape  # explain follows the same re-baselined scores


def test_rebase_keeps_alarming_on_a_fault_that_holds():
    rng = np.random.default_rng(2)
    det = RebaselineMADDetector(threshold_margin=1.2).fit(rng.normal(size=(300, 3)))
    X = _excursion(rng, back_to=30.0)  # never goes back
    assert det.predict(X[100:]).mean() > 0.99


def test_rebase_carries_no_state_from_one_call_to_the_next_and_never_looks_ahead():
    rng = np.random.default_rng(3)
    det = RebaselineMADDetector(threshold_margin=1.2).fit(rng.normal(size=(300, 3)))
    X = _excursion(rng, back_to=8.0)
    fresh = pickle.loads(pickle.dumps(det))
    first = det.score_samples(X)
    later = det.score_samples(X[300:])  # starts from the fitted baseline, not the one X ended with
    assert later.tolist() == fresh.score_samples(X[300:]).tolist()
    assert later.min() > det.threshold_ > first[300:].max()
    np.testing.assert_array_equal(det.score_samples(X), first)
    changed = X.copy()
    changed[320:] += 50.0
    np.testing.assert_array_equal(det.score_samples(changed)[:320], first[:320])


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("return_ratio", 0.0),
        ("return_ratio", 1.0),
        ("return_ratio", True),
        ("settle_rows", 1),
        ("settle_rows", 2.5),
        ("settle_rows", True),
        ("drift_floor", -0.1),
    ],
)
def test_rebase_refuses_bad_parameters_naming_them(param, value):
    with pytest.raises(ValueError, match=rf"{param} must be .*got {value!r}"):
        RebaselineMADDetector(**{param: value}).fit(np.random.default_rng(0).normal(size=(50, 3)))


def _in_calls(det: RebaselineMADDetector, X: np.ndarray, cuts: list[int]) -> tuple[np.ndarray, list[dict]]:
    """Score X in calls ending at ``cuts``, as pdm.models.scoring does: each call starts again at the
    previous call's resume row, and only the rows after the previous call's end are kept."""
    scores, states, state, resume, done = [], [], None, None, 0
    for end in [*cuts, len(X)]:
        begin = done if resume is None else resume
        got, z2, _, state = det.score_run(X[begin:end], state)
        assert z2.shape == (end - begin, X.shape[1])
        scores.append(got[done - begin :])
        resume = None if state["resume_row"] is None else begin + state["resume_row"]
        assert resume is None or end - resume < det.settle_rows  # never more than that seen again
        states.append(state)
        done = end
    return np.concatenate(scores), states


def test_rebase_scored_in_any_number_of_calls_equals_one_call():
    resumed = relearned = in_episode = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        X = _excursion(rng, back_to=float(rng.uniform(-6, 6)), n_fault=int(rng.integers(5, 200)))
        det = RebaselineMADDetector(
            settle_rows=int(rng.integers(2, 40)), return_ratio=float(rng.uniform(0.05, 0.9)), threshold_margin=1.0
        ).fit(rng.normal(size=(300, 3)))
        whole = det.score_samples(X)
        one, [state] = _in_calls(det, X, [])
        np.testing.assert_array_equal(one, whole)
        cuts = sorted(set(rng.integers(1, len(X), size=int(rng.integers(1, 30))).tolist()))
        split, states = _in_calls(det, X, cuts)
        np.testing.assert_allclose(split, whole, err_msg=f"seed {seed}, cuts {cuts}")
        resumed += sum(s["resume_row"] is not None for s in states[:-1])
        in_episode += sum(s["episode"] is not None for s in states[:-1])
        relearned += state["center"] != det.center_.tolist()
    # Cuts fell inside open episodes (some inside a run of calm rows), and after re-baselining.
    assert in_episode >= 50 and resumed >= 10 and relearned >= 10


def test_rebase_state_is_plain_json():
    import json

    rng = np.random.default_rng(4)
    det = RebaselineMADDetector(threshold_margin=1.2).fit(rng.normal(size=(300, 3)))
    X = _excursion(rng, back_to=8.0)
    run = det.score_run(X)
    state = run.state
    assert json.loads(json.dumps(state)) == state and state["resume_row"] is None
    assert state["center"] != det.center_.tolist()  # it settled at +8 sigma: the baseline moved there
    # Each row's baseline: the fitted one until the excursion went back, then the level it settled at.
    centers = run.shifts + det.center_
    moved = np.flatnonzero((run.shifts != 0).any(axis=1))
    assert 250 < moved[0] < 250 + 2 * det.settle_rows and moved[-1] == len(X) - 1
    np.testing.assert_allclose(centers[-1], state["center"])
    assert abs(run.shifts[-1][0] - 8.0) < 1.0


def test_top_sensors_carry_value_and_normal_range_moved_by_the_shift():
    rng = np.random.default_rng(7)
    train = pd.DataFrame(rng.normal(size=(400, 3)) * [1.0, 10.0, 100.0], columns=["a", "b", "c"])
    det = DETECTORS["mad"]().fit(train)
    top = det.top_sensors(np.array([0.1, 0.7, 0.2]), np.array([0.5, 42.0, 3.0]), k=2)
    assert [s["tag"] for s in top] == ["b", "c"] and top[0]["value"] == 42.0 and top[0]["contribution"] == 0.7
    low, high = np.percentile(train["b"], [1, 99])
    assert top[0]["low"] == pytest.approx(low, abs=1e-3) and top[0]["high"] == pytest.approx(high, abs=1e-3)
    moved = det.top_sensors(np.array([0.1, 0.7, 0.2]), np.zeros(3), shift=np.array([0.0, 5.0, 0.0]), k=1)
    assert moved[0]["low"] == pytest.approx(low + 5.0, abs=1e-3)
    # A model saved before normal ranges were kept still names its sensors, without ranges.
    del det.feature_low_
    assert det.top_sensors(np.array([0.1, 0.7, 0.2]), np.zeros(3), k=1) == [
        {"tag": "b", "contribution": 0.7, "value": 0.0}
    ]


@pytest.mark.parametrize("name", sorted(n for n in DETECTORS if not DETECTORS[n].sequential))
def test_score_run_of_a_row_wise_detector_is_score_samples(name):
    rng = np.random.default_rng(3)
    train = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    det = DETECTORS[name]().fit(train)
    X = pd.DataFrame(rng.normal(size=(40, 3)) + [0, 0, 6], columns=["a", "b", "c"])
    run = det.score_run(X)
    np.testing.assert_allclose(run.scores, det.score_samples(X))
    assert run.state == {"resume_row": None}
    rows = run.scores > det.threshold_
    assert rows.any()
    np.testing.assert_allclose(det.explain_run(X, run, rows), det.explain(X[rows]))
