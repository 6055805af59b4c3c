"""Per-endpoint ingest: connect, read a batch, store it; spool when the database blinks.

Each endpoint has its own ``EndpointPoller``, polling on its own schedule (``run``), so one
server going down, or one endpoint slower than its interval, never holds up the others. A
poller that loses its server retries quickly at first, then backs off (doubling to the
endpoint's ``reconnect_max_delay_s``, jittered) while the server stays away, and logs once when
the endpoint goes down and once when it comes back, with the reason. A node that turns Bad is
logged once by name (and once when it recovers); its reading is still stored with its status,
and the other nodes are unaffected. One node may feed several tags: it is read once and stored
for each.

Readings the database cannot take go to the endpoint's spool. Once the database is back, live
readings are written first and the spool is replayed behind them in bounded batches, each its
own transaction, so a large spool never stalls polling and a batch leaves the spool only once
it is committed. What nobody read while the endpoint was away is read back from the server's
history first (``pdm.ingest.readback``); gaps it found wait beside the spool
(``pdm.ingest.pending_gaps``) until a transaction records them.

Health (readings/s, errors in the last hour) is counted in memory (``pdm.ingest.health``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import EndpointConfig, MqttEndpointConfig
from pdm.connectors import Connector, Reading, is_good, make_connector, status_name
from pdm.errors import EndpointRefused, EndpointUnavailable
from pdm.ingest import pending_gaps, readback
from pdm.ingest.health import Health
from pdm.ingest.pending_gaps import PendingGaps
from pdm.ingest.readback import ReadBack
from pdm.ingest.spool import DRAIN_BATCH_ROWS, Spool
from pdm.storage.readings import READING_COLUMNS as COLUMNS
from pdm.storage.readings import insert_reading_tuples
from pdm.storage.session import DB_ERRORS
from pdm.storage.tables import Endpoint

log = logging.getLogger(__name__)
# Readings are keyed (tag, ts): every commit dirties one page per tag, whatever the number of
# rows per tag. Committing at most every MIN_COMMIT_S (while polls continue) amortises that
# when polls come faster; at the usual poll interval of 1 s every poll still commits at once.
MIN_COMMIT_S = 0.25
MAX_QUEUED_ROWS = 200_000  # beyond this a poll waits for the writer: memory stays bounded
CLOSE_REPLAY_S = 5.0  # a closing poller replays its spool this long at most; the rest waits on disk
SPOOL_RETRY_S = 1.0  # while the database is down, a replay is tried at most this often


class Backoff:
    """Waits between reconnect attempts: 1 s doubling up to ``cap``.

    Each wait is drawn between half and all of its step ("equal jitter"): the pollers of a
    plant whose network went down together do not all retry in the same instant, and no
    wait is ever longer than ``cap``, which bounds how long data stays away after a server
    is back (the longest wait, plus one poll interval, plus one connect). The first steps are
    short: a server that restarts in a few seconds is read again within a fraction of its
    downtime, and the wait grows only while it stays away.
    """

    def __init__(self, cap: float, *, first: float = 0.25, rng: Callable[[], float] = random.random):
        self.cap, self.first, self.rng = cap, min(first, cap), rng
        self.delay = self.first  # the next step

    def next(self) -> float:
        step, self.delay = self.delay, min(self.delay * 2, self.cap)
        return step * (0.5 + 0.5 * self.rng())

    def reset(self) -> None:
        self.delay = self.first


class EndpointPoller:
    def __init__(
        self,
        *,
        endpoint_id: int,
        name: str,
        config: EndpointConfig | MqttEndpointConfig,
        tags: Mapping[str, int | Sequence[int]],
        sessions: sessionmaker[Session],
        spool: Spool,
        connector_factory: Callable[[EndpointConfig | MqttEndpointConfig], Connector] = make_connector,
    ):
        self.endpoint_id = endpoint_id
        self.name = name
        self.config = config
        # node_id -> the tags it feeds (usually one; a header pressure may feed two pumps' models)
        self.tags: dict[str, tuple[int, ...]] = {n: (t,) if isinstance(t, int) else tuple(t) for n, t in tags.items()}
        self.node_ids = list(self.tags)
        self.sessions = sessions
        self.spool = spool
        self.connector = connector_factory(config)
        self.state = "NEW"
        self.db_up = True
        self.backoff = Backoff(config.reconnect_max_delay_s)
        self.next_attempt = 0.0
        self.down_since: float | None = None
        self.stored = 0
        self.history_nodes: int | None = None  # nodes whose history the server keeps; None: not connected yet
        self.quirks = 0  # values and timestamps the connector could not take as they came
        self.backfilled = 0  # readings read back from the server's history after an outage or a take-over
        self._read_at: float | None = None  # when the last successful read was asked
        self.pending_gaps = PendingGaps(spool.folder)  # those a predecessor on this folder left are recorded first
        self.read_back = ReadBack(
            endpoint_id=endpoint_id,
            name=name,
            tags=self.tags,
            pending_gaps=self.pending_gaps,
            queue=self._queue_read_back,
        )
        self.catch_up_ready = False  # written with the next transaction that goes through
        self.bad_nodes: dict[str, int] = {}
        self.health = Health()
        self._queue: list[list[Reading]] = []
        self._queued_rows = 0
        self._writer: asyncio.Future | None = None
        self._hurry = asyncio.Event()
        self._last_commit = 0.0
        self._next_replay = 0.0
        self.replay_batch_rows = DRAIN_BATCH_ROWS
        self._closing = False
        self._stop = asyncio.Event()
        self._last_ts: dict[int, float] = {}  # tag_id -> source time of the last value taken
        self.polls = 0
        self.overruns = 0  # polls that took longer than poll_interval_s
        self._overrunning = False

    def spool_rows(self) -> int:
        """Rows waiting in the spool (kept in memory by the spool: never read from disk here)."""
        return self.spool.rows

    async def run(self) -> None:
        """Poll every ``poll_interval_s`` until ``stop``; a poll that overruns its slot is followed at once
        by the next one (missed slots are skipped, not made up in a burst), and the overrun is logged."""
        interval = self.config.poll_interval_s
        slot = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # an unforeseen failure of one poll must not end this endpoint's polling
                log.exception("endpoint %s: poll failed", self.name)
                self.health.error("poll failed: see the worker log")
            self._measure(time.monotonic() - started, interval)
            slot = max(slot + interval, time.monotonic())
            try:
                await asyncio.wait_for(self._stop.wait(), slot - time.monotonic())
            except TimeoutError:
                pass

    def _measure(self, took: float, interval: float) -> None:
        self.polls += 1
        late = took > interval
        self.overruns += late
        if late and not self._overrunning:
            log.warning(
                "endpoint %s: a poll took %.2f s, longer than poll_interval_s %g s: polling as fast as it can",
                self.name,
                took,
                interval,
            )
        self._overrunning = late

    async def stop(self) -> None:
        """End ``run`` after the poll under way (if any)."""
        self._stop.set()

    async def poll_once(self) -> int:
        """One poll: returns how many readings were taken (stored or spooled)."""
        self._kick_replay()
        if time.monotonic() < self.next_attempt:
            return 0
        try:
            if not getattr(self.connector, "connected", False):
                await self.connector.connect()
                self.history_nodes = await readback.history_nodes(self.connector, self.node_ids)
            asked_at = time.time()
            readings = await self.connector.read(self.node_ids)
        except (EndpointUnavailable, EndpointRefused) as exc:
            await self._went_down(str(exc))
            return 0
        was = self.state
        self._came_up()
        self._report_bad_nodes(readings)
        lost: EndpointUnavailable | None = None
        try:
            if was in ("NEW", "DOWN"):  # read back what nobody read meanwhile, before the live values
                await self.read_back.backfill(
                    was,
                    readings,
                    last_ts=self._last_ts,
                    read_at=self._read_at,
                    connector=self.connector,
                    sessions=self.sessions,
                    poll_interval_s=self.config.poll_interval_s,
                    backfill_max_h=self.config.backfill_max_h,
                )
            elif self.read_back.deferred_until is not None and self.catch_up_ready:
                await self.read_back.catch_up(
                    connector=self.connector,
                    sessions=self.sessions,
                    poll_interval_s=self.config.poll_interval_s,
                    backfill_max_h=self.config.backfill_max_h,
                )
        except EndpointUnavailable as exc:
            lost = exc
        # When the read was asked, not answered: a value the server made while the answer travelled
        # is not in it, and must fall inside the gap if the connection drops now.
        self._read_at = asked_at
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
        if lost is not None:
            await self._went_down(str(lost))
        taken = sum(len(self.tags.get(r.node_id, ())) for r in readings)
        self.health.readings(taken)
        return taken

    def _queue_read_back(self, readings: list[Reading]) -> None:
        if readings:
            self._queue.append(readings)
            self._queued_rows += len(readings)
        self.backfilled += len(readings)

    def _kick_replay(self) -> None:
        """Start the writer for the spool alone (no live rows: the server may be the one that is down)."""
        if self._unwritten() and not self._closing and (self._writer is None or self._writer.done()):
            if time.monotonic() >= self._next_replay:
                self._writer = asyncio.ensure_future(self._write_queued())

    async def _write_queued(self) -> None:
        while self._queue or self._replay_due():
            wait = self._last_commit + MIN_COMMIT_S - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), wait)
                except TimeoutError:
                    pass
            batches, self._queue, self._queued_rows = self._queue, [], 0
            if batches or self.pending_gaps:
                await asyncio.to_thread(self._store, [row for b in batches for row in self._rows(b)])
            if self._replay_due():  # live rows first: the spool goes behind them, a bounded batch at a time
                await asyncio.to_thread(self._replay_some)
            self._last_commit = time.monotonic()
        self._hurry.clear()

    def _replay_due(self) -> bool:
        # Not while a flush waits (it waits for the live rows, not for a long replay), nor while closing:
        # a spool left over is replayed by the next poll, or by the next holder of the endpoint.
        return (
            self._unwritten() and not (self._closing or self._hurry.is_set()) and time.monotonic() >= self._next_replay
        )

    def _unwritten(self) -> bool:
        """Something on disk waits for the database: spooled readings, or gaps (stored by ``_store``)."""
        return bool(self.spool.rows or self.pending_gaps)

    async def flush(self) -> None:
        """Wait until every batch taken so far is committed (or spooled)."""
        if self._writer is not None:
            self._hurry.set()
            writer, self._writer = self._writer, None
            await writer

    def _report_quirks(self) -> set[str]:
        """Log and count what the connector noticed (a NaN, a clock that cannot be believed), each once per
        node and kind; returns the nodes it spoke of."""
        noted = set()
        for note in getattr(self.connector, "take_notes", list)():
            log.warning("endpoint %s: %s", self.name, note)
            self.health.error(note)
            self.quirks += 1
            if note.startswith("node "):
                noted.add(note[5:].split(": ", 1)[0])
        return noted

    def _report_bad_nodes(self, readings: list[Reading]) -> None:
        explained = self._report_quirks()  # a node whose note says why it is Bad is not logged twice
        bad = {r.node_id: r.quality for r in readings if not is_good(r.quality)}
        for node_id, quality in bad.items():
            if self.bad_nodes.get(node_id) != quality and node_id not in explained:
                log.warning("endpoint %s: node %s is %s", self.name, node_id, status_name(quality))
                self.health.error(f"node {node_id}: {status_name(quality)}")
        for node_id in self.bad_nodes.keys() - bad.keys():
            log.warning("endpoint %s: node %s is good again", self.name, node_id)
        self.bad_nodes = bad

    def _rows(self, readings: list[Reading]) -> list[tuple]:
        # Polling faster than a tag changes re-reads the same value: the database would ignore it
        # (same tag and time), but only after the work of sending it. Dropping it here halves the
        # writes when polling at twice the update rate.
        tags, last = self.tags, self._last_ts
        rows = []
        for r in readings:
            for tag_id in tags.get(r.node_id, ()):
                if last.get(tag_id) != r.ts:
                    last[tag_id] = r.ts
                    rows.append((tag_id, r.ts, r.value, r.quality, r.received_at))
        return rows

    def _write(self, session: Session, rows: list[tuple], *, live: bool = True) -> None:
        if not rows:
            return
        insert_reading_tuples(session, rows)
        values: dict = {"readings_total": Endpoint.readings_total + len(rows)}
        if live:  # replayed rows are older than what was read since: they say nothing of the last read
            values["last_read_at"] = max(r[4] for r in rows)
            if self.state == "UP":
                values.update(state="UP", last_error=None)
        session.execute(update(Endpoint).where(Endpoint.id == self.endpoint_id).values(**values))

    def _replay_some(self) -> None:
        """Replay one bounded batch of the spool in its own transaction; it leaves the spool once committed."""
        batch = self.spool.peek(self.replay_batch_rows)
        if batch is None:
            return
        try:
            with self.sessions.begin() as session:
                self._write(session, [tuple(r[c] for c in COLUMNS) for r in batch.rows], live=False)
        except DB_ERRORS as exc:
            self._database_down(exc)
            return
        self.spool.commit(batch)
        self.db_up = True
        if not self.spool.rows:
            log.warning("endpoint %s: spool replayed", self.name)

    def _database_down(self, exc: Exception) -> None:
        self._next_replay = time.monotonic() + SPOOL_RETRY_S
        self.health.error(f"database: {str(exc).splitlines()[0]}")
        if self.db_up:
            log.warning(
                "database unavailable for endpoint %s, spooling readings: %s", self.name, str(exc).splitlines()[0]
            )
        self.db_up = False

    def _store(self, rows: list[tuple]) -> None:
        gaps = self.pending_gaps.peek()  # a backfill may add more while this transaction runs
        if not rows and not gaps:  # values read again unchanged: nothing to write, nothing learnt of the database
            return
        try:
            with self.sessions.begin() as session:
                self._write(session, rows)
                pending_gaps.record(session, gaps, name=self.name)
        except DB_ERRORS as exc:
            self.spool.append([dict(zip(COLUMNS, r)) for r in rows])
            self._database_down(exc)
            return
        self.pending_gaps.commit(gaps)
        if not self.db_up:
            log.warning(
                "database back for endpoint %s; replaying %d spooled readings behind the live ones",
                self.name,
                self.spool.rows,
            )
        self.db_up = True
        self._next_replay = 0.0
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
            # Readings taken before the outage are committed first: their write marks the endpoint
            # UP, and committed after this mark it would hide the outage.
            await self.flush()
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
                session.execute(
                    update(Endpoint).where(Endpoint.id == self.endpoint_id).values(state=state, last_error=error)
                )
        except DB_ERRORS:  # status is best effort; the readings path has its own spool
            pass

    async def close(self) -> None:
        """Write what was read and close; a spool left over stays on disk for the next holder's replay."""
        self._stop.set()
        try:
            await self.flush()
            self._closing = True
            if self.pending_gaps:  # the database may be back since the last write: no reason to leave them
                await asyncio.to_thread(self._store, [])
            deadline = time.monotonic() + CLOSE_REPLAY_S
            while self.spool.rows and time.monotonic() < deadline:
                before = self.spool.rows
                await asyncio.to_thread(self._replay_some)
                if self.spool.rows == before:
                    break  # the database is still away: the spool waits on disk
        finally:
            self._closing = True
            await self.connector.close()
