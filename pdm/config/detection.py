"""How assets are modelled: the detector, training and scoring settings, and fleet models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from pdm.config.base import Flag, PositiveSeconds, Real, Slug, Text, Whole, _Strict

# The detector names a plant file may give: pdm.models.DETECTORS' keys, and "auto" (chosen per asset
# from its training data). Declared here, not imported: pdm.config sits below pdm.models in the import
# layers (pyproject's importlinter contract; models read their settings from config), so config cannot
# look at the registry. Checking here rather than in the CLI keeps one validation path for every way
# in (plant file, engineer page, stored asset overrides), all through these models;
# tests/config/test_detector_names.py fails as soon as this list and the registry differ.
DETECTOR_NAMES = frozenset({"auto", "pca", "iforest", "mad", "regression", "mset", "ensemble", "rebase"})


def _known_detector(name: str) -> str:
    if name not in DETECTOR_NAMES:
        raise ValueError(f"unknown detector; known: {', '.join(sorted(DETECTOR_NAMES))}")
    return name


DetectorName = Annotated[str, AfterValidator(_known_detector)]


def _not_below(value: int, info: ValidationInfo, other: str, why: str = "") -> int:
    """``value`` unless it is below the field ``other`` declared (and validated) before it."""
    low = info.data.get(other)
    if low is not None and value < low:
        raise ValueError(f"must be at least {other} ({low}){why}")
    return value


class FleetConfig(_Strict):
    """Cold start: one model per asset class, trained across companies, scores assets without their own.

    Only detectors whose saved state is aggregates (means, medians, spreads, regression weights)
    may serve as a fleet model: one that keeps training rows (``mset``) would carry other
    companies' data. A fleet model needs members from ``min_companies`` companies (so it never
    reflects one company's machines alone) and ``min_assets`` assets in all.
    """

    enabled: Flag = True
    detector: Literal["pca", "mad", "regression"] = "pca"
    min_companies: Annotated[Whole, Field(ge=2, le=1000)] = 2
    min_assets: Annotated[Whole, Field(ge=2, le=10_000)] = 3
    # A new asset's own location per sensor comes from its first ``baseline_min`` minutes; one
    # full duty cycle (24-30 min on the simulated plant) keeps a half-cycle from biasing it.
    baseline_min: Annotated[Real, Field(gt=0, le=10_080)] = 30.0
    # A baseline value outside this prediction interval of the member assets' values is not
    # trusted (the asset may be faulty from its first minute): the class nominal is used instead.
    baseline_guard_coverage: Annotated[Real, Field(gt=0.5, lt=1)] = 0.999
    retrain_interval_s: PositiveSeconds = 3600.0

    @field_validator("min_assets")
    @classmethod
    def _one_asset_per_company_at_least(cls, assets: int, info: ValidationInfo) -> int:
        return _not_below(assets, info, "min_companies", ": each company brings an asset")


# Two hours of calm at a row a minute, two minutes at a row a second: long enough that a fault
# whose score dips now and then stays one excursion.
RETURN_TO_NORMAL_ROWS = 120


class AssetDetection(_Strict):
    """What an engineer may set for one asset class (``detection.classes``) or one asset (its
    ``detection:``); a field left out keeps the level above: asset over class over ``detection``."""

    detector: DetectorName | None = None
    false_alerts_per_month: Annotated[Real, Field(gt=0, le=1000)] | None = None
    debounce_rows: Annotated[Whole, Field(ge=1, le=1000)] | None = None
    smooth_rows: Annotated[Whole, Field(ge=1, le=1000)] | None = None
    silent_period_min: Annotated[Real, Field(ge=0, le=10_080)] | None = None
    return_to_normal_rows: Annotated[Whole, Field(ge=1, le=100_000)] | None = None
    running_tag: Text | None = None
    running_above: Annotated[Real, Field(ge=-1e12, le=1e12)] | None = None
    startup_min: Annotated[Real, Field(ge=0, le=1440)] | None = None
    running_auto: Flag | None = None

    def changes(self) -> dict:
        return self.model_dump(exclude_none=True)


class DetectionConfig(_Strict):
    detector: Slug = "auto"  # chosen per asset from its training data; or a name in pdm.models.DETECTORS
    resample_s: PositiveSeconds | None = None
    train_min_rows: Annotated[Whole, Field(ge=10, le=10_000_000)] = 60
    # Normal operation has slow cycles (shifts, batches): a model trained on less than one
    # full cycle alarms whenever the load leaves the range it saw.
    train_min_span_min: Annotated[Real, Field(ge=0, le=525_600)] = 60.0
    train_max_rows: Annotated[Whole, Field(ge=10, le=10_000_000)] = 2000
    # An active model older than this gets a challenger once enough new normal data exists.
    retrain_after_h: Annotated[Real, Field(gt=0, le=87_600)] = 168.0
    # The latest share of a challenger's normal data, held out to compare it with the champion.
    holdout_fraction: Annotated[Real, Field(ge=0.05, le=0.5)] = 0.2
    smooth_rows: Annotated[Whole, Field(ge=1, le=1000)] = 3
    # The alarm budget: each model's threshold is set so that it would open at most this many
    # alerts per asset per 30 days of normal operation (pdm.models.budget).
    false_alerts_per_month: Annotated[Real, Field(gt=0, le=1000)] = 1.0
    debounce_rows: Annotated[Whole, Field(ge=1, le=1000)] = 4
    score_interval_s: PositiveSeconds = 2.0
    train_interval_s: PositiveSeconds = 5.0
    # Default quiet time after an alert closes; an asset's own silent_period_min wins.
    silent_period_min: Annotated[Real, Field(ge=0, le=10_080)] = 30.0
    # An open alert is back to normal once this many scored rows in a row stay calm (ISA-18.2's
    # return to normal): it stays in the technician's hands, and a new debounced excursion after
    # its silent period makes it active again, notified, as one more episode (pdm.alerts.rules).
    return_to_normal_rows: Annotated[Whole, Field(ge=1, le=100_000)] = RETURN_TO_NORMAL_ROWS
    # A machine runs while its ``running_tag`` (a speed, a current) reads above ``running_above``:
    # rows while it is stopped are neither learned from nor scored, and the first ``startup_min``
    # after it starts again (a cold machine warming up) are skipped too (pdm.models.running).
    # Usually set per asset class or per asset; None: always running.
    running_tag: Text | None = None
    running_above: Annotated[Real, Field(ge=-1e12, le=1e12)] = 0.0
    startup_min: Annotated[Real, Field(ge=0, le=1440)] = 0.0
    # Without a running_tag, training looks for a tag with a clear stopped mode (a speed, a current
    # near zero for a good share of the rows) and uses it as the rule (pdm.models.stopped); false:
    # every row counts as running.
    running_auto: Flag = True
    # Where retraining many assets runs: in the worker, on all local cores, or on a Dask cluster.
    executor: Literal["serial", "process", "dask"] = "serial"
    max_workers: Annotated[Whole, Field(ge=1, le=1024)] | None = None
    dask_scheduler: Annotated[str, Field(pattern=r"^(tcp|tls|inproc)://\S+$", max_length=2048)] | None = None
    fleet: FleetConfig = FleetConfig()
    # Per asset class, e.g. a tighter budget for presses or ``mad`` for one-tag probes.
    classes: dict[Slug, AssetDetection] = {}

    @field_validator("detector")
    @classmethod
    def _registered_detector(cls, name: str) -> str:
        return _known_detector(name)

    @field_validator("train_max_rows")
    @classmethod
    def _max_rows_not_below_min(cls, rows: int, info: ValidationInfo) -> int:
        return _not_below(rows, info, "train_min_rows")

    def for_asset(
        self, asset_class: str, overrides: dict | None = None, silent_period_min: float | None = None
    ) -> DetectionConfig:
        """The settings one asset is trained and scored with: these, then its class's
        ``classes`` entry, then the asset's own ``overrides`` (a validated ``AssetDetection``)
        and silent period."""
        changes = self.classes[asset_class].changes() if asset_class in self.classes else {}
        changes.update(overrides or {})
        if silent_period_min is not None:
            changes["silent_period_min"] = silent_period_min
        return self.model_copy(update=changes) if changes else self
