"""One scheduler per database: the leader lock on SQLite (file lock) and PostgreSQL (advisory lock)."""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdm.config import DetectionConfig, Settings
from pdm.errors import SchedulerBusy
from pdm.runtime.scheduler import LeaderLock
from pdm.runtime.worker import Worker
from pdm.storage.session import make_engine

# Their subprocesses share the working directory's var/ (and the example plant's ports): with
# pytest-xdist they run on one worker, one after the other.
pytestmark = pytest.mark.xdist_group("shared-var")


def test_second_lock_is_refused_until_the_first_is_released(db_url):
    first, second = LeaderLock(make_engine(db_url)), LeaderLock(make_engine(db_url))
    assert first.acquire()
    assert not second.acquire()
    with pytest.raises(SchedulerBusy, match="another scheduler"):
        second.require()
    first.release()
    assert second.acquire()
    second.release()


def test_lock_held_by_a_dead_process_is_free(db_url, tmp_path):
    """A killed scheduler must not block the database forever."""
    code = (
        f"import os, signal; from pdm.runtime.scheduler import LeaderLock; from pdm.storage.session import make_engine;"
        f"assert LeaderLock(make_engine({db_url!r})).acquire(); print('held', flush=True);"
        f"os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "held" in proc.stdout
    lock = LeaderLock(make_engine(db_url))
    assert lock.acquire()
    lock.release()


async def test_second_worker_on_the_same_database_exits_with_a_clear_message(engine, db_url, tmp_path):
    settings = Settings(database_url=db_url, var_dir=tmp_path)
    first = Worker(engine=engine, settings=settings, detection=DetectionConfig())
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await asyncio.sleep(0.5)
    second = Worker(engine=make_engine(db_url), settings=settings, detection=DetectionConfig())
    with pytest.raises(SchedulerBusy):
        await second.run(asyncio.Event())
    stop.set()
    await running


def test_cli_worker_refuses_to_start_beside_a_running_one(sqlite_url, tmp_path):
    from pdm.storage.session import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    lock = LeaderLock(engine)
    assert lock.acquire()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pdm.cli", "worker", "--database", sqlite_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        lock.release()
    assert proc.returncode == 1
    assert "another scheduler is already running" in proc.stderr and "Traceback" not in proc.stderr


PLANTS = Path(__file__).resolve().parents[2] / "config" / "plants.example.yaml"


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_standby_scheduler_takes_over_when_the_leader_is_killed(engine, db_url, tmp_path):
    env = {**os.environ, "PDM_LEADER_RETRY_S": "0.3", "PDM_VAR_DIR": str(tmp_path / "var")}
    logs = [tmp_path / f"scheduler{i}.log" for i in range(2)]
    procs = []
    for log_path in logs:
        with open(log_path, "w") as fh:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pdm.cli",
                        "worker",
                        "--role",
                        "scheduler",
                        "--wait",
                        "--config",
                        str(PLANTS),
                        "--database",
                        db_url,
                    ],
                    env=env,
                    stdout=fh,
                    stderr=fh,
                )
            )
    try:

        def said(i, text):
            return text in logs[i].read_text()

        _wait_for(
            lambda: (
                any(said(i, "scheduler leader") for i in range(2))
                and any(said(i, "scheduler standby") for i in range(2))
            ),
            60,
            "a leader and a standby",
        )
        leader = 0 if said(0, "scheduler leader") else 1
        standby = 1 - leader
        assert not said(standby, "scheduler leader")
        assert not LeaderLock(make_engine(db_url)).acquire()  # the leader really holds the lock
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        _wait_for(lambda: said(standby, "scheduler leader"), 20, "the standby to take over")
        assert procs[standby].poll() is None and "Traceback" not in logs[standby].read_text()
        procs[standby].send_signal(signal.SIGTERM)
        assert procs[standby].wait(60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    lock = LeaderLock(make_engine(db_url))
    assert lock.acquire()  # a clean stop gives the lock back
    lock.release()


async def test_ingest_role_runs_beside_a_leader_and_scheduler_role_reads_nothing(engine, db_url, tmp_path):
    settings = Settings(database_url=db_url, var_dir=tmp_path, lease_ttl_s=2, lease_renew_s=0.2)
    lock = LeaderLock(make_engine(db_url))
    assert lock.acquire()
    try:
        ingest = Worker(engine=engine, settings=settings, detection=DetectionConfig(), role="ingest")
        stop = asyncio.Event()
        running = asyncio.create_task(ingest.run(stop))
        await asyncio.sleep(0.5)
        assert not running.done() and ingest.scheduler.get_job("refresh") and not ingest.scheduler.get_job("score")
        stop.set()
        await running
    finally:
        lock.release()
    scheduler = Worker(engine=engine, settings=settings, detection=DetectionConfig(), role="scheduler")
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(0.5)
    assert scheduler.leading and scheduler.share is None and scheduler.scheduler.get_job("score")
    assert not scheduler.scheduler.get_job("refresh")
    stop.set()
    await running


def test_worker_refuses_an_unknown_role(engine, db_url, tmp_path):
    with pytest.raises(ValueError, match="role must be one of ingest, scheduler, all, not 'ingestion'"):
        Worker(
            engine=engine,
            settings=Settings(database_url=db_url, var_dir=tmp_path),
            detection=DetectionConfig(),
            role="ingestion",
        )
    proc = subprocess.run(
        [sys.executable, "-m", "pdm.cli", "worker", "--role", "ingestion", "--database", db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--role" in proc.stderr and "Traceback" not in proc.stderr


def test_lease_settings_are_checked_at_load(tmp_path):
    from pdm.config import load_settings
    from pdm.errors import ConfigError

    with pytest.raises(ConfigError, match="lease_renew_s = '20'.*shorter than lease_ttl_s"):
        load_settings(env={"PDM_LEASE_TTL_S": "15", "PDM_LEASE_RENEW_S": "20"})
    with pytest.raises(ConfigError, match="lease_ttl_s = '-1'"):
        load_settings(env={"PDM_LEASE_TTL_S": "-1"})


async def test_leader_whose_connection_drops_steps_down_then_leads_again(postgres_url, tmp_path, caplog):
    """On PostgreSQL the lock lives with one connection: when the server ends it, the leader must stop leading."""
    from pdm.storage.session import upgrade

    engine = make_engine(postgres_url)
    upgrade(engine)
    settings = Settings(database_url=postgres_url, var_dir=tmp_path, leader_retry_s=0.2)
    worker = Worker(engine=engine, settings=settings, detection=DetectionConfig(), role="scheduler")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.5)
        assert worker.leading
        _end_the_lock_connection(engine)
        for _ in range(50):
            await asyncio.sleep(0.1)
            if "leader lock lost" in caplog.text and worker.leading:
                break
        assert "leader lock lost" in caplog.text  # it noticed and stepped down...
        assert worker.leading and worker.scheduler.get_job("score")  # ...and, the lock being free, leads again
        assert not LeaderLock(make_engine(postgres_url)).acquire()
    finally:
        stop.set()
        await running
        engine.dispose()


def _end_the_lock_connection(engine) -> None:
    """Have the server end the connection holding this schema's leader lock, and only that one."""
    from sqlalchemy import text

    from pdm.runtime.scheduler import LOCK_KEY

    with engine.begin() as conn:
        key = conn.execute(text(f"SELECT {LOCK_KEY}")).scalar_one()
        pids = (
            conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                    "objsubid = 1 AND objid = CAST(CAST(:low AS bigint) AS oid)"
                ),
                {"low": key & 0xFFFFFFFF},
            )
            .scalars()
            .all()
        )
        assert len(pids) == 1
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})


