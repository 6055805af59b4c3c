"""Reading back what an outage made the poller miss, and saying what could not be read back.

After a reconnect, and when a worker starts polling an endpoint another worker held, each node
is read from its server's history (OPC UA HistoryRead, ``pdm.connectors.history``) from the
source time of the last value stored for its tags. A node the server keeps no history for, or
refuses, becomes a gap row (``pdm.storage.gaps``) covering the time nobody was reading it:
shown on the asset chart and counted in data coverage, never silently missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.connectors import Reading
from pdm.storage.tables import Reading as StoredReading

BACKFILL_MAX_S = 24 * 3600.0  # history is asked for this far back at most; older is a gap
NO_HISTORY = "the connector cannot read history"


@dataclass
class Missed:
    readings: list[Reading] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)  # rows for pdm.storage.gaps.record_gaps


def last_stored(
    session: Session, tag_ids: Iterable[int], *, not_before: float, before: Mapping[int, float] | None = None
) -> dict[int, float]:
    """Tag id → source time of its newest stored reading at or after ``not_before`` and, where ``before``
    names the tag, before that time (one index lookup per tag)."""
    out = {}
    before = before or {}
    for tag_id in tag_ids:
        stmt = select(func.max(StoredReading.ts)).where(StoredReading.tag_id == tag_id, StoredReading.ts >= not_before)
        if tag_id in before:
            stmt = stmt.where(StoredReading.ts < before[tag_id])
        ts = session.execute(stmt).scalar()
        if ts is not None:
            out[tag_id] = float(ts)
    return out


def since_by_node(tags: Mapping[str, tuple[int, ...]], last: Mapping[int, float]) -> dict[str, float]:
    """Per node, the oldest of its tags' last times: a node feeding two tags is read back for both."""
    since = {}
    for node_id, tag_ids in tags.items():
        known = [last[t] for t in tag_ids if t in last]
        if known:
            since[node_id] = min(known)
    return since


async def read_missed(
    connector,
    *,
    endpoint_id: int,
    tags: Mapping[str, tuple[int, ...]],
    since: Mapping[str, float],
    unread_from: float,
    until: float,
) -> Missed:
    """History over ``(since[node], until]``; nodes it cannot give become gaps over ``[unread_from, until]``.

    ``unread_from`` is when the last poll that read the endpoint ended (or, after a take-over, the
    newest time stored): what lies between was never seen. Raises EndpointUnavailable when the
    connection is lost meanwhile, as a read does.
    """
    floor = until - BACKFILL_MAX_S
    since = {n: max(t, floor) for n, t in since.items() if t < until}
    missed = Missed()
    if not since:
        return missed
    reader = getattr(connector, "read_history", None)
    if reader is None:
        failed = {n: NO_HISTORY for n in since}
    else:
        result = await reader(dict(since), until)
        failed = result.failed
        missed.readings = [r for node in since for r in result.readings.get(node, ())]
    recorded_at = time.time()
    for node_id, reason in failed.items():
        for tag_id in tags.get(node_id, ()):
            missed.gaps.append(
                {
                    "endpoint_id": endpoint_id,
                    "tag_id": tag_id,
                    "start_ts": min(unread_from, until),
                    "end_ts": until,
                    "reason": f"not backfilled: {reason}",
                    "recorded_at": recorded_at,
                }
            )
    return missed
