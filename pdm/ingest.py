"""Per-endpoint ingest: connect, read a batch, store it; spool when the database blinks.

Each endpoint has its own ``EndpointPoller`` so one server going down never stops the
others. A poller that loses its server backs off (1 s doubling to the endpoint's
``reconnect_max_delay_s``, jittered) and logs once when the endpoint goes down and once when it comes
back, with the reason. A node that turns Bad is logged once by name (and once when it
recovers); its reading is still stored with its status, and the other nodes are unaffected.

Health (readings/s, errors in the last hour) is counted in memory and written to
``health.json`` in the endpoint's spool folder, which status pages read next to the spool
size: no schema change, and the worker stays the only writer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import EndpointConfig
from pdm.connectors import Connector, Reading, is_good, make_connector, status_name
from pdm.connectors.spool import Spool
from pdm.errors import EndpointRefused, EndpointUnavailable
from pdm.storage.readings import READING_COLUMNS as COLUMNS, insert_reading_tuples
from pdm.storage.tables import Endpoint

log = logging.getLogger(__name__)
# Only "cannot reach the database" is spooled; a data error would poison the spool forever.
DB_ERRORS = (OperationalError, InterfaceError)
# Readings are keyed (tag, ts): every commit dirties one page per tag, whatever the number of
# rows per tag. Committing at most every MIN_COMMIT_S (while polls continue) amortises that
# when polls come faster; at the usual poll interval of 1 s every poll still commits at once.
MIN_COMMIT_S = 0.25
MAX_QUEUED_ROWS = 200_000  # beyond this a poll waits for the writer: memory stays bounded
HEALTH_FILE = "health.json"
HEALTH_EVERY_S = 5.0  # a status page refreshes every few seconds: no need to write more often
HOUR = 3600.0


class Health:
    """Counters a status page needs, kept by the poller that owns them."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / HEALTH_FILE
        self.errors: deque[float] = deque()
        self.last_error: str | None = None
        self.window: deque[tuple[float, int]] = deque()  # (time, readings) over the last minute
        self.written_at = 0.0

    def error(self, reason: str, now: float | None = None) -> None:
        now = now or time.time()
        self.errors.append(now)
        while self.errors[0] < now - HOUR:
            self.errors.popleft()
        self.last_error = reason
        self.save(force=True)

    def readings(self, count: int, now: float | None = None) -> None:
        now = now or time.time()
        self.window.append((now, count))
        while self.window[0][0] < now - 60:
            self.window.popleft()
        self.save()

    def snapshot(self, now: float | None = None) -> dict:
        now = now or time.time()
        window = [(t, c) for t, c in self.window if t >= now - 60]
        span = now - window[0][0] if len(window) > 1 else 0.0
        # The first entry opens the window; its readings came before it.
        rate = sum(c for _, c in window[1:]) / span if span > 0 else 0.0
        return {"updated_at": now, "readings_per_s": round(rate, 3),
                "errors_last_hour": sum(1 for t in self.errors if t >= now - HOUR), "last_error": self.last_error}

    def save(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.written_at < HEALTH_EVERY_S:
            return
        self.written_at = now
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.snapshot(now)), encoding="utf-8")
            os.replace(tmp, self.path)  # readers never see half a file
        except OSError:  # health is best effort; the readings path has its own error handling
            pass


