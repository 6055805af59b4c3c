"""The worker: every endpoint polled on its own; ingest workers share the endpoints and take over a dead one's."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pdm.config import DetectionConfig, Settings, parse_plants
from pdm.ingest import leases
from pdm.storage.catalog import apply_plants
from pdm.storage.tables import Endpoint, EndpointHealth, EndpointLease, IngestWorker, Reading, Tag
from tests.helpers.databases import one_database
from tests.helpers.servers import free_port

# Their subprocesses share the working directory's var/ (and the example plant's ports): with
# pytest-xdist they run on one worker, one after the other.
pytestmark = pytest.mark.xdist_group("shared-var")


@one_database
async def test_one_endpoint_down_does_not_stop_the_others(engine, sessions, db_url, opcua_server, tmp_path):
    from pdm.runtime.worker import Worker

    def endpoint(name, url, n):
        return {
            "name": name,
            "endpoint_url": url,
            "poll_interval_s": 0.2,
            "nodes": [{"node_id": opcua_server.node_ids[i], "tag": f"t{i}", "asset": "A-1"} for i in n],
        }

    dead = f"opc.tcp://127.0.0.1:{free_port()}/nothing-here"
    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "acme",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                            "endpoints": [endpoint("live", opcua_server.url, range(0, 10))],
                        }
                    ],
                },
                {
                    "id": "beta",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                            "endpoints": [endpoint("dead", dead, range(10, 20))],
                        }
                    ],
                },
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)

    worker = Worker(
        engine=engine, settings=Settings(database_url=db_url, var_dir=tmp_path), detection=DetectionConfig()
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(2.5)
    stop.set()
    await task

    with sessions() as s:
        states = dict(s.execute(select(Endpoint.name, Endpoint.state)).all())
        stored = s.execute(select(func.count()).select_from(Reading)).scalar_one()
        live_tags = s.execute(
            select(func.count(func.distinct(Reading.tag_id))).join(Tag, Tag.id == Reading.tag_id)
        ).scalar_one()
    assert states == {"live": "UP", "dead": "DOWN"}
    assert stored >= 10 and live_tags == 10


@one_database
async def test_disabled_endpoint_stops_and_a_new_mapping_is_picked_up(engine, sessions, db_url, opcua_server, tmp_path):
    """The engineer page changes the database; the running worker follows it without a restart."""
    from sqlalchemy import update

    from pdm.runtime.worker import Worker

    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "acme",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                            "endpoints": [
                                {
                                    "name": "plc",
                                    "endpoint_url": opcua_server.url,
                                    "poll_interval_s": 0.2,
                                    "nodes": [{"node_id": opcua_server.node_ids[0], "tag": "t0", "asset": "A-1"}],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        endpoint_id, asset_id = s.execute(
            select(Endpoint.id, Tag.asset_id).join(Tag, Tag.endpoint_id == Endpoint.id)
        ).one()
    settings = Settings(database_url=db_url, var_dir=tmp_path, lease_renew_s=600, lease_ttl_s=1200)
    worker = Worker(engine=engine, settings=settings, detection=DetectionConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)
    assert set(worker.pollers[endpoint_id].tags) == {opcua_server.node_ids[0]}

    with sessions.begin() as s:  # a node mapped on the engineer page
        s.add(
            Tag(
                company_id=1,
                asset_id=asset_id,
                endpoint_id=endpoint_id,
                node_id=opcua_server.node_ids[1],
                name="t1",
                unit="",
            )
        )
    await worker.refresh_endpoints()
    assert set(worker.pollers[endpoint_id].tags) == set(opcua_server.node_ids[:2])

    with sessions.begin() as s:  # polling disabled on the engineer page
        s.execute(update(Endpoint).values(enabled=False))
    await worker.refresh_endpoints()
    assert worker.pollers == {} and worker.scheduler.get_job(f"poll:{endpoint_id}") is None
    stop.set()
    await task


FAST = {"lease_ttl_s": 1.5, "lease_renew_s": 0.3}
PLANTS = Path(__file__).resolve().parents[2] / "config" / "plants.example.yaml"


def _share_plant(sessions, server, companies: int, timestamps: str = "source") -> dict[int, list[int]]:
    """``companies`` companies with one endpoint each (two nodes of ``server``); endpoint id → tag ids."""
    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": f"c{i}",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                            "endpoints": [
                                {
                                    "name": "plc",
                                    "endpoint_url": server.url,
                                    "poll_interval_s": 0.2,
                                    "timestamp_source": timestamps,
                                    "nodes": [
                                        {"node_id": server.node_ids[2 * i + k], "tag": f"t{k}", "asset": "A-1"}
                                        for k in range(2)
                                    ],
                                }
                            ],
                        }
                    ],
                }
                for i in range(companies)
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        tags = s.execute(select(Tag.endpoint_id, Tag.id)).all()
    out: dict[int, list[int]] = {}
    for endpoint_id, tag_id in tags:
        out.setdefault(endpoint_id, []).append(tag_id)
    return out


def _holders(sessions) -> dict[int, str]:
    with sessions() as s:
        return leases.holders(s)


async def _until(predicate, timeout: float, what: str, check=lambda: None):
    deadline = time.monotonic() + timeout
    while not predicate():
        check()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@one_database
async def test_two_ingest_workers_split_the_endpoints_and_hand_over_on_stop(
    engine, sessions, db_url, opcua_server, tmp_path
):
    from pdm.runtime.worker import Worker

    endpoints = _share_plant(sessions, opcua_server, 4, timestamps="received")  # every poll stores a row

    def worker(name):
        settings = Settings(database_url=db_url, var_dir=tmp_path / name, **FAST)
        return Worker(engine=engine, settings=settings, detection=DetectionConfig(), role="ingest", worker_id=name)

    a, b = worker("a"), worker("b")

    def disjoint():
        assert not a.pollers.keys() & b.pollers.keys(), "an endpoint polled by two workers at once"

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    await _until(lambda: len(a.pollers) == 4, 10, "the first worker to take every endpoint")
    run_b = asyncio.create_task(b.run(stop_b))
    await _until(lambda: len(a.pollers) == len(b.pollers) == 2, 10, "an even split", disjoint)
    holders = _holders(sessions)
    assert {i for i, w in holders.items() if w == "a"} == a.pollers.keys()
    assert {i for i, w in holders.items() if w == "b"} == b.pollers.keys()
    await asyncio.sleep(1.0)
    with sessions() as s:  # each endpoint's health comes from the worker reading it
        health = {h.endpoint_id: h for h in s.query(EndpointHealth)}
    assert {i: h.worker_id for i, h in health.items()} == holders
    assert all(h.readings_per_s > 0 for h in health.values())

    stop_a.set()
    await run_a
    handed_over = time.time()
    await _until(lambda: len(b.pollers) == 4, 5, "the other worker to take every endpoint back")
    await asyncio.sleep(1.0)
    stop_b.set()
    await run_b
    with sessions() as s:
        latest = dict(s.execute(select(Reading.tag_id, func.max(Reading.received_at)).group_by(Reading.tag_id)).all())
        assert s.query(EndpointLease).count() == 0 and s.query(IngestWorker).count() == 0  # both left cleanly
    assert all(latest[t] > handed_over for tags in endpoints.values() for t in tags)


@one_database
async def test_killed_ingest_worker_is_taken_over_with_no_reading_lost_or_duplicated(
    engine, sessions, db_url, opcua_server, tmp_path
):
    """Values held longer than the lease TTL are all stored exactly once across a SIGKILL hand-over."""
    from asyncua import ua

    from pdm.runtime.worker import Worker

    hold_s = 4.0  # each value stays on the server longer than a take-over takes (TTL + a renewal + connect)
    endpoints = _share_plant(sessions, opcua_server, 2)
    variables = opcua_server.variables[:4]
    written: list[float] = []

    async def write_values():
        n = 0
        while True:
            n += 1
            now = datetime.now(UTC)
            for var in variables:
                await var.write_value(ua.DataValue(ua.Variant(float(n), ua.VariantType.Double), SourceTimestamp=now))
            written.append(now.timestamp())
            await asyncio.sleep(hold_s)

    env = {
        **os.environ,
        "PDM_VAR_DIR": str(tmp_path / "a"),
        "PDM_LEASE_TTL_S": str(FAST["lease_ttl_s"]),
        "PDM_LEASE_RENEW_S": str(FAST["lease_renew_s"]),
    }
    with open(tmp_path / "a.log", "w") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pdm.cli",
                "worker",
                "--role",
                "ingest",
                "--config",
                str(PLANTS),
                "--database",
                db_url,
            ],
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    writer = b_run = None
    stop_b = asyncio.Event()
    try:
        await _until(lambda: len(_holders(sessions)) == 2 or proc.poll() is not None, 60, "the worker to start")
        assert proc.poll() is None, (tmp_path / "a.log").read_text()
        dead = next(iter(_holders(sessions).values()))
        writer = asyncio.create_task(write_values())
        b = Worker(
            engine=engine,
            settings=Settings(database_url=db_url, var_dir=tmp_path / "b", **FAST),
            detection=DetectionConfig(),
            role="ingest",
            worker_id="b",
        )
        b_run = asyncio.create_task(b.run(stop_b))
        await _until(lambda: sorted(_holders(sessions).values()) == sorted([dead, "b"]), 10, "an even split")
        await asyncio.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        await _until(lambda: _holders(sessions) == {e: "b" for e in endpoints}, 10, "the take-over")
        await asyncio.sleep(2 * hold_s)
        writer.cancel()
        await asyncio.sleep(1.0)  # the last value is read and committed
    finally:
        if proc.poll() is None:
            proc.kill()
        if writer:
            writer.cancel()
        stop_b.set()
        if b_run:
            await b_run
    with sessions() as s:
        stored = s.execute(select(Reading.tag_id, Reading.ts).where(Reading.ts >= written[0] - 1e-3)).all()
    for tags in endpoints.values():
        for tag in tags:
            got = sorted(round(ts, 3) for t, ts in stored if t == tag)
            assert got == sorted(round(ts, 3) for ts in written), f"tag {tag}"


@one_database
def test_spools_left_by_dead_workers_on_this_host_are_replayed_once(engine, sessions, db_url, opcua_server, tmp_path):
    """A dead worker's spool is stored by a live one on the same host; a live worker's spool is left alone."""
    import fcntl

    from pdm.ingest.share import LOCK_FILE, EndpointShare
    from pdm.ingest.spool import Spool

    endpoints = _share_plant(sessions, opcua_server, 2)
    (first, tags_1), (_, tags_2) = sorted(endpoints.items())
    root = tmp_path / "spool"

    def spool(folder, tag, n):
        Spool(folder, max_bytes=10**6).append(
            [
                {"tag_id": tag, "ts": float(i), "value": float(i), "quality": 0, "received_at": float(i)}
                for i in range(n)
            ]
        )

    spool(root / "hosta-1-dead" / str(first), tags_1[0], 5)  # a worker that was killed
    spool(root / str(first), tags_1[1], 3)  # the layout before per-worker folders
    spool(root / "hosta-2-live" / str(first), tags_2[0], 4)  # a worker still running here
    spool(root / "hosta-3-me" / str(first), tags_2[1], 2)  # ours, for an endpoint we no longer poll
    (root / "hosta-2-live").mkdir(exist_ok=True)
    live = os.open(root / "hosta-2-live" / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(live, fcntl.LOCK_EX)
    try:
        share = EndpointShare(
            sessions=sessions,
            settings=Settings(database_url=db_url, var_dir=tmp_path),
            worker_id="hosta-3-me",
        )
        assert share.drain_orphan_spools(polling={first}) == 8  # ours is kept while its poller runs
        assert share.drain_orphan_spools() == 2
        assert share.drain_orphan_spools() == 0
    finally:
        os.close(live)
    with sessions() as s:
        counts = dict(s.execute(select(Reading.tag_id, func.count()).group_by(Reading.tag_id)).all())
    assert counts == {tags_1[0]: 5, tags_1[1]: 3, tags_2[1]: 2}
    assert sorted(p.name for p in root.iterdir()) == ["hosta-2-live", "hosta-3-me"]


def test_health_of_an_endpoint_nobody_reads_ages_out(sessions):
    from pdm.ingest.health import endpoint_health, save_health

    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "acme",
                    "sites": [
                        {"id": "s", "endpoints": [{"name": "plc", "endpoint_url": "opc.tcp://127.0.0.1:4840/x"}]}
                    ],
                }
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        save_health(
            s,
            [
                {
                    "endpoint_id": 1,
                    "company_id": 1,
                    "worker_id": "w",
                    "updated_at": 1000.0,
                    "readings_per_s": 50.0,
                    "errors_last_hour": 3,
                    "last_error": "boom",
                    "spool_rows": 9,
                }
            ],
        )
        save_health(
            s,
            [
                {
                    "endpoint_id": 1,
                    "company_id": 1,
                    "worker_id": "w2",
                    "updated_at": 2000.0,
                    "readings_per_s": 40.0,
                    "errors_last_hour": 4,
                    "last_error": "bang",
                    "spool_rows": 8,
                }
            ],
        )
    with sessions() as s:
        fresh = endpoint_health(s, company_id=1, now=2010.0)[0]
        stale = endpoint_health(s, company_id=1, now=2000.0 + 600)[0]
        old = endpoint_health(s, company_id=1, now=2000.0 + 4000)[0]
        assert endpoint_health(s, company_id=2, now=2010.0) == []  # another company sees none of it
    assert (fresh["readings_per_s"], fresh["errors_last_hour"], fresh["spool_rows"], fresh["last_error"]) == (
        40.0,
        4,
        8,
        "bang",
    )
    assert fresh["worker"] == ""  # no live lease: nobody reads it now
    assert (stale["readings_per_s"], stale["errors_last_hour"]) == (0.0, 4)
    assert old["errors_last_hour"] == 0 and old["spool_rows"] == 8  # the spool stays until it is drained


@one_database
async def test_an_endpoint_with_bad_settings_is_reported_and_the_others_still_polled(
    engine, sessions, db_url, opcua_server, tmp_path
):
    from sqlalchemy import update

    from pdm.runtime.worker import Worker

    endpoints = _share_plant(sessions, opcua_server, 2)
    bad = min(endpoints)
    with sessions.begin() as s:  # e.g. written by an older release, before a setting was checked
        settings = s.get(Endpoint, bad).settings
        s.execute(update(Endpoint).where(Endpoint.id == bad).values(settings={**settings, "poll_interval_s": "fast"}))
    worker = Worker(
        engine=engine,
        settings=Settings(database_url=db_url, var_dir=tmp_path, **FAST),
        detection=DetectionConfig(),
        role="ingest",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.5)  # several renewals
    assert set(worker.pollers) == set(endpoints) - {bad}
    with sessions() as s:
        assert leases.holders(s).keys() == set(endpoints)
        state, error = s.execute(select(Endpoint.state, Endpoint.last_error).where(Endpoint.id == bad)).one()
    stop.set()
    await task
    assert state == "ERROR" and "poll_interval_s" in error and "'fast'" in error


async def test_unreachable_database_is_logged_once_and_nothing_stops(tmp_path, caplog):
    """Ingest ticks and the scheduler standby both wait out a database that does not answer."""
    import logging

    from pdm.runtime.worker import Worker
    from pdm.storage.session import make_engine

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    engine = make_engine(url)
    settings = Settings(database_url=url, var_dir=tmp_path, lease_ttl_s=2, lease_renew_s=0.2, leader_retry_s=0.2)
    worker = Worker(engine=engine, settings=settings, detection=DetectionConfig(), role="all", wait=True)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(1.5)
        assert not task.done()
        stop.set()
        await task
    engine.dispose()
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("worker ") and "cannot reach the database: " in m for m in messages) == 1
    assert sum("standby cannot reach the database" in m for m in messages) == 1
    assert any("could not give its endpoints back" in m for m in messages)
    assert not worker.leading and worker.pollers == {}


# Failures of one asset, one class or one job: logged once per reason, the rest goes on.
STEP = 30.0
T0 = 30 * 33_333_333.0
DETECTION = DetectionConfig(
    detector="pca", train_min_rows=60, train_min_span_min=10, smooth_rows=1, debounce_rows=3, silent_period_min=5
)


class Pumps:
    """Company acme's three pumps, with readings written row by row (a slow cycle plus noise)."""

    def __init__(self, sessions, companies=None):
        from pdm.storage.catalog import list_assets, list_companies
        from tests.helpers.plants import plant_dict

        self.sessions = sessions
        companies = companies or {"acme": [(f"P-{i}", "centrifugal_pump") for i in (1, 2, 3)]}
        with sessions.begin() as s:
            apply_plants(s, parse_plants(plant_dict(companies)))
            self.companies = {c.slug: c.id for c in list_companies(s)}
            self.cid = self.companies["acme"]
            self.ids = {a.slug: a.id for c in self.companies.values() for a in list_assets(s, company_id=c)}
            self.company_of = {
                a.id: a.company_id for c in self.companies.values() for a in list_assets(s, company_id=c)
            }

    def write(self, slug: str, first: int, n: int, *, value=None) -> None:
        import numpy as np

        from pdm.storage.catalog import list_tags
        from pdm.storage.readings import insert_readings

        rng = np.random.default_rng(first)
        idx = np.arange(first, first + n)
        with self.sessions.begin() as s:
            rows = []
            asset_id = self.ids[slug]
            for j, tag in enumerate(list_tags(s, company_id=self.company_of[asset_id], asset_id=asset_id)):
                values = 10.0 + j + (1 + 0.2 * j) * np.sin(2 * np.pi * idx * STEP / 2400.0) + rng.normal(0, 0.05, n)
                rows += [
                    {
                        "tag_id": tag.id,
                        "ts": T0 + i * STEP,
                        "value": float(v if value is None else value),
                        "quality": 0,
                        "received_at": 0.0,
                    }
                    for i, v in zip(idx, values)
                ]
            insert_readings(s, rows)

    def scores(self) -> dict[str, int]:
        from pdm.storage.tables import Score

        with self.sessions() as s:
            counts = dict(s.execute(select(Score.asset_id, func.count()).group_by(Score.asset_id)).all())
        return {slug: counts.get(i, 0) for slug, i in self.ids.items()}


