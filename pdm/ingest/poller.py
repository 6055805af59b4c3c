"""Per-endpoint ingest: connect, read a batch, store it; spool when the database blinks.

Each endpoint has its own ``EndpointPoller``, polling on its own schedule (``run``), so one
server going down, or one endpoint slower than its interval, never holds up the others. One node
may feed several tags: it is read once and stored for each. The poller is made of:

- ``pdm.ingest.reconnect``: the backoff between reconnects and the endpoint's state, logged once
  down and once up;
- ``pdm.ingest.node_reports``: Bad nodes and connector notes, logged once per node;
- ``pdm.ingest.writer``: the write queue, the spool when the database is away, and its replay
  behind the live readings;
- ``pdm.ingest.readback``: what nobody read while the endpoint was away, read back from the
  server's history first; gaps it found wait beside the spool (``pdm.ingest.pending_gaps``).

Health (readings/s, errors in the last hour) is counted in memory (``pdm.ingest.health``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy.orm import Session, sessionmaker

from pdm.config import EndpointConfig, MqttEndpointConfig
from pdm.connectors import Connector, Reading, make_connector
from pdm.errors import EndpointRefused, EndpointUnavailable
from pdm.ingest import readback
from pdm.ingest.health import Health
from pdm.ingest.node_reports import NodeReports
from pdm.ingest.pending_gaps import PendingGaps
from pdm.ingest.readback import ReadBack
from pdm.ingest.reconnect import Backoff, Reconnecting
from pdm.ingest.spool import DRAIN_BATCH_ROWS, Spool
from pdm.ingest.writer import MAX_QUEUED_ROWS, Writer

__all__ = ["Backoff", "EndpointPoller"]

log = logging.getLogger(__name__)


class EndpointPoller(Writer, Reconnecting, NodeReports):
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

    async def close(self) -> None:
        """Write what was read and close; a spool left over stays on disk for the next holder's replay."""
        self._stop.set()
        try:
            await self.flush()
            self._closing = True
            if self.pending_gaps:  # the database may be back since the last write: no reason to leave them
                await asyncio.to_thread(self._store, [])
            await self._replay_left_over()
        finally:
            self._closing = True
            await self.connector.close()
