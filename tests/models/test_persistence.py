"""The saved-model envelope: round trip, and every refusal with a message naming the mismatch."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn

import pdm
from pdm.errors import ModelError
from pdm.models import DETECTORS, PCADetector, make_detector
from pdm.models.persistence import dump, load

TAGS = ["flow", "pressure", "temp", "vibration"]
OWNER = {"company": "acme", "asset": "pump-1"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(300, 1))
    values = base @ np.ones((1, len(TAGS))) + 0.2 * rng.normal(size=(300, len(TAGS)))
    return pd.DataFrame(values, columns=TAGS, index=pd.Index(1000.0 + 10 * np.arange(300), name="ts"))


@pytest.fixture(scope="module")
def blob(frame) -> bytes:
    return save(PCADetector().fit(frame))


def save(detector, name="pca", **overrides) -> bytes:
    args = dict(
        OWNER,
        detector_name=name,
        trained_from=1000.0,
        trained_to=3990.0,
        metrics={"rows": 300, "train_alarm_rate": np.float64(0.001), "q": np.array([1.0, 2.0])},
    )
    return dump(detector, **{**args, **overrides})


def rewrite(blob: bytes, **changes) -> bytes:
    """The same envelope with some fields changed, as an older or foreign writer would produce."""
    envelope = pickle.loads(blob)
    for key, value in changes.items():
        if key == "sklearn":
            envelope["versions"] = {**envelope["versions"], "scikit-learn": value}
        else:
            envelope[key] = value
    return pickle.dumps(envelope)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_round_trip_keeps_scores_and_metadata(name, frame):
    detector = make_detector(name).fit(frame)
    loaded, meta = load(save(detector, name), **OWNER, feature_names=TAGS)
    np.testing.assert_array_equal(loaded.score_samples(frame), detector.score_samples(frame))
    assert meta["format"] == "pdm-model/1"
    assert meta["versions"]["scikit-learn"] == sklearn.__version__
    assert meta["versions"]["pdm"] == pdm.__version__
    assert set(meta["versions"]) == {"python", "numpy", "scikit-learn", "pandas", "pdm"}
    assert (meta["company"], meta["asset"]) == ("acme", "pump-1")
    assert (meta["detector_name"], meta["detector_version"]) == (name, DETECTORS[name].version)
    assert meta["feature_names"] == TAGS
    assert (meta["trained_from"], meta["trained_to"]) == (1000.0, 3990.0)
    assert meta["threshold"] == detector.threshold_
    # Metrics come back as plain Python values (they are also stored as JSON).
    assert meta["metrics"] == {"rows": 300, "train_alarm_rate": 0.001, "q": [1.0, 2.0]}
    assert type(meta["metrics"]["train_alarm_rate"]) is float
    assert "detector" not in meta


def test_feature_names_are_optional_on_load(blob):
    detector, _ = load(blob, **OWNER)
    assert list(detector.feature_names_in_) == TAGS


@pytest.mark.parametrize("junk", [b"", b"not a pickle", pickle.dumps([1, 2]), pickle.dumps({"a": 1}), "text"])
def test_refuses_what_is_not_an_envelope(junk):
    with pytest.raises(ModelError, match="not a pdm model envelope"):
        load(junk, **OWNER)


class _Boom:
    fired = False

    def __reduce__(self):
        return (_fire, ())


def _fire():
    _Boom.fired = True
    return {"format": "pdm-model/1"}


def test_envelope_layer_never_runs_code():
    with pytest.raises(ModelError, match="not a pdm model envelope"):
        load(pickle.dumps(_Boom()), **OWNER)
    assert not _Boom.fired


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other-model/3"}, "model format mismatch: expected 'pdm-model/1', found 'other-model/3'"),
        ({"company": "globex"}, "company mismatch: expected 'acme', found 'globex'"),
        ({"asset": "pump-2"}, "asset mismatch: expected 'pump-1', found 'pump-2'"),
        (
            {"sklearn": "0.24.2"},
            f"scikit-learn version mismatch: installed {sklearn.__version__}, model saved with 0.24.2",
        ),
        ({"detector_version": "0"}, "detector 'pca' class version mismatch: expected '1', found '0'"),
        ({"detector_name": "lstm"}, "unknown detector 'lstm' in model; known: " + ", ".join(sorted(DETECTORS))),
        ({"detector": b"garbage"}, "cannot unpickle the detector"),
    ],
)
def test_refuses_a_mismatched_envelope(blob, changes, message):
    with pytest.raises(ModelError) as error:
        load(rewrite(blob, **changes), **OWNER)
    assert message in str(error.value)


def test_a_scikit_learn_patch_release_is_accepted(blob):
    major, minor = sklearn.__version__.split(".")[:2]
    detector, meta = load(rewrite(blob, sklearn=f"{major}.{minor}.99"), **OWNER)
    assert meta["versions"]["scikit-learn"].endswith(".99")
    assert detector.threshold_ > 0


def test_refuses_when_the_installed_class_version_moved_on(blob, monkeypatch):
    monkeypatch.setattr(PCADetector, "version", "2")
    with pytest.raises(ModelError, match="class version mismatch: expected '2', found '1'"):
        load(blob, **OWNER)


@pytest.mark.parametrize(
    ("names", "detail"),
    [
        (TAGS[:3], "unexpected ['vibration']"),
        ([*TAGS, "current"], "missing ['current']"),
        (TAGS[::-1], "same tags, different order"),
    ],
)
def test_refuses_different_feature_names(blob, names, detail):
    with pytest.raises(ModelError, match="feature names mismatch") as error:
        load(blob, **OWNER, feature_names=names)
    assert detail in str(error.value)


def test_refuses_a_detector_of_another_class(blob, frame):
    other = pickle.dumps(make_detector("iforest", n_estimators=5).fit(frame))
    with pytest.raises(ModelError, match="expected PCADetector, found IsolationForestDetector"):
        load(rewrite(blob, detector=other), **OWNER)


def test_dump_refuses_what_cannot_be_checked_later(frame):
    with pytest.raises(ModelError, match="unfitted"):
        save(PCADetector())
    with pytest.raises(ValueError, match="DataFrame"):
        save(PCADetector().fit(frame.to_numpy()))
    with pytest.raises(ValueError, match="does not name"):
        save(PCADetector().fit(frame), name="iforest")
    with pytest.raises(ValueError, match="reversed"):
        save(PCADetector().fit(frame), trained_from=5.0, trained_to=1.0)
    with pytest.raises(ValueError, match="metrics.when holds a Timestamp"):
        save(PCADetector().fit(frame), metrics={"when": pd.Timestamp(0)})
