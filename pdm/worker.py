"""The worker process, in one of three roles (``pdmctl worker --role``).

- ``ingest``: reads its fair share of the endpoints (``pdm.endpoint_share``); any number of
  these run side by side, on one host or several, and take over a dead one's endpoints.
- ``scheduler``: trains, scores and sends notifications; exactly one runs per database, held
  by the leader lock (``pdm.scheduler``). Started with ``wait``, a second one is a standby that
  takes over when the leader dies.
- ``all`` (the default): both in one process, today's single-process deployment.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import partial
from typing import Literal

from sqlalchemy import Engine

from pdm import notify
from pdm.config import DetectionConfig, Settings
from pdm.endpoint_share import EndpointShare, bounded, utcnow
from pdm.ingest import DB_ERRORS, EndpointPoller
from pdm.leases import new_worker_id
from pdm.models.fanout import train_many
from pdm.models.fleet import fleet_job
from pdm.models.lifecycle import assets_due
from pdm.scheduler import LeaderLock, make_scheduler
from pdm.scoring import score_asset
from pdm.storage.catalog import all_assets
from pdm.storage.retention import maintain
from pdm.storage.session import session_factory

log = logging.getLogger(__name__)
Role = Literal["ingest", "scheduler", "all"]
ROLES = ("ingest", "scheduler", "all")
# A stop must end: a stage that overruns is logged by name and left behind, never waited on forever.
JOBS_STOP_S = 120.0
LEADER_JOBS = ("train", "score", "fleet", "notify", "retention", "leader-check")


class Worker:
    def __init__(self, *, engine: Engine, settings: Settings, detection: DetectionConfig, role: Role = "all",
                 wait: bool = False, worker_id: str | None = None):
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self.engine = engine
        self.settings = settings
        self.detection = detection
        self.role = role
        self.wait = wait
        self.worker_id = worker_id or new_worker_id()
        self.sessions = session_factory(engine)
        self.scheduler = make_scheduler()
        self.share = (EndpointShare(sessions=self.sessions, settings=settings, scheduler=self.scheduler,
                                    worker_id=self.worker_id) if role in ("ingest", "all") else None)
        self.leader = LeaderLock(engine) if role in ("scheduler", "all") else None
        self.leading = False
        self._standby: asyncio.Future | None = None
        # Train and score share one lock: they write the same tables, and stopping waits on it
        # so that no job is left half-way when ``run`` returns.
        self._jobs = threading.Lock()
        self._stopping = threading.Event()

    @property
    def pollers(self) -> dict[int, EndpointPoller]:
        return self.share.pollers if self.share else {}

    async def refresh_endpoints(self) -> None:
        """Renew leases, report health and follow the database (new, disabled, changed endpoints)."""
        if self.share:
            await self.share.tick()

    def train_due(self) -> int:
        """Train every asset that needs a new version (on the configured executor); returns how many."""
        with self._jobs, self.sessions() as session:
            due = assets_due(session, detection=self.detection)
        if not due or self._stopping.is_set():
            return 0
        d = self.detection
        with self._jobs:
            results = train_many(self.settings.database_url, due, d, executor=d.executor,
                                 max_workers=d.max_workers, scheduler_address=d.dask_scheduler)
        for (company_id, asset_id), _version, error in results:
            if error:
                log.warning("training asset %s of company %s failed: %s", asset_id, company_id, error)
        return sum(version is not None for _, version, _ in results)

    def score_all(self) -> None:
        with self._jobs, self.sessions() as session:
            assets = [(a.company_id, a.id) for a in all_assets(session)]
        for company_id, asset_id in assets:
            if self._stopping.is_set():
                break
            with self._jobs, self.sessions.begin() as session:
                score_asset(session, company_id=company_id, asset_id=asset_id, detection=self.detection)

    def send_notifications(self) -> None:
        # Outside the jobs lock: a slow mail server must never hold up scoring.
        notify.send_due(self.sessions)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises SchedulerBusy if another scheduler leads and ``wait`` is off."""
        if self.leader and not self.wait:
            self.leader.require()  # before anything starts: a refused worker leaves nothing behind
            self.leading = True
        self.scheduler.start()
        try:
            if self.share:
                self.share.start()
                self.scheduler.add_job(self.refresh_endpoints, "interval", seconds=self.settings.lease_renew_s,
                                       id="refresh", next_run_time=utcnow())
            if self.leader:
                await self._lead(stop)
            await stop.wait()
        finally:
            await self._stop()

    async def _lead(self, stop: asyncio.Event) -> None:
        """Take the leader lock (waiting as a standby if another holds it), then schedule the leader's jobs."""
        announced = db_down = False
        while not self.leading and not stop.is_set():
            try:
                self.leading = await asyncio.to_thread(self.leader.acquire)
                db_down = False
            except DB_ERRORS as exc:
                if not db_down:
                    log.warning("scheduler standby cannot reach the database: %s", str(exc).splitlines()[0])
                db_down = True
            if not self.leading:
                if not announced and not db_down:
                    log.warning("scheduler standby (worker %s): another scheduler leads; retrying every %g s",
                                self.worker_id, self.settings.leader_retry_s)
                    announced = True
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.leader_retry_s)
                except asyncio.TimeoutError:
                    pass
        if stop.is_set():
            return
        log.warning("scheduler leader: worker %s trains, scores and notifies", self.worker_id)
        self.scheduler.add_job(self.train_due, "interval", seconds=self.detection.train_interval_s, id="train")
        self.scheduler.add_job(self.score_all, "interval", seconds=self.detection.score_interval_s, id="score")
        self.scheduler.add_job(partial(fleet_job, self.sessions, self.detection, self._jobs), "interval",
                               seconds=self.detection.fleet.retrain_interval_s, id="fleet", next_run_time=utcnow())
        self.scheduler.add_job(self.send_notifications, "interval", seconds=10, id="notify")
        self.scheduler.add_job(partial(maintain, self.engine, self.settings.retention), "interval",
                               seconds=self.settings.retention.interval_s, id="retention", next_run_time=utcnow())
        self.scheduler.add_job(self._check_leadership, "interval", seconds=self.settings.leader_retry_s,
                               id="leader-check", args=[stop])

    async def _check_leadership(self, stop: asyncio.Event) -> None:
        # On PostgreSQL the lock lives with one connection: if it dropped, a standby may lead already.
        if await asyncio.to_thread(self.leader.still_held):
            return
        log.error("scheduler leader lock lost (database connection dropped); back to standby")
        for job in LEADER_JOBS:
            if self.scheduler.get_job(job):
                self.scheduler.remove_job(job)
        self.leader.release()
        self.leading = False
        self._standby = asyncio.ensure_future(self._lead(stop))  # kept: a task nobody holds may vanish

    async def _stop(self) -> None:
        self._stopping.set()
        self.scheduler.pause()
        await bounded(asyncio.to_thread(self._wait_for_jobs), JOBS_STOP_S, "train/score jobs")
        self.scheduler.shutdown(wait=False)
        if self.share:
            await self.share.stop()
        if self.leader and self.leading:
            self.leader.release()
            self.leading = False

    def _wait_for_jobs(self) -> None:
        with self._jobs:
            pass
