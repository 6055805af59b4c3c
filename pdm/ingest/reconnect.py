"""Losing a server and getting it back: the wait between reconnects, and the endpoint's state.

A poller that loses its server retries quickly at first, then backs off (doubling to the endpoint's
``reconnect_max_delay_s``, jittered) while the server stays away, and logs once when the endpoint
goes down and once when it comes back, with the reason; the state is also written to the endpoint's
row. ``Reconnecting`` is a mixin of ``pdm.ingest.poller.EndpointPoller``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from pdm.storage.session import DB_ERRORS
from pdm.storage.tables import Endpoint

if TYPE_CHECKING:
    from pdm.connectors import Connector
    from pdm.ingest.health import Health

log = logging.getLogger("pdm.ingest.poller")  # the poller's messages keep the one logger name they had


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


class Reconnecting:
    """When the next connect may be tried, and the endpoint's state (NEW, UP, DOWN), logged once per change."""

    if TYPE_CHECKING:
        endpoint_id: int
        name: str
        connector: Connector
        sessions: sessionmaker[Session]
        health: Health
        state: str
        backoff: Backoff
        next_attempt: float
        down_since: float | None

        async def flush(self) -> None: ...

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
