"""Training many assets at once: serially, on all local cores, or on a Dask cluster.

Jobs carry only ids and plain settings (never live sessions or engines), so the same
module-level ``train_job`` runs in a spawned process or on a remote Dask worker; each job
opens its own short-lived connection to the shared database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Literal

from sqlalchemy.pool import NullPool

from pdm.config import DetectionConfig
from pdm.models.lifecycle import train_asset
from pdm.storage.catalog import note_training
from pdm.storage.session import make_engine, session_factory

Executor = Literal["serial", "process", "dask"]
Job = tuple[int, int]  # (company_id, asset_id)


def train_job(database_url: str, company_id: int, asset_id: int, detection: dict) -> tuple[Job, int | None, str | None]:
    """Train one asset; returns its job, the new version (None: not enough data) and an error."""
    engine = make_engine(database_url, poolclass=NullPool)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as session:
            version = train_asset(
                session, company_id=company_id, asset_id=asset_id, detection=DetectionConfig.model_validate(detection)
            )
            if version is not None:
                note_training(session, company_id=company_id, asset_id=asset_id, note=None)
            return (company_id, asset_id), (version.version if version else None), None
    except Exception as exc:  # one asset's failure must not lose the others' results
        error = f"{type(exc).__name__}: {exc}"
        _keep_note(sessions, (company_id, asset_id), error)
        return (company_id, asset_id), None, error
    finally:
        engine.dispose()


def _keep_note(sessions, job: Job, error: str) -> None:
    """The failure on the asset's page too; a database that is down keeps only the worker's log line."""
    try:
        with sessions.begin() as session:
            note_training(session, company_id=job[0], asset_id=job[1], note=error)
    except Exception:
        pass


def train_many(
    database_url: str,
    jobs: Sequence[Job],
    detection: DetectionConfig,
    *,
    executor: Executor = "process",
    max_workers: int | None = None,
    scheduler_address: str | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[tuple[Job, int | None, str | None]]:
    """Train ``jobs``; returns one result per job finished. ``keep_going`` is asked after each one:
    once it says no (a stop, or a lost leadership), jobs not yet started are cancelled."""
    settings = detection.model_dump(mode="json")
    args = [(database_url, c, a, settings) for c, a in jobs]
    if executor == "serial" or not args:
        results = []
        for a in args:
            results.append(train_job(*a))
            if not keep_going():
                break
        return results
    if executor == "process":
        # spawn, not fork: the worker process runs an event loop and scheduler threads.
        with ProcessPoolExecutor(max_workers or os.cpu_count(), mp_context=get_context("spawn")) as pool:
            return _gather([pool.submit(train_job, *a) for a in args], as_completed, keep_going)
    if executor == "dask":
        return _on_dask(args, scheduler_address, keep_going)
    raise ValueError(f"executor {executor!r} is not one of serial, process, dask")


def _gather(futures: list, completed: Callable, keep_going: Callable[[], bool]) -> list:
    """The finished jobs' results, in the order the jobs were given (they finish in any order)."""
    order = {id(f): i for i, f in enumerate(futures)}
    done = []
    for future in completed(futures):
        done.append((order[id(future)], future.result()))
        if not keep_going():
            for other in futures:
                other.cancel()  # those already running finish; their results are not waited for
            break
    return [result for _, result in sorted(done, key=lambda pair: pair[0])]


def _on_dask(args: list[tuple], scheduler_address: str | None, keep_going: Callable[[], bool]):
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("executor 'dask' needs the dask extra: pip install 'pdm-cluster[dask]'") from None
    if not scheduler_address:
        raise ValueError("executor 'dask' needs a scheduler address (detection.dask_scheduler)")
    with Client(scheduler_address) as client:
        futures = client.map(train_job, *zip(*args), pure=False)
        return _gather(futures, dask_completed, keep_going)
