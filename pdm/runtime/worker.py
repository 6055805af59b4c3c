"""The worker process, in one of three roles (``pdmctl worker --role``).

- ``ingest``: reads its fair share of the endpoints (``pdm.ingest.share``); any number of
  these run side by side, on one host or several, and take over a dead one's endpoints.
- ``scheduler``: trains, scores and sends notifications; exactly one runs per database, held
  by the leader lock (``pdm.runtime.scheduler``). Started with ``wait``, a second one is a standby that
  takes over when the leader dies.
- ``all`` (the default): both in one process, today's single-process deployment.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from sqlalchemy import Engine, select

from pdm.alerts import notify
from pdm.config import DetectionConfig, Settings
from pdm.ingest.leases import new_worker_id
from pdm.ingest.poller import EndpointPoller
from pdm.ingest.share import EndpointShare
from pdm.models.fanout import train_many
from pdm.models.fleet import train_fleet
from pdm.models.lifecycle import assets_due
from pdm.models.scoring import score_asset
from pdm.runtime.job_guard import FailureLog, GuardedJobs, each_alone
from pdm.runtime.scheduler import LeaderLock, make_scheduler
from pdm.storage.catalog import all_assets, list_companies
from pdm.storage.retention import maintain
from pdm.storage.session import DB_ERRORS, session_factory
from pdm.storage.tables import Asset

log = logging.getLogger(__name__)
Role = Literal["ingest", "scheduler", "all"]
ROLES = ("ingest", "scheduler", "all")
# A stop must end: a stage that overruns is logged by name and left behind, never waited on forever.
JOBS_STOP_S = 120.0  # jobs in threads (train, score, fleet, retention); they check the stop between assets
POLLS_STOP_S = 5.0  # coroutine jobs (polls, lease renewals), then cancelled
LEADER_JOBS = ("train", "score", "fleet", "notify", "retention", "leader-check")


class Worker:
    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        detection: DetectionConfig,
        role: Role = "all",
        wait: bool = False,
        worker_id: str | None = None,
    ):
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
        self.failures = FailureLog(log)
        self.jobs = GuardedJobs(self.scheduler, self.failures)
        self.share = (
            EndpointShare(sessions=self.sessions, settings=settings, worker_id=self.worker_id)
            if role in ("ingest", "all")
            else None
        )
        self.leader = LeaderLock(engine) if role in ("scheduler", "all") else None
        self.leading = False
        self._standby: asyncio.Future | None = None
        # Train and score share one lock: they write the same tables.
        self._jobs = threading.Lock()
        self._stopping = threading.Event()
        # Bumped when leadership is lost: a train or score job started under an older term stops at
        # its next asset, so it never overlaps the same job of the standby that now leads.
        self._term = 0

    @property
    def pollers(self) -> dict[int, EndpointPoller]:
        return self.share.pollers if self.share else {}

    def _keep_going(self, term: int) -> bool:
        return not self._stopping.is_set() and self._term == term

    async def refresh_endpoints(self) -> None:
        """Renew leases, report health and follow the database (new, disabled, changed endpoints)."""
        if self.share:
            await self.share.tick()

    def train_due(self) -> int:
        """Train every asset that needs a new version (on the configured executor); returns how many."""
        term = self._term
        with self._jobs, self.sessions() as session:
            due = assets_due(session, detection=self.detection)
            names = _asset_names(session) if due else {}
        d = self.detection
        trained = 0
        with self._jobs:
            results = train_many(
                self.settings.database_url,
                due,
                d,
                executor=d.executor,
                max_workers=d.max_workers,
                scheduler_address=d.dask_scheduler,
                keep_going=partial(self._keep_going, term),
            )
        for job, version, error in results:
            subject = f"training asset {names.get(job, job)}"
            if error:
                self.failures.failed(subject, error)
            else:
                self.failures.recovered(subject)
            trained += version is not None
        return trained

    def score_all(self) -> int:
        """Score every asset, each in its own transaction; returns how many were scored without error."""
        term = self._term
        with self._jobs, self.sessions() as session:
            names = _asset_names(session)
        return each_alone(
            names,
            self._score_one,
            failures=self.failures,
            keep_going=partial(self._keep_going, term),
            subject=lambda asset: f"scoring asset {names[asset]}",
        )

    def _score_one(self, asset: tuple[int, int]) -> None:
        with self._jobs, self.sessions.begin() as session:
            score_asset(session, company_id=asset[0], asset_id=asset[1], detection=self.detection)

    def train_fleets(self) -> int:
        """Train (or keep) each class's fleet model, each class in its own transaction."""
        if not self.detection.fleet.enabled:
            return 0
        term = self._term
        with self.sessions() as session:
            classes = session.execute(select(Asset.asset_class).distinct().order_by(Asset.asset_class)).scalars().all()
        return each_alone(
            classes,
            self._train_fleet,
            failures=self.failures,
            keep_going=partial(self._keep_going, term),
            subject=lambda c: f"fleet model for class {c}",
        )

    def _train_fleet(self, asset_class: str) -> None:
        with self._jobs, self.sessions.begin() as session:
            train_fleet(session, asset_class=asset_class, detection=self.detection)

    def send_notifications(self) -> None:
        # Outside the jobs lock: a slow mail server must never hold up scoring.
        notify.send_due(self.sessions)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises SchedulerBusy if another scheduler leads and ``wait`` is off."""
        if self.leader and not self.wait:
            try:
                self.leader.require()  # before anything starts: a refused worker leaves nothing behind
                self.leading = True
            except DB_ERRORS as exc:
                # Whether another scheduler leads cannot be known yet: ingest starts (its pollers spool)
                # and the scheduler waits for the database like a standby.
                log.warning(
                    "database unreachable at start (%s): ingest starts, the scheduler waits for the database",
                    str(exc).splitlines()[0],
                )
        self.scheduler.start()
        try:
            if self.share:
                self.share.start()
                self.jobs.add(
                    self.refresh_endpoints,
                    "interval",
                    seconds=self.settings.lease_renew_s,
                    id="refresh",
                    next_run_time=datetime.now(UTC),
                )
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
                    log.warning(
                        "scheduler standby (worker %s): another scheduler leads; retrying every %g s",
                        self.worker_id,
                        self.settings.leader_retry_s,
                    )
                    announced = True
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.leader_retry_s)
                except TimeoutError:
                    pass
        if stop.is_set():
            return
        log.warning("scheduler leader: worker %s trains, scores and notifies", self.worker_id)
        d, add = self.detection, self.jobs.add
        add(self.train_due, "interval", seconds=d.train_interval_s, id="train")
        add(self.score_all, "interval", seconds=d.score_interval_s, id="score")
        add(
            self.train_fleets,
            "interval",
            seconds=d.fleet.retrain_interval_s,
            id="fleet",
            next_run_time=datetime.now(UTC),
        )
        add(self.send_notifications, "interval", seconds=10, id="notify")
        add(
            partial(maintain, self.engine, self.settings.retention),
            "interval",
            seconds=self.settings.retention.interval_s,
            id="retention",
            next_run_time=datetime.now(UTC),
        )
        add(self._check_leadership, "interval", seconds=self.settings.leader_retry_s, id="leader-check", args=[stop])

    async def _check_leadership(self, stop: asyncio.Event) -> None:
        # On PostgreSQL the lock lives with one connection: if it dropped, a standby may lead already.
        if await asyncio.to_thread(self.leader.still_held):
            return
        self._term += 1  # first: a train or score under way stops at its next asset
        log.error("scheduler leader lock lost (database connection dropped); back to standby")
        for job in LEADER_JOBS:
            self.jobs.remove(job)
        self.leader.release()
        self.leading = False
        self._standby = asyncio.ensure_future(self._lead(stop))  # kept: a task nobody holds may vanish

    async def _stop(self) -> None:
        self._stopping.set()
        await self.jobs.stop(coroutines_s=POLLS_STOP_S, threads_s=JOBS_STOP_S)
        if self.share:
            await self.share.stop()
        if self.leader and self.leading:
            self.leader.release()
            self.leading = False


def _asset_names(session) -> dict[tuple[int, int], str]:
    """(company id, asset id) → "company/asset (ids c/a)" for every asset, in scoring order: log lines
    name what an operator sees, and the ids that tell apart a renamed asset."""
    slugs = {c.id: c.slug for c in list_companies(session)}
    return {
        (a.company_id, a.id): f"{slugs.get(a.company_id)}/{a.slug} (ids {a.company_id}/{a.id})"
        for a in all_assets(session)
    }