def read_health(spool_folder: Path) -> dict:
    """What the worker last wrote for one endpoint; empty when it never ran here."""
    try:
        return json.loads((Path(spool_folder) / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def endpoint_health(session, *, company_id: int, var_dir: Path, now: float | None = None) -> list[dict]:
    """One dict per endpoint; shared with the engineer page so both say the same thing."""
    from pdm.storage.catalog import list_endpoints

    now = now or time.time()
    rows = []
    for ep in list_endpoints(session, company_id=company_id):
        folder = var_dir / "spool" / str(ep.id)  # where pdm.worker puts each endpoint's spool
        health = read_health(folder)
        age = now - health.get("updated_at", 0)
        rows.append({"id": ep.id, "name": ep.name, "enabled": ep.enabled, "state": ep.state,
                     "last_read_at": ep.last_read_at, "last_read": _age(ep.last_read_at, now),
                     # A stopped worker reads nothing per second; its error count ages out.
                     "readings_per_s": health.get("readings_per_s", 0.0) if age < 120 else 0.0,
                     "errors_last_hour": health.get("errors_last_hour", 0) if age < HOUR else 0,
                     "spool_rows": len(Spool(folder, max_bytes=1 << 62)),
                     "last_error": ep.last_error or health.get("last_error")})
    return rows


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    seconds = max(0, now - ts)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


class Backoff:
    """Waits between reconnect attempts: 1 s doubling up to ``cap``.

    Each wait is drawn between half and all of its step ("equal jitter"): the pollers of a
    plant whose network went down together do not all retry in the same instant, and no
    wait is ever longer than ``cap``, which bounds how long data stays away after a server
    is back (the longest wait, plus one poll interval, plus one connect).
    """

    def __init__(self, cap: float, *, first: float = 1.0, rng: Callable[[], float] = random.random):
        self.cap, self.first, self.rng = cap, min(first, cap), rng
        self.delay = self.first  # the next step

    def next(self) -> float:
        step, self.delay = self.delay, min(self.delay * 2, self.cap)
        return step * (0.5 + 0.5 * self.rng())

    def reset(self) -> None:
        self.delay = self.first


class EndpointPoller:
    def __init__(self, *, endpoint_id: int, name: str, config: EndpointConfig, tags: dict[str, int],
                 sessions: sessionmaker[Session], spool: Spool,
                 connector_factory: Callable[[EndpointConfig], Connector] = make_connector):
        self.endpoint_id = endpoint_id
        self.name = name
        self.config = config
        self.tags = tags  # node_id -> tag_id
        self.node_ids = list(tags)
        self.sessions = sessions
        self.spool = spool
        self.connector = connector_factory(config)
        self.state = "NEW"
        self.db_up = True
        self.backoff = Backoff(config.reconnect_max_delay_s)
        self.next_attempt = 0.0
        self.down_since: float | None = None
        self.stored = 0
        self.bad_nodes: dict[str, int] = {}
        self.health = Health(spool.folder)
        self._queue: list[list[Reading]] = []
        self._queued_rows = 0
        self._writer: asyncio.Future | None = None
        self._hurry = asyncio.Event()
        self._last_commit = 0.0

    async def poll_once(self) -> int:
        """One poll: returns how many readings were taken (stored or spooled)."""
        if time.monotonic() < self.next_attempt:
            return 0
        try:
            if not getattr(self.connector, "connected", False):
                await self.connector.connect()
            readings = await self.connector.read(self.node_ids)
        except (EndpointUnavailable, EndpointRefused) as exc:
            await self._went_down(str(exc))
            return 0
        self._came_up()
        self._report_bad_nodes(readings)
        # Writing overlaps the next reads: the server's answer is what a poll waits for, and the
        # database write fits in that wait. One writer at a time keeps the order of writes (and
        # of the spool); batches queued meanwhile go in one transaction.
        self._queue.append(readings)
        self._queued_rows += len(readings)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_queued())
        if self._queued_rows >= MAX_QUEUED_ROWS:
            self._hurry.set()
            await self._writer
        taken = sum(1 for r in readings if r.node_id in self.tags)
        self.health.readings(taken)
        return taken

    async def _write_queued(self) -> None:
        while self._queue:
            wait = self._last_commit + MIN_COMMIT_S - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            batches, self._queue, self._queued_rows = self._queue, [], 0
            await asyncio.to_thread(self._store, [row for b in batches for row in self._rows(b)])
            self._last_commit = time.monotonic()
        self._hurry.clear()

    async def flush(self) -> None:
        """Wait until every batch taken so far is committed (or spooled)."""
        if self._writer is not None:
            self._hurry.set()
            writer, self._writer = self._writer, None
            await writer

    def _report_bad_nodes(self, readings: list[Reading]) -> None:
        bad = {r.node_id: r.quality for r in readings if not is_good(r.quality)}
        for node_id, quality in bad.items():
            if self.bad_nodes.get(node_id) != quality:
                log.warning("endpoint %s: node %s is %s", self.name, node_id, status_name(quality))
                self.health.error(f"node {node_id}: {status_name(quality)}")
        for node_id in self.bad_nodes.keys() - bad.keys():
            log.warning("endpoint %s: node %s is good again", self.name, node_id)
        self.bad_nodes = bad

    def _rows(self, readings: list[Reading]) -> list[tuple]:
        tags = self.tags
        return [(tags[r.node_id], r.ts, r.value, r.quality, r.received_at) for r in readings if r.node_id in tags]

    def _write(self, session: Session, rows: list[tuple]) -> None:
        if not rows:
            return
        insert_reading_tuples(session, rows)
        session.execute(update(Endpoint).where(Endpoint.id == self.endpoint_id).values(
            state="UP", last_error=None, last_read_at=max(r[4] for r in rows),
            readings_total=Endpoint.readings_total + len(rows)))

    def _store(self, rows: list[dict]) -> None:
        try:
            with self.sessions.begin() as session:
                # Spooled rows are older than these: write them first so order is kept.
                self.spool.drain(lambda old: self._write(session, [tuple(r[c] for c in COLUMNS) for r in old]))
                self._write(session, rows)
        except DB_ERRORS as exc:
            self.spool.append([dict(zip(COLUMNS, r)) for r in rows])
            self.health.error(f"database: {str(exc).splitlines()[0]}")
            if self.db_up:
                log.warning("database unavailable for endpoint %s, spooling readings: %s",
                            self.name, str(exc).splitlines()[0])
            self.db_up = False
            return
        if not self.db_up:
            log.warning("database back for endpoint %s, spool drained", self.name)
        self.db_up = True
        self.stored += len(rows)

    async def _went_down(self, reason: str) -> None:
        await self.connector.close()
        # Counted from the end of the failed attempt: a connect that timed out is not a wait.
        self.next_attempt = time.monotonic() + self.backoff.next()
        self.health.error(reason)
        if self.state != "DOWN":
            log.warning("endpoint %s down: %s", self.name, reason)
            self.state = "DOWN"
            self.down_since = time.monotonic()
            await asyncio.to_thread(self._mark, "DOWN", reason)

    def _came_up(self) -> None:
        self.backoff.reset()
        if self.state != "UP":
            if self.state == "DOWN":
                log.warning("endpoint %s back up after %.0f s", self.name, time.monotonic() - self.down_since)
            self.state = "UP"

    def _mark(self, state: str, error: str | None) -> None:
        try:
            with self.sessions.begin() as session:
                session.execute(update(Endpoint).where(Endpoint.id == self.endpoint_id)
                                .values(state=state, last_error=error))
        except DB_ERRORS:  # status is best effort; the readings path has its own spool
            pass

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await self.connector.close()
