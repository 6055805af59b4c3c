"""The poller's writer: what a poll took goes to the database, in order, one writer at a time.

Batches queued while a transaction runs go in the next one (at most every ``MIN_COMMIT_S``). Readings
the database cannot take go to the endpoint's spool; once the database is back, live readings are
written first and the spool is replayed behind them in bounded batches, each its own transaction, so
a large spool never stalls polling and a batch leaves the spool only once it is committed. Gaps the
read-back found (``pdm.ingest.pending_gaps``) go with the next transaction that goes through.

A mixin of ``pdm.ingest.poller.EndpointPoller``: it works on the poller's own attributes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from pdm.connectors import Reading
from pdm.ingest import pending_gaps
from pdm.storage.readings import READING_COLUMNS as COLUMNS
from pdm.storage.readings import insert_reading_tuples
from pdm.storage.session import DB_ERRORS
from pdm.storage.tables import Endpoint

if TYPE_CHECKING:
    from pdm.ingest.health import Health
    from pdm.ingest.pending_gaps import PendingGaps
    from pdm.ingest.spool import Spool

log = logging.getLogger("pdm.ingest.poller")  # the poller's messages keep the one logger name they had
# Readings are keyed (tag, ts): every commit dirties one page per tag, whatever the number of
# rows per tag. Committing at most every MIN_COMMIT_S (while polls continue) amortises that
# when polls come faster; at the usual poll interval of 1 s every poll still commits at once.
MIN_COMMIT_S = 0.25
MAX_QUEUED_ROWS = 200_000  # beyond this a poll waits for the writer: memory stays bounded
CLOSE_REPLAY_S = 5.0  # a closing poller replays its spool this long at most; the rest waits on disk
SPOOL_RETRY_S = 1.0  # while the database is down, a replay is tried at most this often


class Writer:
    """The write queue of a poller, its spool replay, and what the database's state is."""

    if TYPE_CHECKING:
        endpoint_id: int
        name: str
        state: str
        tags: dict[str, tuple[int, ...]]
        sessions: sessionmaker[Session]
        spool: Spool
        pending_gaps: PendingGaps
        health: Health
        db_up: bool
        stored: int
        replay_batch_rows: int
        _queue: list[list[Reading]]
        _queued_rows: int
        _writer: asyncio.Future | None
        _hurry: asyncio.Event
        _last_commit: float
        _next_replay: float
        _closing: bool
        _last_ts: dict[int, float]

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

    async def _replay_left_over(self) -> None:
        """At close: replay the spool for ``CLOSE_REPLAY_S`` at most; what is left waits on disk."""
        deadline = time.monotonic() + CLOSE_REPLAY_S
        while self.spool.rows and time.monotonic() < deadline:
            before = self.spool.rows
            await asyncio.to_thread(self._replay_some)
            if self.spool.rows == before:
                break  # the database is still away: the spool waits on disk