def _worker(engine, db_url, tmp_path, **settings):
    from pdm.runtime.worker import Worker

    return Worker(
        engine=engine,
        settings=Settings(database_url=db_url, var_dir=tmp_path, **settings),
        detection=DETECTION,
        role="scheduler",
    )


def _warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and r.levelname == "WARNING"]


def test_an_asset_that_cannot_be_scored_is_logged_once_and_the_others_are_scored(
    engine, sessions, db_url, tmp_path, caplog
):
    import logging

    from sqlalchemy import update

    from pdm.storage.tables import ModelVersion

    pumps = Pumps(sessions)
    worker = _worker(engine, db_url, tmp_path)
    for slug in pumps.ids:
        pumps.write(slug, 0, 200)
    assert worker.train_due() == 3
    with sessions.begin() as s:  # P-2's saved model is damaged
        good = s.execute(select(ModelVersion.envelope).where(ModelVersion.asset_id == pumps.ids["P-2"])).scalar_one()
        s.execute(update(ModelVersion).where(ModelVersion.asset_id == pumps.ids["P-2"]).values(envelope=b"damaged"))
    with caplog.at_level(logging.WARNING):
        for first in (200, 220):  # two cycles, each with new rows for every pump
            for slug in pumps.ids:
                pumps.write(slug, first, 20)
            assert worker.score_all() == 2
            scored = pumps.scores()
            assert scored["P-1"] > 0 and scored["P-3"] > 0 and scored["P-2"] == 0  # P-3 comes after P-2
        failed = _warnings(caplog, "scoring asset acme/P-2")
        assert len(failed) == 1 and "failed: " in failed[0]  # once, not on every cycle
        assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.WARNING)
        with sessions.begin() as s:
            s.execute(update(ModelVersion).where(ModelVersion.asset_id == pumps.ids["P-2"]).values(envelope=good))
        assert worker.score_all() == 3 and worker.score_all() == 3
    assert pumps.scores()["P-2"] > 0
    assert len(_warnings(caplog, "scoring asset acme/P-2")) == 2
    assert "works again" in _warnings(caplog, "scoring asset acme/P-2")[1]


