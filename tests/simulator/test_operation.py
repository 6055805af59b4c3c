"""Real operation of the simulated plant: shifts and weekends, ambient cycle, products, drift, stuck
and silent sensors, maintenance; none a fault, all deterministic, the noise stream unchanged."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from asyncua import ua

from pdm.config import parse_plants
from pdm.config.operation import OperationConfig
from pdm.errors import ConfigError
from pdm.simulator import SENSORS, SimulatedPlant
from pdm.simulator.opcua_host import publish
from pdm.simulator.operation import OperatedAsset, Operation, running_at
from pdm.simulator.physics import AssetModel

MONDAY = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
DT = 60.0
HOUR, DAY = 3600.0, 86_400.0
KEY = ("acme", "P-1")


def run(cls: str, cfg: dict | None, hours: float, *, seed: int = 3, start: float = MONDAY) -> tuple[np.ndarray, dict]:
    """Times (s from start) and one array per sensor, a row every minute."""
    op = OperationConfig.model_validate(cfg) if cfg is not None else None
    asset = OperatedAsset(AssetModel(cls, seed), Operation(op, start, *KEY))
    t = np.arange(int(hours * HOUR / DT)) * DT
    rows = [asset.step(float(ti), DT if i else 0.0) for i, ti in enumerate(t)]
    return t, {s: np.array([r[s] for r in rows]) for s in asset.sensors}


SHIFTS = {"shifts": {"start_h": 6, "end_h": 22}}


def test_the_shift_plan_stops_nights_and_weekends():
    assert running_at(OperationConfig.model_validate(SHIFTS), MONDAY + 10 * HOUR)
    assert not running_at(OperationConfig.model_validate(SHIFTS), MONDAY + 23 * HOUR)
    assert not running_at(OperationConfig.model_validate(SHIFTS), MONDAY + 5 * DAY + 10 * HOUR)  # Saturday
    assert running_at(OperationConfig.model_validate(SHIFTS), MONDAY + 7 * DAY + 10 * HOUR)


def test_a_weekend_stop_brings_current_to_zero_and_temperatures_to_ambient():
    # From Friday 08:00: the rest of the Friday shift, then Saturday's would-be shift hours.
    t, v = run("centrifugal_pump", SHIFTS, 30, start=MONDAY + 4 * DAY + 8 * HOUR)
    shift = (t >= 1 * HOUR) & (t < 14 * HOUR)
    weekend = (t >= 22 * HOUR) & (t < 30 * HOUR)
    assert v["motor_current"][shift].min() > 10 and v["flow"][shift].min() > 50
    assert np.abs(v["motor_current"][weekend]).max() < 1e-6 and np.abs(v["flow"][weekend]).max() < 1e-6
    assert v["vibration"][weekend].max() < 0.1 < v["vibration"][shift].min()
    ambient = AssetModel("centrifugal_pump", 3)._physics.t_amb
    for tag in ("motor_temp", "bearing_temp"):
        assert v[tag][shift].mean() > ambient + 15
        assert abs(np.median(v[tag][weekend]) - ambient) < 0.5


def test_a_restart_warms_up_with_thermal_lag():
    t, v = run("centrifugal_pump", SHIFTS, 12)  # Monday 00:00 to 12:00: cold, restart at 06:00
    start = int(6 * HOUR / DT)
    hot = np.median(v["bearing_temp"][start + 120 : start + 360])
    cold = v["bearing_temp"][start - 1]
    after = lambda minutes: v["bearing_temp"][start + minutes]  # noqa: E731
    # Current is back within a minute, the bearing takes its time (tau 6 min): a lag, not a step.
    assert v["motor_current"][start + 1] > 0.6 * np.median(v["motor_current"][start + 120 : start + 360])
    assert cold + 0.3 * (hot - cold) < after(3) < cold + 0.7 * (hot - cold)
    assert after(5) < after(10) < after(20)
    assert abs(after(40) - hot) < 0.15 * (hot - cold)


def test_temperatures_follow_the_daily_ambient_cycle():
    t, v = run("centrifugal_pump", {"ambient_swing_c": 4.0}, 24)
    at = lambda h: v["bearing_temp"][int(h * HOUR / DT)]  # noqa: E731
    flat_t, flat = run("centrifugal_pump", None, 24)
    warmer = lambda h: at(h) - flat["bearing_temp"][int(h * HOUR / DT)]  # noqa: E731
    assert 3.0 < warmer(15.5) < 4.5 and -4.5 < warmer(3.5) < -3.0


def test_a_product_change_moves_the_setpoint():
    t, v = run("cnc_spindle", {"products": {"setpoints": [1.0, 0.8], "hours": 4}}, 8)
    first, second = v["spindle_speed"][(t > 0.5 * HOUR) & (t < 4 * HOUR)], v["spindle_speed"][t > 4.5 * HOUR]
    assert 0.75 < second.mean() / first.mean() < 0.85


def test_drift_stuck_and_dropout_sensors():
    plan = {
        "drift": [{"company": "acme", "asset": "P-1", "tag": "suction_pressure", "per_day": 0.1}],
        "sensor_failures": [
            {"company": "acme", "asset": "P-1", "tag": "vibration", "kind": "stuck", "start_min": 60, "end_min": 120},
            {"company": "acme", "asset": "P-1", "tag": "flow", "kind": "dropout", "start_min": 150, "end_min": 180},
            {
                "company": "other",
                "asset": "P-1",
                "tag": "motor_temp",
                "kind": "dropout",
                "start_min": 0,
                "end_min": 999,
            },
        ],
    }
    t, v = run("centrifugal_pump", plan, 6)
    _, flat = run("centrifugal_pump", None, 6)
    offset = v["suction_pressure"] - flat["suction_pressure"]
    assert offset[0] == 0 and abs(offset[-1] - 0.1 * t[-1] / DAY) < 1e-9
    stuck = (t >= 3600) & (t < 7200)
    assert np.ptp(v["vibration"][stuck]) == 0 and np.ptp(v["vibration"][t >= 7200][:30]) > 0
    assert np.isnan(v["flow"][(t >= 9000) & (t < 10800)]).all() and not np.isnan(v["flow"][t >= 10800]).any()
    assert not np.isnan(v["motor_temp"]).any()  # another company's asset of the same id


def test_maintenance_steps_the_vibration_level_down():
    plan = {"maintenance": [{"company": "acme", "asset": "P-1", "at_min": 120, "vibration_drop": 0.2}]}
    t, v = run("centrifugal_pump", plan, 4)
    _, flat = run("centrifugal_pump", None, 4)
    ratio = v["vibration"] / flat["vibration"]
    assert np.allclose(ratio[t < 7200], 1 / 0.8) and np.allclose(ratio[t >= 7200], 1.0)


FULL = {
    **SHIFTS,
    "ambient_swing_c": 3.0,
    "products": {"setpoints": [1.0, 0.9]},
    "maintenance": [{"company": "acme", "asset": "P-1", "at_min": 100}],
}


@pytest.mark.parametrize("cls", sorted(SENSORS))
def test_same_seed_same_stream_and_the_noise_draws_do_not_depend_on_operation(cls):
    _, a = run(cls, FULL, 8)
    _, b = run(cls, FULL, 8)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    plain, operated = (
        AssetModel(cls, 5),
        OperatedAsset(AssetModel(cls, 5), Operation(OperationConfig.model_validate(FULL), MONDAY, *KEY)),
    )
    for i in range(200):
        plain.step(i * DT, DT)
        operated.step(i * DT, DT)
    assert plain._rng.bit_generator.state == operated.model._rng.bit_generator.state


def test_without_an_operation_plan_the_plant_is_as_before():
    _, a = run("air_compressor", None, 2)
    model = AssetModel("air_compressor", 3)
    b = [model.step(i * DT, DT if i else 0.0) for i in range(120)]
    assert all(np.array_equal(a[s], [r[s] for r in b]) for s in a)


class _Server:
    def __init__(self):
        self.written = []

    async def write_attribute_value(self, nodeid, value):
        self.written.append(value)


def test_a_dropped_out_sensor_is_published_bad():
    class Ep:
        server = _Server()
        writes = [("n1", KEY, "flow"), ("n2", KEY, "vibration")]

    asyncio.run(publish([Ep], {KEY: {"flow": math.nan, "vibration": 1.2}}, datetime.now(UTC)))
    flow, vib = Ep.server.written
    assert flow.StatusCode.value == ua.StatusCodes.BadNoCommunication and vib.StatusCode.is_good()


def plant(operation: dict) -> dict:
    nodes = [{"node_id": f"ns=2;s=P-1/{tag}", "tag": tag, "asset": "P-1"} for tag in SENSORS["centrifugal_pump"]]
    site = {
        "id": "s",
        "assets": [{"id": "P-1", "asset_class": "centrifugal_pump"}],
        "endpoints": [{"name": "plc", "endpoint_url": "opc.tcp://127.0.0.1:48999/p", "nodes": nodes}],
    }
    return {"companies": [{"id": "acme", "sites": [site]}], "simulation": {"operation": operation}}


FAILURE = {"company": "acme", "asset": "P-1", "tag": "flow", "kind": "stuck", "start_min": 10, "end_min": 20}


@pytest.mark.parametrize(
    ("operation", "field", "value"),
    [
        ({"shifts": {"start_h": 22, "end_h": 6}}, "simulation.operation.shifts", None),
        ({"shifts": {"start_h": 25}}, "simulation.operation.shifts.start_h", 25),
        ({"ambient_swing_c": -1.0}, "simulation.operation.ambient_swing_c", -1.0),
        ({"products": {"setpoints": [1.0, 5.0]}}, "simulation.operation.products.setpoints[1]", 5.0),
        ({"products": {"setpoints": []}}, "simulation.operation.products.setpoints", []),
        (
            {"sensor_failures": [{**FAILURE, "kind": "melted"}]},
            "simulation.operation.sensor_failures[0].kind",
            "melted",
        ),
        ({"sensor_failures": [{**FAILURE, "end_min": 5}]}, "simulation.operation.sensor_failures[0]", None),
        (
            {"maintenance": [{"company": "acme", "asset": "P-1", "at_min": 5, "vibration_drop": 1.5}]},
            "simulation.operation.maintenance[0].vibration_drop",
            1.5,
        ),
        ({"shift": {}}, "simulation.operation.shift", None),
    ],
)
def test_bad_operation_values_are_refused_naming_the_field(operation, field, value):
    with pytest.raises(ConfigError) as err:
        parse_plants(plant(operation), "plants.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("plants.yaml: ")
    assert err.value.field == field, str(err.value)
    if value is not None:
        assert err.value.value == value


@pytest.mark.parametrize(
    ("operation", "field", "value"),
    [
        ({"sensor_failures": [{**FAILURE, "tag": "speed"}]}, "simulation.operation.sensor_failures[0].tag", "speed"),
        (
            {"drift": [{"company": "acme", "asset": "P-9", "tag": "flow", "per_day": 1.0}]},
            "simulation.operation.drift[0].asset",
            "acme/P-9",
        ),
    ],
)
def test_an_operation_plan_naming_no_simulated_sensor_is_refused(operation, field, value):
    with pytest.raises(ConfigError) as err:
        SimulatedPlant(parse_plants(plant(operation), "plants.yaml"), source="plants.yaml")
    assert err.value.field == field and err.value.value == value, str(err.value)
