"""One scheduler per database: the leader lock on SQLite (file lock) and PostgreSQL (advisory lock)."""

import asyncio
import subprocess
import sys

import pytest

from pdm.config import DetectionConfig, Settings
from pdm.errors import SchedulerBusy
from pdm.scheduler import LeaderLock
from pdm.storage.session import make_engine
from pdm.worker import Worker


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
    code = (f"import os, signal; from pdm.scheduler import LeaderLock; from pdm.storage.session import make_engine;"
            f"assert LeaderLock(make_engine({db_url!r})).acquire(); print('held', flush=True);"
            f"os.kill(os.getpid(), signal.SIGKILL)")
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
        proc = subprocess.run([sys.executable, "-m", "pdm.cli", "worker", "--database", sqlite_url],
                              capture_output=True, text=True, timeout=60)
    finally:
        lock.release()
    assert proc.returncode == 1
    assert "another scheduler is already running" in proc.stderr and "Traceback" not in proc.stderr
