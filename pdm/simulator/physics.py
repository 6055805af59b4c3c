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
_SQRT3_400_PF = math.sqrt(3) * 400.0 * 0.86  # 400 V three-phase motor, power factor 0.86


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


def _lag(state: float, target: float, dt: float, tau: float) -> float:
    """Exact first-order lag: stable for any dt, so a fast simulation stays physical."""
    return target + (state - target) * math.exp(-dt / tau)


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


class _Pump:
    """Variable-speed centrifugal pump on a pure friction system (so flow ∝ speed, head ∝ speed²)."""

    def __init__(self, rng: np.random.Generator):
        self.q_bep = 120.0 * rng.uniform(0.9, 1.1)  # m3/h at best efficiency, full speed
        self.h_shut, h_bep = 55.0, 40.0  # m, shut-off and duty head
        self.a_pump = (self.h_shut - h_bep) / self.q_bep**2
        self.k_sys = h_bep / self.q_bep**2
        self.p_tank = rng.uniform(1.5, 1.7)  # bar, suction vessel
        self.i_noload, self.i_rated = 12.0, 43.0
        self.t_amb = rng.uniform(18.0, 26.0)
        self.temps: tuple[float, float] | None = None

    def sample(self, n: float, dt: float, f: Mapping[str, float], z: np.ndarray) -> dict[str, float]:
        cav, clog, bw, imb = (
            f.get("cavitation", 0.0),
            f.get("clogging_filter", 0.0),
            f.get("bearing_wear", 0.0),
            f.get("imbalance", 0.0),
        )
        # A clogged discharge filter adds system resistance: the duty point slides up the pump curve.
        k = self.k_sys * (1.0 + 2.5 * clog)
        q = n * math.sqrt(self.h_shut / (self.a_pump + k))
        h = self.h_shut * n * n - self.a_pump * q * q
        # Vapour bubbles choke the impeller: flow and head drop and become erratic.
        q *= 1.0 - cav * (0.22 + 0.08 * z[6])
        h *= 1.0 - cav * (0.08 + 0.05 * z[7])
        eta = 0.76 * (1.0 - 0.5 * (q / (n * self.q_bep) - 1.0) ** 2)
        p_shaft = 2.725e-3 * q * h / eta + 0.8 * bw  # kW; worn bearings add friction
        current = self.i_noload + p_shaft / 0.93 * 1e3 / _SQRT3_400_PF
        # Cavitation is what a starved suction looks like: a throttled inlet or a low tank.
        suction = self.p_tank - 0.25 * (q / self.q_bep) ** 2 - 0.9 * cav
        discharge = suction + 0.0981 * h
        vib = (0.8 + 1.4 * n) * (1.0 + 2.0 * bw) + 3.5 * imb * n * n + cav * (1.5 + 0.8 * abs(z[8]))
        vib *= 1.0 + (0.04 + 0.15 * bw + 0.2 * cav) * z[2]
        load = current / self.i_rated
        tgt_motor = self.t_amb + 48.0 * load**2 + 25.0 * f.get("cooling_failure", 0.0)
        tgt_bearing = self.t_amb + 8.0 + 14.0 * n + 10.0 * load + 12.0 * bw + 3.0 * imb
        if self.temps is None:
            self.temps = (tgt_bearing, tgt_motor)
        bearing = _lag(self.temps[0], tgt_bearing, dt, 360.0)
        motor = _lag(self.temps[1], tgt_motor, dt, 240.0)
        self.temps = (bearing, motor)
        return {
            "flow": q * (1.0 + 0.006 * z[0]),
            "discharge_pressure": discharge + (0.01 + 0.12 * cav) * z[1],
            "suction_pressure": suction + (0.008 + 0.05 * cav) * z[3],
            "motor_current": current * (1.0 + 0.005 * z[4]),
            "vibration": max(vib, 0.05),
            "bearing_temp": bearing + 0.1 * z[5],
            "motor_temp": motor + 0.1 * z[9],
        }


