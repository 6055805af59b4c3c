"""The worker: one process that polls every endpoint and trains and scores every asset.

It holds the database's leader lock for as long as it schedules, builds one poller per
enabled endpoint (re-read every ``refresh_s`` so endpoints added in the UI start by
themselves) and runs poll, train and score jobs on APScheduler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pdm import notify
from pdm.config import DetectionConfig, EndpointConfig, Settings, validate_model
from pdm.connectors import make_connector
from pdm.connectors.spool import Spool
from pdm.ingest import EndpointPoller
from pdm.models.fanout import train_many
from pdm.models.fleet import fleet_job
from pdm.models.lifecycle import assets_due
from pdm.scheduler import LeaderLock, make_scheduler
from pdm.scoring import score_asset
from pdm.storage.catalog import all_assets, endpoints_to_poll
from pdm.storage.retention import maintain
from pdm.storage.session import session_factory
from pdm.storage.tables import Company, Tag

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, *, engine: Engine, settings: Settings, detection: DetectionConfig, refresh_s: float = 10.0):
        self.engine = engine
        self.settings = settings
        self.detection = detection
        self.refresh_s = refresh_s
        self.sessions = session_factory(engine)
        self.pollers: dict[int, EndpointPoller] = {}
        # What each poller was built from (settings, node→tag map): a change rebuilds it.
        self._signatures: dict[int, tuple] = {}
        self.scheduler = make_scheduler()
        # Train and score share one lock: they write the same tables, and stopping waits on it
        # so that no job is left half-way when ``run`` returns.
        self._jobs = threading.Lock()
        self._stopping = threading.Event()

    def _poller_for(self, session: Session, endpoint) -> EndpointPoller:
        config = validate_model(EndpointConfig, {**endpoint.settings, "nodes": []}, f"endpoint {endpoint.name}")
        tags = dict(session.execute(select(Tag.node_id, Tag.id).where(Tag.endpoint_id == endpoint.id)).all())
        spool = Spool(Path(self.settings.var_dir) / "spool" / str(endpoint.id), max_bytes=self.settings.spool_max_bytes)
        company = session.get(Company, endpoint.company_id)
        return EndpointPoller(endpoint_id=endpoint.id, name=f"{company.slug}/{endpoint.name}", config=config,
                              tags=tags, sessions=self.sessions, spool=spool,
                              connector_factory=partial(make_connector, pki_dir=Path(self.settings.var_dir) / "pki"))

    async def refresh_endpoints(self) -> None:
        """Follow the database: start new endpoints, stop disabled ones, rebuild changed ones."""
        def load():
            with self.sessions() as session:
                wanted = {}
                for e in endpoints_to_poll(session):
                    tags = session.execute(select(Tag.node_id, Tag.id).where(Tag.endpoint_id == e.id)).all()
                    signature = (repr(sorted(e.settings.items())), frozenset(map(tuple, tags)))
                    if self._signatures.get(e.id) != signature:
                        wanted[e.id] = (signature, self._poller_for(session, e))
                    else:
                        wanted[e.id] = None
                return wanted
        wanted = await asyncio.to_thread(load)
        for endpoint_id in [i for i in self.pollers if i not in wanted or wanted[i] is not None]:
            await self._stop_poller(endpoint_id)
        for endpoint_id, fresh in wanted.items():
            if fresh is not None:
                self._signatures[endpoint_id], poller = fresh
                self.pollers[endpoint_id] = poller
                self.scheduler.add_job(poller.poll_once, "interval", seconds=poller.config.poll_interval_s,
                                       id=f"poll:{endpoint_id}", next_run_time=_now())
                log.info("polling endpoint %s every %.3g s", poller.name, poller.config.poll_interval_s)

    async def _stop_poller(self, endpoint_id: int) -> None:
        poller = self.pollers.pop(endpoint_id)
        self._signatures.pop(endpoint_id, None)
        self.scheduler.remove_job(f"poll:{endpoint_id}")
        await _bounded(poller.close(), POLLER_STOP_S, f"endpoint {poller.name}")
        log.info("stopped polling endpoint %s", poller.name)

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
        """Run until ``stop`` is set; raises SchedulerBusy if another scheduler owns the database."""
        with LeaderLock(self.engine):
            self.scheduler.add_job(self.refresh_endpoints, "interval", seconds=self.refresh_s, id="refresh",
                                   next_run_time=_now())
            self.scheduler.add_job(self.train_due, "interval", seconds=self.detection.train_interval_s, id="train")
            self.scheduler.add_job(self.score_all, "interval", seconds=self.detection.score_interval_s, id="score")
            self.scheduler.add_job(partial(fleet_job, self.sessions, self.detection, self._jobs), "interval",
                                   seconds=self.detection.fleet.retrain_interval_s, id="fleet", next_run_time=_now())
            self.scheduler.add_job(self.send_notifications, "interval", seconds=10, id="notify")
            self.scheduler.add_job(partial(maintain, self.engine, self.settings.retention), "interval",
                                   seconds=self.settings.retention.interval_s, id="retention", next_run_time=_now())
            self.scheduler.start()
            try:
                await stop.wait()
            finally:
                self._stopping.set()
                self.scheduler.pause()
                await _bounded(asyncio.to_thread(self._wait_for_jobs), JOBS_STOP_S, "train/score jobs")
                self.scheduler.shutdown(wait=False)
                for poller in self.pollers.values():
                    await _bounded(poller.close(), POLLER_STOP_S, f"endpoint {poller.name}")


    def _wait_for_jobs(self) -> None:
        with self._jobs:
            pass


# A stop must end: a stage that overruns is logged by name and left behind, never waited on forever.
JOBS_STOP_S = 120.0
POLLER_STOP_S = 15.0


async def _bounded(awaitable, seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        log.warning("stopping: %s did not finish within %.0f s; left behind", what, seconds)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
