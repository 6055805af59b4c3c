"""Per-asset normalisation, so one model of an asset class applies to every asset of that class.

Two machines of one class differ in operating point (ambient temperature, tank pressure, rated
flow) far more than in how their sensors move together. Subtracting each asset's own location
per sensor and dividing by the class's scale leaves the shared behaviour a fleet model learns.

Where a new asset's location comes from, honestly: from its own first minutes (a robust median
per sensor), because the class nominal alone would leave every machine's offset in the data.
Its first minutes may already be faulty, though. So each baseline value is checked against the
class: a sensor whose baseline lies outside the prediction interval for one more member's
location (Student's t over the member assets' locations) is not trusted and the class nominal
is used for it instead, which keeps a gross day-one fault visible. With few members that
interval is wide (three machines say little about a fourth; a tight guard was measured to call
half of the healthy new compressors faulty), so a fault that starts within it is absorbed into
the baseline and only its growth afterwards is seen. The scale always comes from the class: a few minutes of one
machine do not cover a duty cycle, and a fault that adds noise must not inflate its own yardstick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from pdm.models.base import robust_center_scale


def robust_location_scale(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Median and IQR-based spread per column (a stuck sensor gets its std, then 1)."""
    center, scale = robust_center_scale(frame.to_numpy(dtype=float))
    return pd.Series(center, index=frame.columns), pd.Series(scale, index=frame.columns)


@dataclass(frozen=True)
class ClassNominal:
    """Per sensor of one class: mean location over member assets, spread of those locations,
    and the mean of the members' own scales. Aggregates over assets, never a reading."""

    location: dict[str, float]
    spread: dict[str, float]
    scale: dict[str, float]
    members: int = 1

    def guard_width(self, tag: str, coverage: float) -> float:
        """Half-width of the prediction interval for one more member's location (Student's t):
        wide when the class has few members, since three machines say little about the fourth."""
        if self.members < 2:
            return float("inf")
        t = float(student_t.ppf(0.5 + coverage / 2.0, self.members - 1))
        return t * self.spread[tag] * math.sqrt(1.0 + 1.0 / self.members)

    @classmethod
    def from_members(cls, locations: list[pd.Series], scales: list[pd.Series]) -> ClassNominal:
        locs, scs = pd.DataFrame(locations), pd.DataFrame(scales)
        if locs.empty or locs.isna().any().any():
            raise ValueError("class nominal values need at least one member with every tag")
        # Means, not medians: a median of an odd number of members is one member's own value,
        # and these values are shown to every company.
        location = locs.mean()
        scale = scs.mean()
        # With a handful of members the spread of their locations is itself noisy: never
        # narrower than one class scale, so an ordinary new machine is not called abnormal.
        std = locs.std(ddof=1) if len(locs) > 1 else location * 0.0
        spread = np.maximum(std.reindex(scale.index).fillna(0.0), scale)
        return cls(location=_plain(location), spread=_plain(spread), scale=_plain(scale), members=len(locs))

    def to_json(self) -> dict:
        return {"location": self.location, "spread": self.spread, "scale": self.scale, "members": self.members}

    @classmethod
    def from_json(cls, data: dict) -> ClassNominal:
        return cls(
            location=dict(data["location"]),
            spread=dict(data["spread"]),
            scale=dict(data["scale"]),
            members=int(data.get("members", 1)),
        )


@dataclass(frozen=True)
class Normaliser:
    """``(x - location) / scale`` per sensor; ``untrusted`` lists sensors whose baseline was
    replaced by the class nominal."""

    location: dict[str, float]
    scale: dict[str, float]
    untrusted: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        return list(self.location)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [t for t in self.tags if t not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks tag(s) {missing} that the normaliser needs")
        loc, scale = pd.Series(self.location), pd.Series(self.scale)
        return (frame[self.tags] - loc) / scale

    def invert(self, values: np.ndarray, names: list[str]) -> np.ndarray:
        """Normalised values (one per name) back in the asset's own units."""
        loc = np.array([self.location[n] for n in names])
        scale = np.array([self.scale[n] for n in names])
        return np.asarray(values, dtype=float) * scale + loc

    def to_json(self) -> dict:
        return {"location": self.location, "scale": self.scale, "untrusted": list(self.untrusted)}

    @classmethod
    def from_json(cls, data: dict) -> Normaliser:
        return cls(
            location=dict(data["location"]), scale=dict(data["scale"]), untrusted=list(data.get("untrusted", []))
        )


def member_normaliser(frame: pd.DataFrame, nominal: ClassNominal) -> Normaliser:
    """A training member: its location over its whole normal window, the class's scale."""
    location, _ = robust_location_scale(frame[list(nominal.scale)])
    return Normaliser(location=_plain(location), scale=dict(nominal.scale))


def baseline_normaliser(baseline: pd.DataFrame, nominal: ClassNominal, *, coverage: float) -> Normaliser:
    """A new asset: location from its first rows unless outside the class's prediction interval
    of ``coverage`` for a member's location (see module)."""
    if baseline.empty:
        raise ValueError("an empty baseline cannot give a location")
    tags = list(nominal.location)
    own, _ = robust_location_scale(baseline[tags])
    location, untrusted = {}, []
    for tag in tags:
        if abs(float(own[tag]) - nominal.location[tag]) > nominal.guard_width(tag, coverage):
            location[tag] = nominal.location[tag]
            untrusted.append(tag)
        else:
            location[tag] = float(own[tag])
    return Normaliser(location=location, scale=dict(nominal.scale), untrusted=untrusted)


def _plain(series: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in series.items()}
