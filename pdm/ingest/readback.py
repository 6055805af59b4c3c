"""The poller's read-back: what nobody read while its endpoint was away, or held by another worker.

``pdm.ingest.backfill`` says what the server's history gives and what becomes a gap; this is the
poller's side of it: from where each tag is read back, when (at once, or, for a poller started
while the database was down, once the database and its predecessor's spools are in), and where
the result goes (readings to the poller's write queue, gaps to ``pdm.ingest.pending_gaps``).

The connector, the session factory and the poll interval are passed with each call, not kept:
the poller may be handed new ones between polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from pdm.connectors import Connector, Reading
from pdm.ingest import backfill
from pdm.ingest.pending_gaps import PendingGaps
from pdm.storage.session import DB_ERRORS

log = logging.getLogger(__name__)


class ReadBack:
    """One poller's read-back; what it keeps between polls is the backfill a database outage put off."""

    def __init__(
        self,
        *,
        endpoint_id: int,
        name: str,
        tags: dict[str, tuple[int, ...]],
        pending_gaps: PendingGaps,
        queue: Callable[[list[Reading]], None],
    ):
        self.endpoint_id = endpoint_id
        self.name = name
        self.tags = tags
        self.pending_gaps = pending_gaps
        self.queue = queue  # takes what was read back, ahead of the live values of the same poll
        # Set when the first read came while the database was down: the backfill waits for it, and for
        # the share to say the spools of the worker this one replaces are stored (``catch_up_ready``).
        self.deferred_until: float | None = None
        self.deferred_first: dict[int, float] = {}  # tag -> source time of its first value read

    async def backfill(
        self,
        was: str,
        readings: list[Reading],
        *,
        last_ts: dict[int, float],
        read_at: float | None,
        connector: Connector,
        sessions: sessionmaker[Session],
        poll_interval_s: float,
        backfill_max_h: float,
    ) -> None:
        """Queue what the server's history holds since the last value stored; what it cannot give is a gap."""
        until = min((r.received_at for r in readings), default=time.time())
        current = {r.node_id: r.ts for r in readings}
        if was == "DOWN":
            last, unread_from = dict(last_ts), read_at or until
        else:  # a new poller (a take-over, a restart): the database says where its data stops
            try:
                last = await asyncio.to_thread(self._stored_last, sessions)
            except DB_ERRORS:
                # Started while the database is down: what the previous holder missed before this first
                # read is read back once the database, and that holder's spool, are in (``catch_up``).
                self.deferred_until = until
                # Its own first values reach the database first (from its spool): the stretch to read back
                # ends before them, per tag.
                self.deferred_first = {t: r.ts for r in readings for t in self.tags.get(r.node_id, ())}
                return
            if not last:
                return  # an endpoint never read before: nothing was missed
            unread_from = max(last.values())
        await self._read_back(connector, poll_interval_s, backfill_max_h, last, unread_from, until, current)

    async def catch_up(
        self,
        *,
        connector: Connector,
        sessions: sessionmaker[Session],
        poll_interval_s: float,
        backfill_max_h: float,
    ) -> None:
        """The backfill a poller started during a database outage could not do: up to its first read."""
        until = self.deferred_until
        assert until is not None
        try:
            last = await asyncio.to_thread(self._stored_last, sessions, self.deferred_first)
        except DB_ERRORS:
            return  # down again: next poll
        self.deferred_until = None
        if last:
            # What the node held at ``until`` is what this poller first read of it, not what it reads now.
            first = self.deferred_first
            current = {n: first[ts[0]] for n, ts in self.tags.items() if ts[0] in first}
            await self._read_back(connector, poll_interval_s, backfill_max_h, last, max(last.values()), until, current)

    async def _read_back(
        self,
        connector: Connector,
        poll_interval_s: float,
        backfill_max_h: float,
        last: dict[int, float],
        unread_from: float,
        until: float,
        current: dict[str, float],
    ) -> None:
        missed = await backfill.read_missed(
            connector,
            endpoint_id=self.endpoint_id,
            tags=self.tags,
            since=backfill.since_by_node(self.tags, last),
            unread_from=unread_from,
            until=until,
            max_back_s=backfill_max_h * 3600,
            current=current,
            poll_interval_s=poll_interval_s,
        )
        self.queue(missed.readings)
        await asyncio.to_thread(self.pending_gaps.add, missed.gaps)
        if missed.readings or missed.gaps:
            reasons = sorted({g["reason"] for g in missed.gaps})
            log.warning(
                "endpoint %s: %d readings read back from history%s",
                self.name,
                len(missed.readings),
                f"; {len(missed.gaps)} tags recorded as gaps ({'; '.join(reasons)})" if missed.gaps else "",
            )

    def _stored_last(self, sessions: sessionmaker[Session], before: dict[int, float] | None = None) -> dict[int, float]:
        # However old: a tag last stored before the backfill horizon is read back from the horizon on, and
        # the stretch before it is a gap (``backfill.read_missed``), as after a reconnect.
        with sessions() as session:
            tag_ids = {t for ts in self.tags.values() for t in ts}
            return backfill.last_stored(session, tag_ids, before=before)


async def history_nodes(connector: Connector, node_ids: Sequence[str]) -> int:
    """How many nodes the server keeps history for (asked once per connection, shown in health)."""
    ask = getattr(connector, "historizing", None)
    if ask is None:
        return 0
    return sum(bool(v) for v in (await ask(node_ids)).values())
