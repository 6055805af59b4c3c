"""How the worker's jobs fail and stop: one line per failure, never a flood, never a traceback at stop.

- ``FailureLog`` logs a failure of repeated work (a job, one asset's scoring, one class's fleet
  model) once per subject and reason, and its recovery once; the traceback only at DEBUG.
- ``GuardedJobs`` adds jobs to APScheduler wrapped so that a job that raises is logged through a
  ``FailureLog`` (APScheduler itself would print a full traceback on every run), and so that a
  stop waits for running jobs, then cancels what is left quietly (APScheduler logs a cancelled
  job as an error with its traceback).
- ``each_alone`` runs one piece of work per item, so that one item's failure stops no other.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.util import iscoroutinefunction_partial

from pdm.storage.session import DB_ERRORS

log = logging.getLogger(__name__)


def reason_of(error: BaseException | str) -> str:
    """The first line of an error: the rest of a database error is its statement and a link."""
    if isinstance(error, str):
        return error.splitlines()[0] if error else "unknown error"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class FailureLog:
    """Failures logged once per subject and reason (a changed reason is logged again), recoveries once."""

    def __init__(self, logger: logging.Logger = log):
        self._log = logger
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()  # jobs run in threads of the event loop's executor

    def failed(self, subject: str, error: BaseException | str) -> None:
        reason = reason_of(error)
        with self._lock:
            known = self._reasons.get(subject) == reason
            self._reasons[subject] = reason
        if not known:
            self._log.warning("%s failed: %s (logged again only if the reason changes)", subject, reason)
        if isinstance(error, BaseException):
            self._log.debug("%s failed", subject, exc_info=error)

    def recovered(self, subject: str) -> None:
        with self._lock:
            reason = self._reasons.pop(subject, None)
        if reason is not None:
            self._log.warning("%s works again (it had failed: %s)", subject, reason)

    def failing(self) -> dict[str, str]:
        with self._lock:
            return dict(self._reasons)


def each_alone(
    items: Iterable,
    work: Callable,
    *,
    failures: FailureLog,
    subject: Callable[..., str],
    keep_going: Callable[[], bool],
) -> int:
    """``work(item)`` for every item until ``keep_going()`` turns false; returns how many succeeded.

    ``work`` opens its own transaction, so a failed item leaves nothing half-written and the next
    item starts clean. A database that does not answer ends the run instead: every item would fail
    the same way, and the job's own guard logs it once.
    """
    done = 0
    for item in items:
        if not keep_going():
            break
        try:
            work(item)
        except DB_ERRORS:
            raise
        except Exception as exc:  # this item's model, data or settings: the others go on
            failures.failed(subject(item), exc)
            continue
        failures.recovered(subject(item))
        done += 1
    return done


class GuardedJobs:
    """APScheduler jobs that log a failure in one line and stop without a traceback."""

    def __init__(self, scheduler: BaseScheduler, failures: FailureLog | None = None):
        self.scheduler = scheduler
        self.failures = failures or FailureLog()
        self._running: dict[asyncio.Task, tuple[str, bool]] = {}  # task → (job id, runs in a thread)

    def add(self, func: Callable, trigger: str, *, id: str, args: Iterable = (), **kwargs) -> None:
        self.scheduler.add_job(self._guarded(id, func), trigger, id=id, name=id, args=list(args), **kwargs)

    def remove(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id):
            self.scheduler.remove_job(job_id)

    def _guarded(self, job_id: str, func: Callable) -> Callable:
        threaded = not iscoroutinefunction_partial(func)

        # Always a coroutine for APScheduler: a thread's future cancelled at shutdown would be
        # logged as an error, a coroutine that catches its cancellation ends normally.
        async def run(*args) -> None:
            task = asyncio.current_task()
            self._running[task] = (job_id, threaded)
            try:
                if threaded:
                    await asyncio.to_thread(func, *args)
                else:
                    await func(*args)
            except asyncio.CancelledError:  # only the scheduler's shutdown cancels a job
                log.debug("job %s cancelled at stop", job_id)
            except Exception as exc:
                self.failures.failed(f"job {job_id}", exc)
            else:
                self.failures.recovered(f"job {job_id}")
            finally:
                self._running.pop(task, None)

        return run

    async def stop(self, *, coroutines_s: float, threads_s: float) -> None:
        """Pause, let running jobs finish (bounded), then shut the scheduler down.

        A job in a thread cannot be cancelled, only waited for: it gets ``threads_s`` (train and
        score check the stop flag between assets). A coroutine job (a poll, a lease renewal) is
        cancelled after ``coroutines_s``."""
        self.scheduler.pause()
        await asyncio.sleep(0)  # jobs submitted just before the pause start, and are counted
        running = dict(self._running)
        waits = [
            self._wait({t: job for t, (job, th) in running.items() if th == threaded}, seconds)
            for threaded, seconds in ((True, threads_s), (False, coroutines_s))
        ]
        await asyncio.gather(*waits)
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # cancelled jobs end here, quietly, before the loop moves on

    @staticmethod
    async def _wait(tasks: dict[asyncio.Task, str], seconds: float) -> None:
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=seconds)
        if pending:
            names = sorted(tasks[t] for t in pending)
            log.warning(
                "stopping: %d job(s) did not finish within %g s; left behind (%s)",
                len(pending),
                seconds,
                ", ".join(names),
            )
