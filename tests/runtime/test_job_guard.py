"""The worker's jobs under APScheduler: a failing job is one line (and its recovery one more); a stop
waits for jobs in threads, cancels the rest, and prints no traceback."""

import asyncio
import logging
import threading
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from pdm.config import RetentionConfig
from pdm.runtime.job_guard import FailureLog, GuardedJobs, reason_of
from pdm.storage.retention import maintain
from pdm.storage.session import make_engine, upgrade
from tests.helpers.servers import free_port


async def _until(predicate, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_job_failing_while_the_database_is_away_is_one_line_and_its_recovery_another(sqlite_url, caplog):
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2")
    live = make_engine(sqlite_url)
    upgrade(live)
    target = {"engine": dead}
    runs = []

    def retention() -> None:
        runs.append(target["engine"])
        maintain(target["engine"], RetentionConfig())

    scheduler = AsyncIOScheduler()
    jobs = GuardedJobs(scheduler)
    scheduler.start()
    with caplog.at_level(logging.DEBUG, logger="pdm.runtime.job_guard"):
        jobs.add(retention, "interval", seconds=0.05, id="retention")
        await _until(lambda: runs.count(dead) >= 3, "three failed runs")
        target["engine"] = live  # the database is back
        await _until(lambda: runs.count(live) >= 2, "two runs on the database that is back")
        await jobs.stop(coroutines_s=1, threads_s=10)
    dead.dispose()
    live.dispose()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(" (")[0].split(":")[0] for r in warnings] == [
        "job retention failed",
        "job retention works again",
    ]
    assert "OperationalError" in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()
    assert not any(r.exc_info for r in warnings) and not any(r.name.startswith("apscheduler") for r in warnings)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert debug and debug[0].getMessage() == "job retention failed"  # the traceback, for whoever asks for it


async def test_stop_waits_for_a_job_in_a_thread_and_cancels_a_coroutine_quietly(caplog):
    finished = threading.Event()
    started = {"thread": threading.Event(), "coroutine": asyncio.Event()}

    def train() -> None:  # a job in a thread cannot be cancelled: the stop waits for it
        started["thread"].set()
        threading.Event().wait(0.5)
        finished.set()

    async def poll() -> None:  # a poll stuck on a slow endpoint
        started["coroutine"].set()
        await asyncio.sleep(60)

    scheduler = AsyncIOScheduler()
    jobs = GuardedJobs(scheduler)
    scheduler.start()
    with caplog.at_level(logging.DEBUG):
        jobs.add(train, "interval", seconds=60, id="train", next_run_time=_now())
        jobs.add(poll, "interval", seconds=60, id="poll:1", next_run_time=_now())
        await _until(lambda: started["thread"].is_set() and started["coroutine"].is_set(), "both jobs to start")
        await jobs.stop(coroutines_s=0.1, threads_s=10)
        await asyncio.sleep(0.1)  # the cancelled job's callbacks run
    assert finished.is_set() and not scheduler.running
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in problems] == [
        "stopping: 1 job(s) did not finish within 0.1 s; left behind (poll:1)"
    ]
    assert not any(r.exc_info for r in caplog.records if r.levelno > logging.DEBUG)


def test_a_failure_is_logged_again_only_when_its_reason_changes(caplog):
    failures = FailureLog(logging.getLogger("pdm.test"))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            failures.failed("scoring asset a/P-1", ValueError("X contains NaN\nmore detail"))
        failures.failed("scoring asset a/P-1", "ModelError: not a pdm model envelope")
        failures.failed("scoring asset a/P-2", KeyError("motor_temp"))
        failures.recovered("scoring asset a/P-1")
        failures.recovered("scoring asset a/P-1")  # a recovery is said once
    assert [r.getMessage() for r in caplog.records] == [
        "scoring asset a/P-1 failed: ValueError: X contains NaN (logged again only if the reason changes)",
        "scoring asset a/P-1 failed: ModelError: not a pdm model envelope (logged again only if the reason changes)",
        "scoring asset a/P-2 failed: KeyError: 'motor_temp' (logged again only if the reason changes)",
        "scoring asset a/P-1 works again (it had failed: ModelError: not a pdm model envelope)",
    ]
    assert failures.failing() == {"scoring asset a/P-2": "KeyError: 'motor_temp'"}
    assert reason_of(TimeoutError()) == "TimeoutError"


def _now():
    from datetime import datetime

    return datetime.now(UTC)