@pytest.mark.parametrize("job, step", [("score_all", "score_asset"), ("train_due", "train_job")])
async def test_a_job_under_way_stops_at_the_next_asset_when_leadership_is_lost(
    postgres_url, tmp_path, monkeypatch, caplog, job, step
):
    """Else the standby that now leads could score or train the same assets at the same time."""
    import pdm.models.fanout as fanout_module
    import pdm.runtime.worker as worker_module
    from pdm.config import parse_plants
    from pdm.storage.catalog import apply_plants
    from pdm.storage.session import session_factory, upgrade
    from tests.helpers.plants import plant_dict

    engine = make_engine(postgres_url)
    upgrade(engine)
    with session_factory(engine).begin() as s:  # three pumps, none trained yet: all three are due
        apply_plants(s, parse_plants(plant_dict({"acme": [(f"P-{i}", "centrifugal_pump") for i in (1, 2, 3)]})))
    settings = Settings(database_url=postgres_url, var_dir=tmp_path, leader_retry_s=0.2)
    worker = Worker(engine=engine, settings=settings, detection=DetectionConfig(executor="serial"), role="scheduler")
    steps = []
    module = worker_module if step == "score_asset" else fanout_module
    real_step = getattr(module, step)

    def step_that_loses_the_lock(*args, **kwargs):  # the real step; the lock's connection drops during the first
        first = not steps
        steps.append(args[2] if step == "train_job" else kwargs["asset_id"])  # the asset it goes over
        if first:
            _end_the_lock_connection(engine)
            _wait_for(lambda: "leader lock lost" in caplog.text, 10, "the leader to notice")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, step, step_that_loses_the_lock)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.3)
        assert worker.leading
        await asyncio.to_thread(getattr(worker, job))
        assert len(steps) == 1  # P-2 and P-3 left alone
        for _ in range(50):
            if worker.leading:
                break
            await asyncio.sleep(0.1)
        assert worker.leading  # leading again (the lock was free): the next run goes over every asset
        await asyncio.to_thread(getattr(worker, job))
        assert len(steps) == 4
    finally:
        stop.set()
        await running
        engine.dispose()


async def test_skipped_polls_are_not_warned_about_but_other_skipped_jobs_are(caplog):
    from pdm.runtime.scheduler import make_scheduler

    async def slow():
        await asyncio.sleep(0.6)

    scheduler = make_scheduler()
    for job_id in ("poll:1", "train"):
        scheduler.add_job(slow, "interval", seconds=0.2, id=job_id, name=job_id)
    with caplog.at_level(logging.WARNING, logger="apscheduler"):
        scheduler.start()
        await asyncio.sleep(1.5)
        scheduler.shutdown(wait=False)
    skipped = [r.getMessage() for r in caplog.records if "maximum number of running instances" in r.getMessage()]
    assert any('"train' in m for m in skipped), skipped
    assert not any('"poll:1' in m for m in skipped), skipped
