"""The scheduler and its leader lock: exactly one scheduler runs per database.

APScheduler 3.x job stores must never be shared by two schedulers (duplicate runs), so the
worker takes a lock tied to the database before it schedules train, score and notify jobs
(a standby retries until the leader dies): ``fcntl.flock`` on
a file beside a SQLite database, ``pg_try_advisory_lock`` on PostgreSQL (held by one open
connection, released by the server if the process dies).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from pdm.errors import SchedulerBusy
from pdm.logs import demote_to_debug

# Keyed by schema too, so separate deployments in one database do not block each other.
LOCK_KEY = "hashtext('pdm-scheduler:' || current_schema())"


class LeaderLock:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._fd: int | None = None
        self._conn = None

    def _lock_path(self) -> Path | None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        return Path(database + ".scheduler.lock")

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._acquire_pg()
        path = self._lock_path()
        if path is None:
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def _acquire_pg(self) -> bool:
        conn = self.engine.connect()
        got = conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})")).scalar()
        conn.commit()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """False when the PostgreSQL connection holding the lock is gone (the server then freed the lock)."""
        if self._conn is None:
            return self._fd is not None or self._lock_path() is None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except SQLAlchemyError:
            return False

    def require(self) -> None:
        if not self.acquire():
            raise SchedulerBusy(
                f"another scheduler is already running on {self.engine.url.render_as_string()}; "
                "stop it first or start this one with --wait"
            )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            # The connection goes back to a pool, not away: unlock explicitly, then drop it.
            try:
                self._conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
            except SQLAlchemyError:  # the connection is gone, and the lock with it
                pass
            self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def __enter__(self) -> LeaderLock:
        self.require()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _is_poll_skip(record: logging.LogRecord) -> bool:
    """A poll still running when its next one is due is skipped (one at a time per endpoint, by
    design): the first poll, which connects, usually is. APScheduler warns about each skip; for
    poll jobs that is noise (a slow endpoint shows in its read rate), other jobs keep it."""
    job = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return "maximum number of running instances" in str(record.msg) and str(getattr(job, "id", "")).startswith("poll:")


def make_scheduler() -> AsyncIOScheduler:
    demote_to_debug("apscheduler.scheduler", "poll skips", _is_poll_skip)
    # In-memory job store: jobs are rebuilt from the database at start, never shared.
    return AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
