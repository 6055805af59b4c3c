"""The saved-model envelope: a fitted detector plus what is needed to refuse using it wrongly.

Layout: ``pickle({format, versions, detector_name, detector_class, detector_version, company,
asset, feature_names, trained_from, trained_to, threshold, metrics, saved_at, detector})``
where ``detector`` is itself a pickle (bytes). The outer layer holds only plain Python values and
is read with an unpickler that refuses every class, so the metadata is checked *before* any
detector code is unpickled, and a scikit-learn mismatch is reported instead of crashing.

Security: pickle can run arbitrary code. Envelopes are only ever loaded from our own database
(written by ``dump``); never load one from an upload, a URL or a user-supplied file.
"""

from __future__ import annotations

import io
import pickle
import platform
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

import pdm
from pdm.errors import ModelError
from pdm.models import DETECTORS
from pdm.models.base import BaseDetector

FORMAT = "pdm-model/1"


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "pdm": pdm.__version__,
    }


def dump(
    detector: BaseDetector,
    *,
    company: str,
    asset: str,
    detector_name: str,
    trained_from: float,
    trained_to: float,
    metrics: dict,
) -> bytes:
    """Serialise a fitted detector fitted on a DataFrame (so it knows its tags) into an envelope."""
    cls = DETECTORS.get(detector_name)
    if cls is None or type(detector) is not cls:
        raise ValueError(
            f"detector_name {detector_name!r} does not name this detector's class "
            f"{type(detector).__name__}; known: {', '.join(sorted(DETECTORS))}"
        )
    try:
        check_is_fitted(detector)
    except NotFittedError as exc:
        raise ModelError(f"cannot save an unfitted {detector_name!r} detector") from exc
    if not hasattr(detector, "feature_names_in_"):
        raise ValueError("fit the detector on a DataFrame so the saved model knows its tags")
    if not isinstance(metrics, dict):
        raise ValueError(f"metrics must be a dict, got {type(metrics).__name__}")
    if not float(trained_from) <= float(trained_to):
        raise ValueError(f"training window is reversed: {trained_from} > {trained_to}")
    envelope = {
        "format": FORMAT,
        "versions": library_versions(),
        "detector_name": detector_name,
        "detector_class": f"{cls.__module__}.{cls.__qualname__}",
        "detector_version": cls.version,
        "company": str(company),
        "asset": str(asset),
        "feature_names": [str(n) for n in detector.feature_names_in_],
        "trained_from": float(trained_from),
        "trained_to": float(trained_to),
        "threshold": float(detector.threshold_),
        "metrics": _plain(metrics, "metrics"),
        "saved_at": time.time(),
        "detector": pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL),
    }
    return pickle.dumps(envelope, protocol=pickle.HIGHEST_PROTOCOL)


def load(blob: bytes, *, company: str, asset: str, feature_names: list[str] | None = None) -> tuple[BaseDetector, dict]:
    """The detector and the envelope's metadata, or ``ModelError`` saying what does not match."""
    envelope = _read_envelope(blob)
    _expect("company", str(company), envelope.get("company"))
    _expect("asset", str(asset), envelope.get("asset"))
    _check_sklearn(envelope.get("versions"))
    cls = _detector_class(envelope)
    if feature_names is not None:
        _check_features(list(map(str, feature_names)), envelope.get("feature_names"))
    detector = _read_detector(envelope["detector"], cls)
    meta = {k: v for k, v in envelope.items() if k != "detector"}
    return detector, meta


# -- checks -----------------------------------------------------------------------------------
def _read_envelope(blob) -> dict:
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ModelError(f"not a pdm model envelope: expected bytes, found {type(blob).__name__}")
    try:
        envelope = _PlainUnpickler(io.BytesIO(bytes(blob))).load()
    except Exception as exc:  # any unpickling failure means "not ours"; the cause is kept
        raise ModelError(f"not a pdm model envelope: {exc}") from exc
    if not isinstance(envelope, dict) or "format" not in envelope:
        raise ModelError(f"not a pdm model envelope: found a {type(envelope).__name__} without 'format'")
    _expect("model format", FORMAT, envelope["format"])
    if not isinstance(envelope.get("detector"), bytes):
        raise ModelError("not a pdm model envelope: it holds no detector")
    return envelope


def _expect(what: str, expected, found) -> None:
    if expected != found:
        raise ModelError(f"{what} mismatch: expected {expected!r}, found {found!r}")


def _major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def _check_sklearn(versions) -> None:
    found = (versions or {}).get("scikit-learn") if isinstance(versions, dict) else None
    if found is None or _major_minor(found) != _major_minor(sklearn.__version__):
        raise ModelError(
            f"scikit-learn version mismatch: installed {sklearn.__version__}, model saved with {found}; "
            "retrain the model"
        )


def _detector_class(envelope: dict) -> type[BaseDetector]:
    name = envelope.get("detector_name")
    cls = DETECTORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelError(f"unknown detector {name!r} in model; known: {', '.join(sorted(DETECTORS))}")
    _expect(f"detector {name!r} class version", cls.version, envelope.get("detector_version"))
    return cls


def _check_features(expected: list[str], found) -> None:
    if expected == found:
        return
    found = list(found or [])
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    detail = f"missing {missing}, unexpected {extra}" if missing or extra else "same tags, different order"
    raise ModelError(f"feature names mismatch ({detail}): expected {expected}, found {found}")


def _read_detector(payload: bytes, cls: type[BaseDetector]) -> BaseDetector:
    try:
        with warnings.catch_warnings():
            # major.minor was checked above; a patch-level difference is accepted on purpose.
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            detector = pickle.loads(payload)
    except Exception as exc:
        raise ModelError(f"cannot unpickle the detector: {exc}") from exc
    if type(detector) is not cls:
        raise ModelError(f"detector class mismatch: expected {cls.__name__}, found {type(detector).__name__}")
    return detector


class _PlainUnpickler(pickle.Unpickler):
    """Reads only builtin containers and scalars: the envelope never needs a class."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"the envelope may not reference {module}.{name}")


def _plain(value, path: str):
    """JSON-like copy of ``value`` (numpy scalars and arrays become Python numbers and lists)."""
    if isinstance(value, np.generic):  # before the builtins: np.float64 subclasses float
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{path}.{k}") for k, v in value.items()}
    raise ValueError(f"{path} holds a {type(value).__name__}; use numbers, strings, lists and dicts")
