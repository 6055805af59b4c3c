"""One ingest worker's share of the endpoints: leases taken and renewed, one poller per endpoint held.

Every ``lease_renew_s`` the worker says it is alive, renews its leases, reports the health of
the endpoints it reads, and rebalances: it gives back endpoints above its fair share (after
its poller has written everything it read, so the next holder continues where it stopped)
and takes free or expired ones below it. Endpoints that were disabled, deleted or taken over
while this worker was cut off are stopped; changed settings or node maps rebuild the poller.

Spool files are per host and per worker (``var/spool/<worker id>/<endpoint id>/``). A worker
holds a lock on its folder for its lifetime, so a folder whose lock is free belongs to a dead
worker: any worker on the same host drains it into the database (readings are keyed by tag
and time, so nothing is stored twice), with the gaps its pollers had not recorded yet
(``pdm.ingest.pending_gaps``), and removes it.

Beside its spool each worker keeps the last assignment it polled (``assignment.json``: the
endpoints, their settings and node→tag maps). A worker started while the database is down
adopts the assignments of the dead workers of its host (``pdm.ingest.assignment``) and polls
them from its first tick, spooling; once the database is back it takes those leases over from
the dead worker and carries on with the same pollers, so a restart during an outage loses nothing.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import time
from functools import partial
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import Settings, endpoint_config
from pdm.connectors import make_connector
from pdm.errors import PdmError
from pdm.ingest import assignment, leases, pending_gaps
from pdm.ingest.health import save_health
from pdm.ingest.poller import EndpointPoller
from pdm.ingest.spool import Spool
from pdm.storage.catalog import endpoints_to_poll
from pdm.storage.readings import READING_COLUMNS, insert_reading_tuples
from pdm.storage.session import DB_ERRORS
from pdm.storage.tables import Company, Endpoint, Tag

log = logging.getLogger(__name__)
POLLER_STOP_S = 15.0  # a stop must end: a poller that overruns is logged by name and left behind
LOCK_FILE = assignment.LOCK_FILE


class EndpointShare:
    def __init__(self, *, sessions: sessionmaker[Session], settings: Settings, worker_id: str):
        self.sessions = sessions
        self.settings = settings
        self.worker_id = worker_id
        self.spool_root = Path(settings.var_dir) / "spool"
        self.pollers: dict[int, EndpointPoller] = {}
        self._tasks: dict[int, asyncio.Future] = {}  # each poller's own loop (EndpointPoller.run)
        self._adopted: assignment.Adopted | None = None  # dead workers' endpoints polled while the database is down
        self._planned = False  # a plan has gone through since this worker started
        self._adoption_tried = False
        self._draining: asyncio.Future | None = None
        self._companies: dict[int, int] = {}  # endpoint id -> company id, for health rows
        self._settings: dict[int, dict] = {}  # endpoint id -> its stored settings, for assignment.json
        # What each poller was built from (settings, node→tag map): a change rebuilds it.
        self._signatures: dict[int, tuple] = {}
        self._lock_fd: int | None = None
        self._db_up = True
        self._busy = asyncio.Lock()
        self._closed = False

    def start(self) -> None:
        """Lock this worker's spool folder for its lifetime (a free lock marks a dead worker's folder)."""
        folder = self.spool_root / self.worker_id
        for _ in range(50):  # a worker sweeping dead folders may be removing this new, empty one
            folder.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                time.sleep(0.01)
                continue
            if (folder / LOCK_FILE).exists():
                self._lock_fd = fd
                return
            os.close(fd)  # locked a file the sweeper had just removed: lock the new one
        raise PdmError(f"cannot lock the spool folder {folder}: another worker uses the same worker id")

    async def tick(self) -> None:
        """Heartbeat, renew, report health, rebalance; a database outage leaves the pollers spooling."""
        async with self._busy:  # one tick at a time, and never one after ``stop``
            if self._closed:
                return
            health = {i: self._health_row(i, p) for i, p in self.pollers.items()}
            try:
                stop, release, start = await asyncio.to_thread(self._plan, health)
                self._planned = True
                for endpoint_id in stop:
                    await self._stop_poller(endpoint_id)
                if release:
                    await asyncio.to_thread(self._in_tx, leases.release, endpoint_ids=sorted(release))
                    log.info("worker %s gave back endpoints %s", self.worker_id, sorted(release))
            except DB_ERRORS as exc:  # unrenewed leases expire by themselves; the next tick says what is ours
                if self._db_up:
                    log.warning(
                        "worker %s cannot reach the database%s: %s",
                        self.worker_id,
                        " (its pollers keep spooling)" if self.pollers else "",
                        str(exc).splitlines()[0],
                    )
                self._db_up = False
                if not self._planned and not self._adoption_tried:
                    self._adoption_tried = True
                    self._adopt(await asyncio.to_thread(assignment.adopt, self.spool_root, self.worker_id))
                return
            self._db_up = True
            for endpoint_id, (signature, poller) in start.items():
                self._start_poller(endpoint_id, signature, poller)
            if self._adopted is not None:  # its leases are ours now (see _plan): its folder's spool can be replayed
                self._adopted.release()
                self._adopted = None
            await asyncio.to_thread(self._save_assignment)
            self._drain_in_background()

    def _drain_in_background(self) -> None:
        """Replay orphan spools beside the ticks, not inside one: a large spool takes a while, and the
        leases must be renewed meanwhile. Once done, pollers started during an outage may catch up."""
        if self._draining is not None and not self._draining.done():
            return
        polling = set(self.pollers)

        def done(task: asyncio.Future) -> None:
            if not task.cancelled() and task.exception() is None:
                for endpoint_id in polling & self.pollers.keys():
                    self.pollers[endpoint_id].catch_up_ready = True

        self._draining = asyncio.ensure_future(asyncio.to_thread(self.drain_orphan_spools, polling))
        self._draining.add_done_callback(done)

    def _start_poller(self, endpoint_id: int, signature: tuple, poller: EndpointPoller) -> None:
        self._signatures[endpoint_id] = signature
        self.pollers[endpoint_id] = poller
        self._tasks[endpoint_id] = asyncio.ensure_future(poller.run())
        log.info(
            "worker %s polling endpoint %s every %.3g s", self.worker_id, poller.name, poller.config.poll_interval_s
        )

    def _adopt(self, adopted: assignment.Adopted) -> None:
        """The database is down and this worker has polled nothing yet: poll what dead workers of this host did."""
        if not adopted.endpoints:
            adopted.release()
            log.warning(
                "worker %s: database unreachable and no earlier assignment on this host: waiting for the database",
                self.worker_id,
            )
            return
        self._adopted = adopted
        for item in adopted.endpoints:
            poller = self._make_poller(item.endpoint_id, item.name, item.company_id, item.settings, item.tags)
            self._start_poller(item.endpoint_id, item.signature, poller)
        log.warning(
            "worker %s: database unreachable; polling the %d endpoints worker(s) %s held on this host, spooling",
            self.worker_id,
            len(adopted.endpoints),
            ", ".join(adopted.workers),
        )

    def _save_assignment(self) -> None:
        items = [
            assignment.Assigned(
                endpoint_id=i,
                name=p.name,
                company_id=self._companies[i],
                settings=self._settings[i],
                tags={n: list(t) for n, t in p.tags.items()},
            )
            for i, p in self.pollers.items()
        ]
        assignment.save(self.spool_root / self.worker_id, items)

    def _in_tx(self, fn, **kwargs):
        with self.sessions.begin() as session:
            return fn(session, worker_id=self.worker_id, **kwargs)

    def _plan(self, health: dict[int, dict]) -> tuple[set[int], set[int], dict[int, tuple]]:
        """In one transaction: what to stop, what to give back once stopped, which pollers to start."""
        ttl = self.settings.lease_ttl_s
        with self.sessions.begin() as session:
            leases.heartbeat(session, worker_id=self.worker_id, ttl=ttl)
            if self._adopted is not None:  # we hold the dead workers' folder locks: their leases are ours
                for dead in self._adopted.workers:
                    leases.take_over(session, from_worker=dead, worker_id=self.worker_id, ttl=ttl)
            held = leases.renew(session, worker_id=self.worker_id, ttl=ttl)
            save_health(session, [row for i, row in health.items() if i in held])
            wanted = {e.id: e for e in endpoints_to_poll(session)}
            share = leases.fair_share(len(wanted), leases.live_workers(session), self.worker_id)
            release = held - wanted.keys()
            mine = sorted(held & wanted.keys())
            release |= set(mine[share:])  # above the fair share: the newest ids go back
            mine = mine[:share]
            free = sorted(wanted.keys() - held - leases.taken_by_others(session, worker_id=self.worker_id))
            for endpoint_id in free[: max(0, share - len(mine))]:
                if leases.acquire(session, endpoint_id=endpoint_id, worker_id=self.worker_id, ttl=ttl):
                    mine.append(endpoint_id)
            stop = self.pollers.keys() - set(mine)
            start = {}
            node_maps = self._node_maps(session, mine)
            for endpoint_id in mine:
                endpoint = wanted[endpoint_id]
                signature = (repr(sorted(endpoint.settings.items())), node_maps.get(endpoint_id, frozenset()))
                if self._signatures.get(endpoint_id) == signature:
                    continue
                stop |= {endpoint_id} & self.pollers.keys()
                try:
                    start[endpoint_id] = (signature, self._poller_for(session, wanted[endpoint_id]))
                except PdmError as exc:  # one bad endpoint must not stop the renewals of the others
                    log.error("worker %s cannot poll endpoint %s: %s", self.worker_id, endpoint_id, exc)
                    self._signatures[endpoint_id] = signature  # said once; retried when its settings change
                    session.execute(
                        update(Endpoint).where(Endpoint.id == endpoint_id).values(state="ERROR", last_error=str(exc))
                    )
        return stop, release, start

    @staticmethod
    def _node_maps(session: Session, endpoint_ids: list[int]) -> dict[int, frozenset]:
        """Endpoint id → its (node id, tag id) pairs, in one query for every endpoint held."""
        maps: dict[int, set] = {}
        rows = session.execute(select(Tag.endpoint_id, Tag.node_id, Tag.id).where(Tag.endpoint_id.in_(endpoint_ids)))
        for endpoint_id, node_id, tag_id in rows:
            maps.setdefault(endpoint_id, set()).add((node_id, tag_id))
        return {i: frozenset(m) for i, m in maps.items()}

    def _poller_for(self, session: Session, endpoint) -> EndpointPoller:
        tags: dict[str, list[int]] = {}
        for node_id, tag_id in session.execute(
            select(Tag.node_id, Tag.id).where(Tag.endpoint_id == endpoint.id).order_by(Tag.id)
        ):
            tags.setdefault(node_id, []).append(tag_id)  # one node may feed several tags
        company = session.get(Company, endpoint.company_id)
        return self._make_poller(
            endpoint.id, f"{company.slug}/{endpoint.name}", endpoint.company_id, dict(endpoint.settings), tags
        )

    def _make_poller(
        self, endpoint_id: int, name: str, company_id: int, settings: dict, tags: dict[str, list[int]]
    ) -> EndpointPoller:
        config = endpoint_config({**settings, "nodes": []}, f"endpoint {name}")  # the model of its kind
        spool = Spool(self.spool_root / self.worker_id / str(endpoint_id), max_bytes=self.settings.spool_max_bytes)
        self._companies[endpoint_id] = company_id
        self._settings[endpoint_id] = settings
        return EndpointPoller(
            endpoint_id=endpoint_id,
            name=name,
            config=config,
            tags=tags,
            sessions=self.sessions,
            spool=spool,
            connector_factory=partial(make_connector, pki_dir=Path(self.settings.var_dir) / "pki"),
        )

    def _health_row(self, endpoint_id: int, poller: EndpointPoller) -> dict:
        return {
            **poller.health.snapshot(),
            "endpoint_id": endpoint_id,
            "company_id": self._companies[endpoint_id],
            "worker_id": self.worker_id,
            "spool_rows": poller.spool_rows(),
            "nodes": len(poller.node_ids),
            "history_nodes": poller.history_nodes,
            "backfilled": poller.backfilled,
            "quirks": poller.quirks,
        }

    async def _stop_poller(self, endpoint_id: int) -> None:
        poller = self.pollers.pop(endpoint_id)
        self._signatures.pop(endpoint_id, None)
        task = self._tasks.pop(endpoint_id, None)
        await poller.stop()
        if task is not None:
            await bounded(asyncio.shield(task), POLLER_STOP_S, f"the poll under way of endpoint {poller.name}")
            task.cancel()
        await bounded(poller.close(), POLLER_STOP_S, f"endpoint {poller.name}")
        log.info("worker %s stopped polling endpoint %s", self.worker_id, poller.name)

    async def stop(self) -> None:
        """Write what was read, give every endpoint back and leave, so the others take over at once."""
        async with self._busy:
            self._closed = True
            if self._draining is not None:
                await bounded(asyncio.shield(self._draining), POLLER_STOP_S, "the replay of orphan spools")
            for endpoint_id in list(self.pollers):
                await self._stop_poller(endpoint_id)
            try:
                await asyncio.to_thread(self._in_tx, leases.leave)
            except DB_ERRORS as exc:  # the leases expire by themselves
                log.warning("worker %s could not give its endpoints back: %s", self.worker_id, str(exc).splitlines()[0])
            if self._adopted is not None:
                self._adopted.release()
                self._adopted = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # frees the folder: a spool left in it is replayed by the next worker here
                self._lock_fd = None

    def drain_orphan_spools(self, polling: set[int] = frozenset()) -> int:
        """Store spools no poller will drain; returns how many rows were replayed.

        Those of dead workers on this host, and this worker's own for endpoints it no longer
        polls (given back or taken over while the database was unreachable).
        """
        if not self.spool_root.exists():
            return 0
        replayed = 0
        try:
            own, polled = self.spool_root / self.worker_id, {str(i) for i in polling}
            for folder in sorted(p for p in own.glob("*") if p.is_dir() and p.name not in polled):
                replayed += self._drain_folder(folder)
            for folder in sorted(p for p in self.spool_root.iterdir() if p.is_dir() and p.name != self.worker_id):
                replayed += self._drain_if_orphan(folder)
        except DB_ERRORS:
            pass  # the database is down: the files stay for the next tick
        return replayed

    def _drain_if_orphan(self, folder: Path) -> int:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its worker is alive
            replayed = 0
            for spool_dir in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
                replayed += self._drain_folder(spool_dir)
            if replayed:
                log.warning("replayed %d spooled readings left by a stopped worker in %s", replayed, folder)
            shutil.rmtree(folder, ignore_errors=True)
            return replayed
        finally:
            os.close(fd)

    def _drain_folder(self, folder: Path) -> int:
        """A spool folder's readings, then its gaps; returns how many readings."""
        replayed = Spool(folder, max_bytes=self.settings.spool_max_bytes).drain(self._write_rows)
        gaps = pending_gaps.drain(folder, self.sessions)
        if gaps:
            log.warning("recorded %d gaps a stopped poller had left in %s", gaps, folder)
        return replayed

    def _write_rows(self, rows: list[dict]) -> None:
        with self.sessions.begin() as session:
            insert_reading_tuples(session, [tuple(r[c] for c in READING_COLUMNS) for r in rows])


async def bounded(awaitable, seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        log.warning("stopping: %s did not finish within %.0f s; left behind", what, seconds)