class _Compressor:
    """Oil-injected screw compressor on a variable-speed drive feeding a plant air network."""

    def __init__(self, rng: np.random.Generator):
        self.fad_rated = 10.0 * rng.uniform(0.9, 1.1)  # m3/min free air delivery at full speed
        self.p_set = rng.uniform(7.2, 7.8)  # bar(g)
        self.i_noload, self.i_rated = 25.0, 100.0
        self.t_amb = rng.uniform(18.0, 28.0)
        self.temps: tuple[float, float] | None = None

    def sample(self, u: float, dt: float, f: Mapping[str, float], z: np.ndarray) -> dict[str, float]:
        clog, cool, bw, imb = (
            f.get("clogging_filter", 0.0),
            f.get("cooling_failure", 0.0),
            f.get("bearing_wear", 0.0),
            f.get("imbalance", 0.0),
        )
        # A clogged intake filter lowers the inlet pressure: each turn moves less air, so the
        # drive speeds up to chase the demand and still delivers less.
        speed = min(1.1, u * (1.0 + 0.25 * clog))
        airflow = self.fad_rated * u * (1.0 - 0.3 * clog)
        pressure = self.p_set - 0.5 * (u - 0.7)  # network sags a little under high demand
        p_in = 1.0 - 0.2 * clog  # bar(a)
        ratio = (pressure + 1.0) / p_in
        work = (ratio**0.2857 - 1.0) / ((self.p_set + 1.0) ** 0.2857 - 1.0)
        power = speed * work * (1.0 + 0.05 * bw)  # per unit of rated shaft power
        current = self.i_noload + (self.i_rated - self.i_noload) * power
        vib = (0.9 + 1.6 * speed) * (1.0 + 2.0 * bw) + 3.0 * imb * speed**2
        vib *= 1.0 + (0.04 + 0.15 * bw) * z[2]
        # The oil cooler carries the compression heat; a failed fan or fouled cooler lets it rise.
        tgt_oil = self.t_amb + 45.0 + 18.0 * power + 22.0 * cool + 6.0 * bw
        if self.temps is None:
            self.temps = (tgt_oil, tgt_oil + 8.0 + 6.0 * power)
        oil = _lag(self.temps[0], tgt_oil, dt, 200.0)
        tgt_disc = oil + 8.0 + 6.0 * power + 60.0 * (1.0 / p_in - 1.0) + 6.0 * cool
        disc = _lag(self.temps[1], tgt_disc, dt, 60.0)
        self.temps = (oil, disc)
        return {
            "load": 100.0 * speed * (1.0 + 0.003 * z[0]),
            "discharge_pressure": pressure + 0.015 * z[1],
            "airflow": airflow * (1.0 + 0.006 * z[3]),
            "motor_current": current * (1.0 + 0.005 * z[4]),
            "oil_temp": oil + 0.1 * z[5],
            "discharge_temp": disc + 0.15 * z[6],
            "vibration": max(vib, 0.05),
        }


class _Spindle:
    """Motor spindle of a machining centre with a chilled coolant loop through its jacket."""

    def __init__(self, rng: np.random.Generator):
        self.n_max = 12000.0
        self.flow_rated = 18.0 * rng.uniform(0.9, 1.1)  # l/min
        self.t_chiller = rng.uniform(19.0, 22.0)
        self.i_noload, self.i_rated = 4.0, 28.0
        self.temps: tuple[float, float] | None = None

    def sample(self, u: float, dt: float, f: Mapping[str, float], z: np.ndarray) -> dict[str, float]:
        clog, cool, bw, imb = (
            f.get("clogging_filter", 0.0),
            f.get("cooling_failure", 0.0),
            f.get("bearing_wear", 0.0),
            f.get("imbalance", 0.0),
        )
        speed = self.n_max * u
        # Heavier cuts are scheduled at higher speed (constant chip load), hence load rises with u.
        load = 10.0 + 60.0 * u**1.5 + 6.0 * bw
        current = self.i_noload + 0.3 * load
        flow = self.flow_rated * (0.9 + 0.1 * u) * (1.0 - 0.6 * clog)
        rel = speed / self.n_max
        heat = 0.5 * (current / self.i_rated) ** 2 + 0.5 * rel**2 + 0.4 * bw  # copper + bearing losses
        # Temperature rise across the jacket is heat over coolant flow: a clogged filter shows here.
        rise = heat * self.flow_rated / flow
        tgt_coolant = self.t_chiller + 3.0 * heat + 14.0 * cool
        if self.temps is None:
            self.temps = (tgt_coolant, tgt_coolant + 14.0 * rise)
        coolant = _lag(self.temps[0], tgt_coolant, dt, 480.0)
        tgt_spindle = coolant + 14.0 * rise + 6.0 * bw + 2.0 * imb
        spindle = _lag(self.temps[1], tgt_spindle, dt, 240.0)
        self.temps = (coolant, spindle)
        vib = (0.5 + 1.5 * rel) * (1.0 + 2.0 * bw) + 3.0 * imb * rel**2
        vib *= 1.0 + (0.04 + 0.15 * bw) * z[2]
        return {
            "spindle_speed": speed + 4.0 * z[0],
            "spindle_load": load * (1.0 + 0.008 * z[1]),
            "motor_current": current * (1.0 + 0.006 * z[3]),
            "vibration": max(vib, 0.05),
            "spindle_temp": spindle + 0.1 * z[4],
            "coolant_temp": coolant + 0.05 * z[5],
            "coolant_flow": flow * (1.0 + 0.01 * z[6]),
        }


# class -> (physics, duty mean, duty span): pumps run near duty, machines swing more.
_CLASSES = {
    "centrifugal_pump": (_Pump, 0.82, 0.14),
    "air_compressor": (_Compressor, 0.70, 0.22),
    "cnc_spindle": (_Spindle, 0.70, 0.22),
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

    def step(self, sim_t: float, dt: float, faults_active: Mapping[str, float] | None = None) -> dict[str, float]:
        """State at ``sim_t`` (seconds), ``dt`` seconds after the previous step.

        ``faults_active`` maps fault (or benign event) kind to severity in [0, 1]; an inapplicable
        kind is refused. A process change scales the load; the physics then follow as when healthy.
        """
        faults = dict(faults_active or {})
        for kind, sev in faults.items():
            check_fault(self.asset_class, kind)
            faults[kind] = min(1.0, max(0.0, float(sev)))
        z = self._rng.standard_normal(_N_NOISE)
        shed = 1.0 - PROCESS_CHANGE_DROP * faults.get("process_change", 0.0)
        duty = self._duty(sim_t, max(dt, 0.0), float(z[11])) * shed
        u = min(1.05, max(0.05, duty))
        return self._physics.sample(u, max(dt, 0.0), faults, z)
