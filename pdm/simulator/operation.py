"""Real operation of a simulated asset (``simulation.operation:``): when it runs, the air around it,
the product it makes, and what its sensors do besides measuring. None of it is a fault.

- Shifts and weekends: outside the shift the machine stops (``Conditions.run`` falls to 0 over a
  short coast-down) and restarts cold; ``pdm.simulator.machines`` lets its temperatures cool
  toward the ambient air and warm up again through their thermal lags.
- A daily ambient cycle (warmest at 15:00 plant time, coldest at 03:00) the temperatures follow.
- Products made in turn, each moving the operating setpoint (spindle speed, pump duty).
- Sensor drift (a calibration that walks), a sensor stuck at its last value, one that drops out
  (no value: NaN here, published with a Bad status), and maintenance that steps the vibration
  level down.

Everything is a function of the simulated time and the plan, with no random draws, so the noise
stream of ``pdm.simulator.physics`` is the same with or without real operation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pdm.config import PlantConfig
from pdm.config.operation import Maintenance, OperationConfig, SensorDrift, SensorFailure
from pdm.errors import ConfigError
from pdm.simulator.machines import RUNNING, Conditions, lag
from pdm.simulator.physics import SENSORS, AssetModel, asset_seed

RUN_TAU_S = 20.0  # coast-down and spin-up of a drive
SETPOINT_TAU_S = 60.0  # a product change ramps the setpoint over a minute or two
_THURSDAY = 3  # 1970-01-01, day 0 of the epoch (Monday is 0)


def running_at(cfg: OperationConfig, epoch_s: float) -> bool:
    """Whether the shift plan has the machines running at this time (UTC seconds)."""
    shifts = cfg.shifts
    if shifts is None:
        return True
    day, second = divmod(epoch_s, 86_400.0)
    if shifts.weekends_off and (int(day) + _THURSDAY) % 7 >= 5:
        return False
    hour = second / 3600.0
    return shifts.start_h <= hour < shifts.end_h


def ambient_offset(cfg: OperationConfig, epoch_s: float) -> float:
    hour = (epoch_s % 86_400.0) / 3600.0
    return cfg.ambient_swing_c * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)


def product_setpoint(cfg: OperationConfig, sim_t: float) -> float:
    if cfg.products is None:
        return 1.0
    turn = int(sim_t // (cfg.products.hours * 3600.0))
    return cfg.products.setpoints[turn % len(cfg.products.setpoints)]


class Operation:
    """The operation plan of one asset, and the state it carries (drive speed, a stuck reading)."""

    def __init__(self, cfg: OperationConfig | None, start_epoch: float, company: str, asset: str):
        self.cfg, self.start = cfg, float(start_epoch)
        cfg = cfg or OperationConfig()
        mine = lambda items: [x for x in items if (x.company, x.asset) == (company, asset)]  # noqa: E731
        self.drift = {d.tag: d.per_day for d in mine(cfg.drift)}
        self.failures = [(f.tag, f.kind, f.start_min * 60.0, f.end_min * 60.0) for f in mine(cfg.sensor_failures)]
        self.services = sorted((m.at_min * 60.0, m.vibration_drop) for m in mine(cfg.maintenance))
        self.run: float | None = None
        self.setpoint: float | None = None
        self.held: dict[str, float] = {}

    def conditions(self, sim_t: float, dt: float) -> Conditions:
        if self.cfg is None:
            return RUNNING
        epoch = self.start + sim_t
        target = 1.0 if running_at(self.cfg, epoch) else 0.0
        self.run = target if self.run is None else lag(self.run, target, dt, RUN_TAU_S)
        if abs(self.run - target) < 1e-3:  # stopped reads exactly zero, as a drive at rest does
            self.run = target
        wanted = product_setpoint(self.cfg, sim_t)
        self.setpoint = wanted if self.setpoint is None else lag(self.setpoint, wanted, dt, SETPOINT_TAU_S)
        return Conditions(self.run, ambient_offset(self.cfg, epoch), self.setpoint)

    def vibration_level(self, sim_t: float) -> float:
        """Vibration relative to after the last planned service: higher before each one."""
        level = 1.0
        for at, drop in self.services:
            if sim_t < at:
                level /= 1.0 - drop
        return level

    def sensors(self, sim_t: float, values: dict[str, float]) -> dict[str, float]:
        if self.cfg is None:
            return values
        out = dict(values)
        if "vibration" in out:
            out["vibration"] *= self.vibration_level(sim_t)
        for tag, per_day in self.drift.items():
            out[tag] += per_day * sim_t / 86_400.0
        for tag, kind, start, end in self.failures:
            if not start <= sim_t < end:
                self.held.pop(tag, None)
            elif kind == "dropout":
                out[tag] = math.nan
            else:
                out[tag] = self.held.setdefault(tag, out[tag])
        return out


class OperatedAsset:
    """An asset model run under its operation plan: ``step`` as ``AssetModel.step``."""

    def __init__(self, model: AssetModel, operation: Operation):
        self.model, self.operation = model, operation
        self.sensors = model.sensors

    def step(self, sim_t: float, dt: float, faults_active: Mapping[str, float] | None = None) -> dict[str, float]:
        conditions = self.operation.conditions(sim_t, max(dt, 0.0))
        return self.operation.sensors(sim_t, self.model.step(sim_t, dt, faults_active, conditions))


def operated_assets(
    classes: dict[tuple[str, str], str], cfg: OperationConfig | None, seed: int, start_epoch: float
) -> dict[tuple[str, str], OperatedAsset]:
    """Fresh models of every simulated asset, each under its plan."""
    return {
        key: OperatedAsset(AssetModel(cls, asset_seed(seed, *key)), Operation(cfg, start_epoch, *key))
        for key, cls in classes.items()
    }


def check_operation(plants: PlantConfig, classes: dict[tuple[str, str], str], source: str) -> None:
    """Each drift, sensor failure and service names a simulated asset and one of its sensors."""
    cfg = plants.simulation.operation
    if cfg is None:
        return
    where = "simulation.operation"
    plans: list[tuple[str, list[SensorDrift | SensorFailure | Maintenance]]] = [
        ("drift", list(cfg.drift)),
        ("sensor_failures", list(cfg.sensor_failures)),
        ("maintenance", list(cfg.maintenance)),
    ]
    for name, items in plans:
        for i, item in enumerate(items):
            cls = classes.get((item.company, item.asset))
            if cls is None:
                shown = f"{item.company}/{item.asset}"
                raise ConfigError(source, f"{where}.{name}[{i}].asset", shown, "no simulated asset with this id")
            tag = getattr(item, "tag", None)
            if tag is not None and tag not in SENSORS[cls]:
                reason = f"not a sensor of {cls}: {', '.join(SENSORS[cls])}"
                raise ConfigError(source, f"{where}.{name}[{i}].tag", tag, reason)
