"""The detector contract shared by every anomaly model.

Sign convention, stated once for the whole package: **a higher score is more abnormal**.
``score_samples`` returns one float per row, ``predict`` flags rows whose score exceeds the
calibrated ``threshold_``, and ``explain`` says how much each sensor contributed.

Subclasses follow scikit-learn's conventions (keyword-only ``__init__`` that only stores,
validation in ``fit``, learned attributes ending in ``_``) and implement three hooks:

- ``_fit(X)``: learn from a validated float array of normal data;
- ``_score(X)``: one abnormality score per row;
- ``_contributions(X)``: non-negative per-sensor amounts, shape (n_rows, n_features);
  the base class turns them into shares that sum to 1.
"""

from __future__ import annotations

from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

MIN_FIT_ROWS = 10
REPORTED_QUANTILES = (0.5, 0.9, 0.99)
TOP_SENSORS = 3


class RunScores(NamedTuple):
    """What ``score_run`` returns for a batch of rows."""

    scores: np.ndarray  # one per row
    contributions: np.ndarray | None  # (rows, features) raw amounts; None: ``explain`` the rows that need it
    shifts: np.ndarray | None  # (rows, features): how far each row's baseline moved since fit; None: it did not
    state: dict  # to pass with the next rows (plain JSON); "resume_row" says where the next call starts


def robust_center_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR-based spread per column, so a few spikes in training do not set the scale.

    The IQR is divided by 1.349 to match a standard deviation on Gaussian data. A column with no
    spread (a stuck sensor) falls back to its standard deviation, then to 1, so scoring never
    divides by zero.
    """
    center = np.median(X, axis=0)
    q25, q75 = np.percentile(X, [25, 75], axis=0)
    scale = (q75 - q25) / 1.349
    tiny = 1e-9 * np.maximum(1.0, np.abs(center))
    std = X.std(axis=0)
    scale = np.where(scale > tiny, scale, std)
    scale = np.where(scale > tiny, scale, 1.0)
    return center, scale


class BaseDetector(BaseEstimator):
    """Anomaly detector fitted on normal data; higher scores are more abnormal.

    Threshold calibration lives here: after ``_fit``, ``threshold_`` is the
    ``threshold_quantile`` of the training scores times ``threshold_margin``.
    """

    #: Bump when the learned state changes shape, so old saved models are refused on load.
    version = "1"
    #: Whether a sensor that disagrees with the others while staying in its own normal range
    #: is reliably flagged (the contract tests hold every detector that claims it to it).
    detects_correlation_breaks = True
    #: Whether a row's score depends on the rows before it (then batches are scored with
    #: ``score_run`` and the state it returns, so scores do not depend on how rows were batched).
    sequential = False

    def __init__(self, *, threshold_quantile: float = 0.995, threshold_margin: float = 1.2):
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin

    # -- hooks -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Subclasses extend this; it runs at the start of ``fit``."""
        q, m = self.threshold_quantile, self.threshold_margin
        if not (isinstance(q, Real) and 0.0 < q < 1.0):
            raise ValueError(f"threshold_quantile must be in (0, 1), got {q!r}")
        if not (isinstance(m, Real) and m > 0.0):
            raise ValueError(f"threshold_margin must be > 0, got {m!r}")

    def _fit(self, X: np.ndarray) -> None:
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- public API --------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn normal behaviour from ``X`` (array or DataFrame of normal rows); ``y`` is ignored."""
        self._check_params()
        names = _column_names(X)
        data = _as_finite_2d(X)
        n_rows, n_features = data.shape
        needed = max(MIN_FIT_ROWS, 2 * n_features)
        if n_rows < needed:
            raise ValueError(
                f"too few rows to fit: got {n_rows}, need at least {needed} "
                f"(max of {MIN_FIT_ROWS} and 2 x {n_features} features)"
            )
        self._forget()  # a refit must not keep state from the previous fit
        try:
            self._learn(data, names)
        except Exception:
            self._forget()  # a failed fit must not leave an estimator that looks fitted
            raise
        return self

    def _learn(self, data: np.ndarray, names: np.ndarray | None) -> None:
        self.n_features_in_ = data.shape[1]
        if names is not None:
            self.feature_names_in_ = names
        self.feature_median_ = np.median(data, axis=0)
        self.feature_low_, self.feature_high_ = np.percentile(data, [1, 99], axis=0)
        self._fit(data)
        self._calibrate(self._score(data))

    def _forget(self) -> None:
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)

    def score_samples(self, X) -> np.ndarray:
        """One float per row; higher is more abnormal."""
        return self._score(self._check_input(X))

    def predict(self, X) -> np.ndarray:
        """1 where the score exceeds ``threshold_``, else 0."""
        return (self.score_samples(X) > self.threshold_).astype(int)

    def explain(self, X) -> np.ndarray:
        """Each sensor's share of each row's abnormality: shape (n_rows, n_features), rows sum to 1.

        A row with no measurable abnormality gets equal shares rather than NaN.
        """
        return shares(self._contributions(self._check_input(X)))

    def top_contributors(self, X_row_or_frame, k: int = 3) -> list[dict]:
        """The ``k`` sensors contributing most to the LAST row: ``[{"tag", "contribution"}]``."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        shares = self.explain(_last_row(X_row_or_frame))[0]
        tags = self.tag_names()
        order = np.argsort(-shares, kind="stable")[:k]
        return [{"tag": tags[i], "contribution": float(shares[i])} for i in order]

    def score_run(self, X, state: dict | None = None) -> RunScores:
        """Score ``X``, the rows following where ``state`` (None: the end of training) left off.

        Here each row is scored on its own, so there is no state to carry and every row is new
        (``resume_row`` None); a sequential detector overrides this.
        """
        return RunScores(self.score_samples(X), None, None, {"resume_row": None})

    def explain_run(self, X, run: RunScores, rows: np.ndarray) -> np.ndarray:
        """``explain`` for the rows of ``X`` selected by the boolean mask ``rows``, using what the
        run already computed where it did (a sequential detector's moving baseline)."""
        if run.contributions is not None:
            return shares(run.contributions[rows])
        if not rows.any():
            return np.empty((0, self.n_features_in_))
        return self.explain(X[rows] if hasattr(X, "iloc") else np.asarray(X)[rows])

    def normal_ranges(self, shift: np.ndarray | None = None) -> dict[str, dict[str, float]]:
        """Each sensor's normal range in training (1st–99th percentile, median), moved by ``shift``
        per sensor where the baseline has moved since. Empty for models saved before these were kept."""
        low, high = getattr(self, "feature_low_", None), getattr(self, "feature_high_", None)
        median = getattr(self, "feature_median_", None)
        if low is None or high is None or median is None:
            return {}
        if shift is not None:
            low, high, median = low + shift, high + shift, median + shift
        return ranges_by_tag(self.tag_names(), low, high, median)

    def top_sensors(
        self, row_shares: np.ndarray, values: np.ndarray, shift: np.ndarray | None = None, k: int = TOP_SENSORS
    ) -> list[dict]:
        """The ``k`` sensors with the largest share of one row's abnormality, each with its value
        and normal range: what an alert shows a technician."""
        return top_sensors(self.tag_names(), row_shares, values, self.normal_ranges(shift), k)

    def tag_names(self) -> list[str]:
        """Feature names seen in ``fit``, or ``x0, x1, ...`` when fitted on a plain array."""
        check_is_fitted(self)
        if hasattr(self, "feature_names_in_"):
            return [str(n) for n in self.feature_names_in_]
        return [f"x{i}" for i in range(self.n_features_in_)]

    # -- internals ---------------------------------------------------------------------------
    def _calibrate(self, train_scores: np.ndarray) -> None:
        self.threshold_ = float(np.quantile(train_scores, self.threshold_quantile) * self.threshold_margin)
        self.train_score_quantiles_ = {q: float(np.quantile(train_scores, q)) for q in REPORTED_QUANTILES}

    def _check_input(self, X) -> np.ndarray:
        """Validate scoring input; a DataFrame is matched to the training columns by name."""
        check_is_fitted(self)
        if hasattr(self, "feature_names_in_") and _column_names(X) is not None:
            missing = [n for n in self.feature_names_in_ if n not in X.columns]
            if missing:
                raise ValueError(f"X is missing features seen in fit: {missing}")
            X = X[list(self.feature_names_in_)]
        data = _as_finite_2d(X)
        if data.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {data.shape[1]} features, but the detector was fitted with {self.n_features_in_}")
        return data


