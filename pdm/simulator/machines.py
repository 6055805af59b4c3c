"""The physics of each simulated asset class: sensors from the operating load, the faults and the
conditions it runs in (running or stopped, the workshop's air temperature). Pure numpy, no I/O.

``Conditions.run`` is 1 while the machine runs and 0 when it is stopped (in between while it
coasts down or spins up): a stopped machine moves nothing and draws no current, and each
temperature's target falls to the ambient air, so a stopped machine cools down and a restarted
one warms up through the same thermal lags as when its load changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

_SQRT3_400_PF = math.sqrt(3) * 400.0 * 0.86  # 400 V three-phase motor, power factor 0.86


@dataclass(frozen=True)
class Conditions:
    """How the asset is operated at one step (``pdm.simulator.operation`` sets them)."""

    run: float = 1.0  # 1 running, 0 stopped
    ambient: float = 0.0  # degC above the asset's nominal ambient (the daily cycle)
    setpoint: float = 1.0  # share of the nominal operating point (the product being made)


RUNNING = Conditions()


def lag(state: float, target: float, dt: float, tau: float) -> float:
    """Exact first-order lag: stable for any dt, so a fast simulation stays physical."""
    return target + (state - target) * math.exp(-dt / tau)


def _still(vib: float, run: float, z: float) -> float:
    # A stopped machine's vibration probe still reads its background (floor and cabling noise).
    return max(vib * run, 0.04 + 0.01 * abs(z))


class Pump:
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

    def sample(
        self, n: float, dt: float, f: Mapping[str, float], z: np.ndarray, c: Conditions = RUNNING
    ) -> dict[str, float]:
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
        current = (self.i_noload + p_shaft / 0.93 * 1e3 / _SQRT3_400_PF) * c.run
        q, h = q * c.run, h * c.run * c.run  # stopped: no flow, only the tank's static pressure
        # Cavitation is what a starved suction looks like: a throttled inlet or a low tank.
        suction = self.p_tank - 0.25 * (q / self.q_bep) ** 2 - 0.9 * cav * c.run
        discharge = suction + 0.0981 * h
        vib = (0.8 + 1.4 * n) * (1.0 + 2.0 * bw) + 3.5 * imb * n * n + cav * (1.5 + 0.8 * abs(z[8]))
        vib = _still(vib * (1.0 + (0.04 + 0.15 * bw + 0.2 * cav) * z[2]), c.run, z[10])
        load = current / self.i_rated
        t_amb = self.t_amb + c.ambient
        tgt_motor = t_amb + (48.0 * load**2 + 25.0 * f.get("cooling_failure", 0.0)) * c.run
        tgt_bearing = t_amb + (8.0 + 14.0 * n + 10.0 * load + 12.0 * bw + 3.0 * imb) * c.run
        if self.temps is None:
            self.temps = (tgt_bearing, tgt_motor)
        bearing = lag(self.temps[0], tgt_bearing, dt, 360.0)
        motor = lag(self.temps[1], tgt_motor, dt, 240.0)
        self.temps = (bearing, motor)
        return {
            "flow": q * (1.0 + 0.006 * z[0]),
            "discharge_pressure": discharge + (0.01 + 0.12 * cav) * z[1],
            "suction_pressure": suction + (0.008 + 0.05 * cav) * z[3],
            "motor_current": current * (1.0 + 0.005 * z[4]),
            "vibration": vib,
            "bearing_temp": bearing + 0.1 * z[5],
            "motor_temp": motor + 0.1 * z[9],
        }


class Compressor:
    """Oil-injected screw compressor on a variable-speed drive feeding a plant air network."""

    def __init__(self, rng: np.random.Generator):
        self.fad_rated = 10.0 * rng.uniform(0.9, 1.1)  # m3/min free air delivery at full speed
        self.p_set = rng.uniform(7.2, 7.8)  # bar(g)
        self.i_noload, self.i_rated = 25.0, 100.0
        self.t_amb = rng.uniform(18.0, 28.0)
        self.temps: tuple[float, float] | None = None

    def sample(
        self, u: float, dt: float, f: Mapping[str, float], z: np.ndarray, c: Conditions = RUNNING
    ) -> dict[str, float]:
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
        vib = _still(vib * (1.0 + (0.04 + 0.15 * bw) * z[2]), c.run, z[10])
        # The oil cooler carries the compression heat; a failed fan or fouled cooler lets it rise.
        t_amb = self.t_amb + c.ambient
        tgt_oil = t_amb + (45.0 + 18.0 * power + 22.0 * cool + 6.0 * bw) * c.run
        if self.temps is None:
            self.temps = (tgt_oil, tgt_oil + (8.0 + 6.0 * power) * c.run)
        oil = lag(self.temps[0], tgt_oil, dt, 200.0)
        tgt_disc = oil + (8.0 + 6.0 * power + 60.0 * (1.0 / p_in - 1.0) + 6.0 * cool) * c.run
        disc = lag(self.temps[1], tgt_disc, dt, 60.0)
        self.temps = (oil, disc)
        # Stopped, the unloading valve vents the separator: no flow, no pressure at the outlet.
        return {
            "load": 100.0 * speed * c.run * (1.0 + 0.003 * z[0]),
            "discharge_pressure": pressure * c.run + 0.015 * z[1],
            "airflow": airflow * c.run * (1.0 + 0.006 * z[3]),
            "motor_current": current * c.run * (1.0 + 0.005 * z[4]),
            "oil_temp": oil + 0.1 * z[5],
            "discharge_temp": disc + 0.15 * z[6],
            "vibration": vib,
        }


class Spindle:
    """Motor spindle of a machining centre with a chilled coolant loop through its jacket."""

    def __init__(self, rng: np.random.Generator):
        self.n_max = 12000.0
        self.flow_rated = 18.0 * rng.uniform(0.9, 1.1)  # l/min
        self.t_chiller = rng.uniform(19.0, 22.0)
        self.i_noload, self.i_rated = 4.0, 28.0
        self.temps: tuple[float, float] | None = None

    def sample(
        self, u: float, dt: float, f: Mapping[str, float], z: np.ndarray, c: Conditions = RUNNING
    ) -> dict[str, float]:
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
        # The chiller holds the coolant while the machine runs (a little of the day's heat gets
        # through); stopped, chiller and pump are off and the loop settles to the workshop's air.
        running = self.t_chiller + 3.0 * heat + 14.0 * cool + 0.2 * c.ambient
        tgt_coolant = running * c.run + (self.t_chiller + 1.5 + c.ambient) * (1.0 - c.run)
        if self.temps is None:
            self.temps = (tgt_coolant, tgt_coolant + 14.0 * rise * c.run)
        coolant = lag(self.temps[0], tgt_coolant, dt, 480.0)
        tgt_spindle = coolant + (14.0 * rise + 6.0 * bw + 2.0 * imb) * c.run
        spindle = lag(self.temps[1], tgt_spindle, dt, 240.0)
        self.temps = (coolant, spindle)
        vib = (0.5 + 1.5 * rel) * (1.0 + 2.0 * bw) + 3.0 * imb * rel**2
        vib = _still(vib * (1.0 + (0.04 + 0.15 * bw) * z[2]), c.run, z[10])
        return {
            "spindle_speed": speed * c.run + 4.0 * z[0] * c.run,
            "spindle_load": load * c.run * (1.0 + 0.008 * z[1]),
            "motor_current": current * c.run * (1.0 + 0.006 * z[3]),
            "vibration": vib,
            "spindle_temp": spindle + 0.1 * z[4],
            "coolant_temp": coolant + 0.05 * z[5],
            "coolant_flow": flow * c.run * (1.0 + 0.01 * z[6]),
        }
