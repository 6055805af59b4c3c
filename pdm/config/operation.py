"""Real operation of the simulated plant (``simulation.operation:`` in the plant file): shifts and
weekends, a daily ambient cycle, product changes, sensor drift, stuck or silent sensors, and
maintenance. None of these is a fault; the simulator applies them (``pdm.simulator.operation``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from pdm.config.base import Flag, Real, Slug, _Strict

Hour = Annotated[Real, Field(ge=0, le=24)]
SimMinutes = Annotated[Real, Field(ge=0, le=5_256_000)]  # at most ten years, as the faults


class ShiftsConfig(_Strict):
    """Machines run from ``start_h`` to ``end_h`` (plant time, UTC) and are stopped otherwise."""

    start_h: Hour = 6.0
    end_h: Hour = 22.0
    weekends_off: Flag = True  # stopped all Saturday and Sunday

    @model_validator(mode="after")
    def _end_after_start(self):
        if self.end_h <= self.start_h:
            raise ValueError(f"end_h ({self.end_h:g}) must be after start_h ({self.start_h:g})")
        return self


class ProductsConfig(_Strict):
    """Products made in turn, each for ``hours``; each moves the operating setpoint (speed, pump duty)
    to its share of the nominal one."""

    setpoints: Annotated[list[Annotated[Real, Field(ge=0.3, le=1.2)]], Field(min_length=1, max_length=20)]
    hours: Annotated[Real, Field(gt=0, le=8_760)] = 8.0


class SensorDrift(_Strict):
    """A sensor whose reading drifts by ``per_day`` (in its unit) every simulated day."""

    company: Slug
    asset: Slug
    tag: Slug
    per_day: Annotated[Real, Field(ge=-1e6, le=1e6)]


class SensorFailure(_Strict):
    """A sensor that sticks at its last value or drops out (no value, quality Bad) for a while."""

    company: Slug
    asset: Slug
    tag: Slug
    kind: Literal["stuck", "dropout"]
    start_min: SimMinutes
    end_min: Annotated[SimMinutes, Field(gt=0)]

    @model_validator(mode="after")
    def _end_after_start(self):
        if self.end_min <= self.start_min:
            raise ValueError(f"end_min ({self.end_min:g}) must be after start_min ({self.start_min:g})")
        return self


class Maintenance(_Strict):
    """A planned service at ``at_min``: the vibration level steps down by ``vibration_drop`` (a share)."""

    company: Slug
    asset: Slug
    at_min: SimMinutes
    vibration_drop: Annotated[Real, Field(gt=0, lt=0.9)] = 0.15


class OperationConfig(_Strict):
    shifts: ShiftsConfig | None = None
    # Half the day-night swing of the workshop's air, degC (warmest at 15:00, coldest at 03:00).
    ambient_swing_c: Annotated[Real, Field(ge=0, le=30)] = 0.0
    products: ProductsConfig | None = None
    drift: list[SensorDrift] = []
    sensor_failures: list[SensorFailure] = []
    maintenance: list[Maintenance] = []
