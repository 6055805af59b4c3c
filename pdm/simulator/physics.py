"""Asset-class models of the simulated plant: pure numpy, no I/O.

Every asset follows a smooth duty profile (its operating load). The sensors are derived from
that load through simple first-principles relations, so healthy data has the low-rank,
correlated structure that real plant data has and that a PCA monitor learns. Faults change the
physics (a resistance, a friction, a heat-transfer coefficient), not the sensors directly, so
they break those correlations the way real faults do.

Determinism: one ``numpy.random.Generator`` per asset, and every step draws the same number of
normals whatever faults are active. A faulty run and a healthy run with the same seed share the
same load and noise, so a test can compare them sample by sample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np

from pdm.simulator.machines import RUNNING, Compressor, Conditions, Pump, Spindle

SENSORS: dict[str, dict[str, str]] = {
    "centrifugal_pump": {
        "flow": "m3/h",
        "discharge_pressure": "bar",
        "suction_pressure": "bar",
        "motor_current": "A",
        "vibration": "mm/s",
        "bearing_temp": "degC",
        "motor_temp": "degC",
    },
    "air_compressor": {
        "load": "%",
        "discharge_pressure": "bar",
        "airflow": "m3/min",
        "motor_current": "A",
        "oil_temp": "degC",
        "discharge_temp": "degC",
        "vibration": "mm/s",
    },
    "cnc_spindle": {
        "spindle_speed": "rpm",
        "spindle_load": "%",
        "motor_current": "A",
        "vibration": "mm/s",
        "spindle_temp": "degC",
        "coolant_temp": "degC",
        "coolant_flow": "l/min",
    },
}

FAULT_KINDS = ("bearing_wear", "cavitation", "clogging_filter", "cooling_failure", "imbalance")
# Benign events: a real change in the data that is not a fault. A planned process change runs the
# asset at a lower operating point (a low-demand product); every sensor stays physically consistent,
# but the asset leaves the range its detector learned, which is how real false alarms arise.
BENIGN_KINDS = ("process_change",)
PROCESS_CHANGE_DROP = 0.35  # fraction of the load shed at full severity

# Cavitation needs a liquid at the suction of an impeller: only pumps.
APPLICABLE_FAULTS: dict[str, frozenset[str]] = {
    "centrifugal_pump": frozenset(FAULT_KINDS),
    "air_compressor": frozenset(FAULT_KINDS) - {"cavitation"},
    "cnc_spindle": frozenset(FAULT_KINDS) - {"cavitation"},
}

_N_NOISE = 12  # normals drawn per step, fixed so the stream never depends on the faults


def check_fault(asset_class: str, kind: str) -> None:
    """Refuse a fault that cannot happen on this asset class."""
    if asset_class not in APPLICABLE_FAULTS:
        raise ValueError(f"unknown asset class {asset_class!r}; known: {sorted(SENSORS)}")
    if kind not in APPLICABLE_FAULTS[asset_class] and kind not in BENIGN_KINDS:  # benign events fit every class
        raise ValueError(
            f"fault kind {kind!r} does not apply to asset class {asset_class!r}; "
            f"applicable: {sorted(APPLICABLE_FAULTS[asset_class])}"
        )


def fault_severity(t_min: float, start_min: float, end_min: float, ramp_min: float) -> float:
    """0 before start, linear ramp to 1, hold, back to 0 at end (the asset was repaired)."""
    if t_min < start_min or t_min >= end_min:
        return 0.0
    if ramp_min <= 0:
        return 1.0
    return min(1.0, (t_min - start_min) / ramp_min)


def asset_seed(global_seed: int, company: str, asset: str) -> int:
    """Stable across processes and Python versions, unlike hash() which is salted per run."""
    key = f"{global_seed}\x1f{company}\x1f{asset}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


class DutyProfile:
    """Operating load in [0, 1]: a few slow sinusoids plus a small AR(1) wander.

    The sinusoids are the harmonics of one production cycle of 24-30 simulated minutes (cycle,
    half cycle, plus a faint double cycle). Half an hour of history therefore holds a whole cycle,
    which is what a detector trained on a short window needs to see the full healthy range.
    """

    def __init__(self, rng: np.random.Generator, mean: float, span: float):
        self.mean, self.span = mean, span
        cycle_s = rng.uniform(24.0, 30.0) * 60.0
        self.periods_s = np.array([cycle_s / 2, cycle_s, 2 * cycle_s])
        self.amps = np.array([0.6, 0.37, 0.03]) * span
        self.phases = rng.uniform(0.0, 2 * math.pi, 3)
        self.wander_tau_s, self.wander_sd = 150.0, 0.012 * span
        self.wander = 0.0

    def __call__(self, t: float, dt: float, z: float) -> float:
        a = math.exp(-dt / self.wander_tau_s)
        self.wander = a * self.wander + self.wander_sd * math.sqrt(1.0 - a * a) * z
        waves = float(np.sum(self.amps * np.sin(2 * math.pi * t / self.periods_s + self.phases)))
        return self.mean + waves + self.wander


# class -> (physics, duty mean, duty span): pumps run near duty, machines swing more.
_CLASSES = {
    "centrifugal_pump": (Pump, 0.82, 0.14),
    "air_compressor": (Compressor, 0.70, 0.22),
    "cnc_spindle": (Spindle, 0.70, 0.22),
}


class AssetModel:
    """One simulated asset: ``step`` advances its state and returns one reading per sensor."""

    def __init__(self, asset_class: str, seed: int):
        if asset_class not in _CLASSES:
            raise ValueError(f"unknown asset class {asset_class!r}; known: {sorted(SENSORS)}")
        self.asset_class = asset_class
        self.sensors: tuple[str, ...] = tuple(SENSORS[asset_class])
        self._rng = np.random.default_rng(seed)
        physics, mean, span = _CLASSES[asset_class]
        self._duty = DutyProfile(self._rng, mean, span)
        self._physics = physics(self._rng)

    def step(
        self,
        sim_t: float,
        dt: float,
        faults_active: Mapping[str, float] | None = None,
        conditions: Conditions = RUNNING,
    ) -> dict[str, float]:
        """State at ``sim_t`` (seconds), ``dt`` seconds after the previous step.

        ``faults_active`` maps fault (or benign event) kind to severity in [0, 1]; an inapplicable
        kind is refused. A process change scales the load; the physics then follow as when healthy.
        ``conditions``: running or stopped, ambient offset and product setpoint (real operation).
        """
        faults = dict(faults_active or {})
        for kind, sev in faults.items():
            check_fault(self.asset_class, kind)
            faults[kind] = min(1.0, max(0.0, float(sev)))
        z = self._rng.standard_normal(_N_NOISE)
        shed = 1.0 - PROCESS_CHANGE_DROP * faults.get("process_change", 0.0)
        duty = self._duty(sim_t, max(dt, 0.0), float(z[11])) * shed * conditions.setpoint
        u = min(1.05, max(0.05, duty))
        return self._physics.sample(u, max(dt, 0.0), faults, z, conditions)