def ranges_by_tag(tags: list[str], low, high, median) -> dict[str, dict[str, float]]:
    return {
        tag: {"low": round(float(low[i]), 4), "high": round(float(high[i]), 4), "median": round(float(median[i]), 4)}
        for i, tag in enumerate(tags)
    }


def top_sensors(
    tags: list[str],
    row_shares: np.ndarray,
    values: np.ndarray,
    ranges: dict[str, dict[str, float]],
    k: int = TOP_SENSORS,
) -> list[dict]:
    """The ``k`` tags with the largest shares, each with its value and normal range (where known)."""
    order = np.argsort(-np.asarray(row_shares), kind="stable")[:k]
    return [
        {
            "tag": tags[i],
            "contribution": round(float(row_shares[i]), 4),
            "value": round(float(values[i]), 4),
            **ranges.get(tags[i], {}),
        }
        for i in order
    ]


def shares(contributions: np.ndarray) -> np.ndarray:
    """Each row's contributions as shares summing to 1 (equal shares where there are none)."""
    raw = np.clip(contributions, 0.0, None)
    total = raw.sum(axis=1, keepdims=True)
    uniform = np.full_like(raw, 1.0 / raw.shape[1])
    return np.divide(raw, total, out=uniform, where=total > 0)


def _column_names(X) -> np.ndarray | None:
    """String column names of a DataFrame; like scikit-learn, other names are not recorded."""
    columns = getattr(X, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(set(names)) != len(names):
        raise ValueError("duplicate column names in X")
    return names


def _as_finite_2d(X) -> np.ndarray:
    try:
        data = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be numeric: {exc}") from exc
    if data.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x sensors), got {data.ndim}-D")
    bad = ~np.isfinite(data)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"X contains NaN or infinite values in {len(rows)} row(s), first at row {rows[0]}")
    return data


def _last_row(X):
    """Reduce a frame, 2-D array, Series or 1-D array to a one-row 2-D input, keeping names."""
    if hasattr(X, "iloc"):
        if getattr(X, "ndim", 2) == 1:  # a Series is one row indexed by tag
            return X.to_frame().T
        return X.iloc[[-1]]
    data = np.asarray(X, dtype=float)
    return data.reshape(1, -1) if data.ndim == 1 else data[-1:]
