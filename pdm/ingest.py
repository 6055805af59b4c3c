"""Per-endpoint ingest: connect, read a batch, store it; spool when the database blinks.

Each endpoint has its own ``EndpointPoller`` so one server going down never stops the
others. A poller that loses its server backs off (1 s doubling to the endpoint's
``reconnect_max_delay_s``) and logs once when the endpoint goes down and once when it comes
back, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import EndpointConfig
from pdm.connectors import Connector, Reading, make_connector
from pdm.connectors.spool import Spool
from pdm.errors import EndpointRefused, EndpointUnavailable
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Endpoint

log = logging.getLogger(__name__)
# Only "cannot reach the database" is spooled; a data error would poison the spool forever.
DB_ERRORS = (OperationalError, InterfaceError)


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
        self.delay = 1.0
        self.next_attempt = 0.0
        self.stored = 0

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
        rows = self._rows(readings)
        await asyncio.to_thread(self._store, rows)
        return len(rows)

    def _rows(self, readings: list[Reading]) -> list[dict]:
        return [{"tag_id": self.tags[r.node_id], "ts": r.ts, "value": r.value, "quality": r.quality,
                 "received_at": r.received_at} for r in readings if r.node_id in self.tags]

    def _write(self, session: Session, rows: list[dict]) -> None:
        insert_readings(session, rows)
        if rows:
            session.execute(update(Endpoint).where(Endpoint.id == self.endpoint_id).values(
                state="UP", last_error=None, last_read_at=max(r["received_at"] for r in rows),
                readings_total=Endpoint.readings_total + len(rows)))

    def _store(self, rows: list[dict]) -> None:
        try:
            with self.sessions.begin() as session:
                # Spooled rows are older than these: write them first so order is kept.
                self.spool.drain(lambda old: self._write(session, old))
                self._write(session, rows)
        except DB_ERRORS as exc:
            self.spool.append(rows)
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
        self.next_attempt = time.monotonic() + self.delay
        self.delay = min(self.delay * 2, self.config.reconnect_max_delay_s)
        if self.state != "DOWN":
            log.warning("endpoint %s down: %s", self.name, reason)
            self.state = "DOWN"
            await asyncio.to_thread(self._mark, "DOWN", reason)

    def _came_up(self) -> None:
        self.delay = 1.0
        if self.state != "UP":
            if self.state == "DOWN":
                log.warning("endpoint %s back up", self.name)
            self.state = "UP"

    def _mark(self, state: str, error: str | None) -> None:
        try:
            with self.sessions.begin() as session:
                session.execute(update(Endpoint).where(Endpoint.id == self.endpoint_id)
                                .values(state=state, last_error=error))
        except DB_ERRORS:  # status is best effort; the readings path has its own spool
            pass

    async def close(self) -> None:
        await self.connector.close()
