"""The budget is held on a long healthy simulated run: simulated days of real operation (shifts,
nightly stops and cold restarts, ambient cycle, product changes), replayed through the worker's own
path (``pdm.bench.simulated_month``), open at most the budget of false alerts on a healthy asset, and
an injected fault on the same run is caught."""

from __future__ import annotations

from pdm.bench import simulated_month as sm
from pdm.bench.events import MONTH_S
from pdm.config import parse_plants
from pdm.simulator import SENSORS

DAY_MIN = 1440


def plants() -> dict:
    nodes = [
        {"node_id": f"ns=2;s={a}/{tag}", "tag": tag, "asset": a}
        for a in ("P-1", "P-2")
        for tag in SENSORS["centrifugal_pump"]
    ]
    site = {
        "id": "s",
        "assets": [{"id": a, "asset_class": "centrifugal_pump"} for a in ("P-1", "P-2")],
        "endpoints": [{"name": "plc", "endpoint_url": "opc.tcp://127.0.0.1:48999/p", "nodes": nodes}],
    }
    simulation = {
        "seed": 3,
        "start": "2026-01-05T00:00:00Z",  # a Monday
        "operation": {
            "shifts": {"start_h": 6, "end_h": 22, "weekends_off": True},
            "ambient_swing_c": 4.0,
            "products": {"setpoints": [1.0, 0.85], "hours": 8},
        },
        # Thursday 06:00, ramping over 6 h, repaired Friday 06:00.
        "faults": [
            {
                "company": "acme",
                "asset": "P-2",
                "kind": "bearing_wear",
                "start_min": 3 * DAY_MIN + 360,
                "end_min": 4 * DAY_MIN + 360,
                "ramp_min": 360,
            },
        ],
    }
    return {"companies": [{"id": "acme", "sites": [site]}], "simulation": simulation}


def test_a_healthy_asset_holds_the_budget_and_a_fault_on_the_same_run_is_caught():
    plant = parse_plants(plants(), "plants.yaml")
    healthy, faulty = sm.run(plant, days=5, step_s=120.0, train_days=3, batch_s=6 * 3600.0, workers=1)
    assert (healthy.name, faulty.name) == ("acme/P-1", "acme/P-2")
    budget = plant.detection.false_alerts_per_month
    assert healthy.figures.faults == 0
    # Two scored days of shifts, stops and restarts: the budget allows at most one alert.
    assert healthy.figures.false_alerts <= max(1, round(budget * healthy.figures.normal_s / MONTH_S))
    assert "warm-up" in healthy.model  # the stop was recognised and its restarts measured
    assert faulty.figures.caught == 1 and faulty.figures.lead_times_s[0] < 12 * 3600
