"""Cold start on real parts: a new pump catches a fault on its first day through the fleet model.

Phase 1: the simulated plant serves pumps of two companies over OPC UA; the worker polls them,
trains their own models and, from those, the pumps' fleet model. Phase 2: a third company joins
with two new pumps on its own simulated server; one gets a bearing fault 50 simulated minutes
into its life, long before it has the 120 minutes its own model needs. The worker must alert on
it from the fleet model, and stay quiet on the healthy one while scoring it with the same model.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from pdm.config import Settings, parse_plants
from pdm.models.fleet_scoring import version_label
from pdm.runtime.worker import Worker
from pdm.simulator import SimulatedPlant
from pdm.storage.catalog import apply_plants
from pdm.storage.tables import Alert, Asset, Company, FleetModel, ModelVersion, Score
from tests.helpers.databases import one_database
from tests.helpers.plants import plant_dict

PUMP = "centrifugal_pump"
SPEED = 600.0  # simulated seconds per wall second: a poll every 0.1 s is a reading a minute
FAULT_START_MIN, FAULT_RAMP_MIN = 50, 5


def _configs():
    detection = {
        "resample_s": 60,
        "train_min_rows": 60,
        "train_min_span_min": 120,
        "score_interval_s": 0.5,
        "train_interval_s": 1,
        "fleet": {"baseline_min": 30, "retrain_interval_s": 1},
    }
    whole = plant_dict(
        {"acme": [("P-1", PUMP), ("P-2", PUMP)], "beta": [("P-3", PUMP)], "gamma": [("N-1", PUMP), ("N-2", PUMP)]},
        speed=SPEED,
        poll_interval_s=0.1,
        **detection,
    )
    members = {**whole, "companies": [c for c in whole["companies"] if c["id"] != "gamma"]}
    newcomer = {
        **whole,
        "companies": [c for c in whole["companies"] if c["id"] == "gamma"],
        "simulation": {
            **whole["simulation"],
            "faults": [
                {
                    "company": "gamma",
                    "asset": "N-1",
                    "kind": "bearing_wear",
                    "start_min": FAULT_START_MIN,
                    "end_min": 10_000,
                    "ramp_min": FAULT_RAMP_MIN,
                }
            ],
        },
    }
    return parse_plants(whole), parse_plants(members), parse_plants(newcomer)


async def _until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


@one_database
@pytest.mark.timeout(150)
async def test_new_pump_catches_a_first_day_fault_with_the_fleet_model(engine, sessions, db_url, tmp_path):
    whole, members, newcomer = _configs()
    with sessions.begin() as s:
        apply_plants(s, members)
    worker = Worker(
        engine=engine,
        settings=Settings(database_url=db_url, var_dir=tmp_path, lease_renew_s=0.5),
        detection=whole.detection,
    )
    stop = asyncio.Event()
    first = SimulatedPlant(members)
    await first.start()
    task = asyncio.create_task(worker.run(stop))
    second = None
    try:

        def fleet_model():
            with sessions() as s:
                return s.execute(select(FleetModel.id).where(FleetModel.asset_class == PUMP)).scalar()

        await _until(fleet_model, 60, "the pumps' fleet model")

        second = SimulatedPlant(newcomer)
        await second.start()
        with sessions.begin() as s:
            apply_plants(s, whole)  # the new company's endpoint and pumps: the worker picks them up

        def alert_on_n1():
            with sessions() as s:
                return s.execute(
                    select(Alert.id).join(Asset, Asset.id == Alert.asset_id).where(Asset.slug == "N-1")
                ).scalar()

        await _until(alert_on_n1, 45, "an alert on the new faulty pump")
        # Keep going a while so that a false alarm on the healthy new pump would show.
        healthy_until = second.clock.start + (FAULT_START_MIN + 30) * 60
        await _until(lambda: second.clock.now() >= healthy_until, 30, "the healthy pump's first 80 minutes")
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)
        await first.stop()
        if second is not None:
            await second.stop()

    with sessions() as s:
        gamma = s.execute(select(Company.id).where(Company.slug == "gamma")).scalar_one()
        assets = {a.slug: a for a in s.execute(select(Asset).where(Asset.company_id == gamma)).scalars()}
        n1, n2 = assets["N-1"], assets["N-2"]
        (alert,) = s.execute(select(Alert).where(Alert.asset_id == n1.id)).scalars().all()
        binding = s.get(ModelVersion, alert.model_version_id)
        first_reading = binding.trained_from
        n2_models = set(s.execute(select(Score.model_version_id).where(Score.asset_id == n2.id)).scalars())
        n2_bindings = {
            v.id
            for v in s.execute(
                select(ModelVersion).where(ModelVersion.asset_id == n2.id, ModelVersion.detector == f"fleet:{PUMP}")
            ).scalars()
        }
        assert version_label(s, company_id=gamma, version_id=alert.model_version_id).startswith(f"fleet:{PUMP} v")
        assert not s.execute(select(Alert).where(Alert.asset_id == n2.id)).all()

    fault_start = second.clock.start + FAULT_START_MIN * 60
    assert binding.company_id == gamma and binding.detector == f"fleet:{PUMP}" and not binding.active
    assert fault_start <= alert.opened_at <= fault_start + 20 * 60, (alert.opened_at - fault_start) / 60
    # On its first day, and before its own model could exist (it needs 120 minutes of history); the
    # binding row is only ever used while the asset has no active model of its own.
    assert alert.opened_at - first_reading < 120 * 60
    assert {"vibration", "bearing_temp"} & {x["tag"] for x in alert.sensors}
    assert n2_bindings and n2_models and n2_models <= n2_bindings  # the healthy pump was scored, by the fleet


def test_an_alert_from_the_fleet_model_says_so_on_the_page_and_the_command_line(tmp_path, monkeypatch, capsys):
    """The technician page and ``pdmctl alerts show`` name the model: ``fleet:<class> v<fleet version>``."""
    from sqlalchemy import update

    from pdm.storage.session import make_engine, session_factory
    from tests.helpers.app import app_db
    from tests.helpers.login import logged_in
    from tests.helpers.pdmctl import run_pdmctl

    url = app_db(tmp_path / "pdm.sqlite3")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        company_id, alert_id, version_id = s.execute(select(Alert.company_id, Alert.id, Alert.model_version_id)).one()
        s.execute(
            update(ModelVersion)
            .where(ModelVersion.id == version_id)
            .values(
                detector="fleet:pump",
                active=False,
                metrics={"fleet_model_id": 1, "fleet_version": 3, "freq_s": 10, "smooth_rows": 1},
            )
        )
    engine.dispose()

    app = logged_in(monkeypatch, url, "ana", "technician", "alpha", page="alerts")
    app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not app.exception, app.exception
    assert any("model fleet:pump v3" in m.value for m in app.markdown)

    code, out, _ = run_pdmctl(
        capsys, monkeypatch, "alerts", "show", str(alert_id), "--company", "alpha", "--database", url
    )
    assert code == 0 and "model: fleet:pump v3" in out