def test_an_asset_that_cannot_be_trained_is_logged_once_and_the_others_are_trained(
    engine, sessions, db_url, tmp_path, caplog
):
    import logging

    from sqlalchemy import delete

    from pdm.storage.tables import ModelVersion

    pumps = Pumps(sessions)
    worker = _worker(engine, db_url, tmp_path)
    for slug in pumps.ids:
        pumps.write(slug, 0, 200)
    pumps.write("P-2", 200, 1, value=float("inf"))  # a sensor sending infinity
    with caplog.at_level(logging.WARNING):
        assert worker.train_due() == 2
        assert worker.train_due() == 0  # P-2 is still due, and still fails: not logged again
        failed = _warnings(caplog, f"training asset acme/P-2 (ids {pumps.cid}/{pumps.ids['P-2']})")
        assert len(failed) == 1 and "failed: " in failed[0]
        with sessions.begin() as s:
            s.execute(delete(Reading).where(Reading.value == float("inf")))
        assert worker.train_due() == 1
    with sessions() as s:
        trained = set(s.execute(select(ModelVersion.asset_id)).scalars())
    assert trained == set(pumps.ids.values())
    assert "works again" in _warnings(caplog, "training asset acme/P-2")[-1]


def test_a_class_whose_fleet_model_cannot_be_trained_does_not_stop_the_next_class(
    engine, sessions, db_url, tmp_path, caplog
):
    import logging

    from sqlalchemy import update

    from pdm.storage.tables import FleetModel, ModelVersion

    pumps = Pumps(
        sessions,
        {
            "acme": [("P-1", "centrifugal_pump"), ("P-2", "centrifugal_pump"), ("C-1", "air_compressor")],
            "beta": [("P-3", "centrifugal_pump"), ("C-2", "air_compressor")],
        },
    )
    worker = _worker(engine, db_url, tmp_path)
    for slug in pumps.ids:
        pumps.write(slug, 0, 200)
    assert worker.train_due() == 5
    with sessions.begin() as s:  # C-1's saved model lost a field the fleet needs
        s.execute(update(ModelVersion).where(ModelVersion.asset_id == pumps.ids["C-1"]).values(metrics={}))
    with caplog.at_level(logging.WARNING):
        assert worker.train_fleets() == 1 and worker.train_fleets() == 1
    with sessions() as s:
        fleets = s.execute(select(FleetModel.asset_class, FleetModel.version)).all()
    assert fleets == [("centrifugal_pump", 1)]  # trained after air_compressor failed, kept the second time
    failed = _warnings(caplog, "fleet model for class air_compressor")
    assert len(failed) == 1 and "KeyError: 'freq_s'" in failed[0]


async def test_worker_of_both_roles_started_while_the_database_is_down_keeps_running(tmp_path, caplog):
    """It cannot know whether another scheduler leads: ingest starts, the scheduler waits like a standby."""
    import logging

    from pdm.runtime.worker import Worker
    from pdm.storage.session import make_engine

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    engine = make_engine(url, pool_pre_ping=False)
    worker = Worker(
        engine=engine,
        settings=Settings(database_url=url, var_dir=tmp_path, leader_retry_s=0.2, **FAST),
        detection=DetectionConfig(),
        role="all",
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING):
        run = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(1.5)
        assert not run.done()  # it used to exit at once with the database error
        stop.set()
        await asyncio.wait_for(run, 30)
    engine.dispose()
    text = caplog.text
    assert "database unreachable at start" in text
    assert "no earlier assignment on this host" in text  # nothing to poll yet: it says so, once
    assert text.count("no earlier assignment") == 1
    assert not worker.leading
