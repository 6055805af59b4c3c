"""Reading back what an outage made the poller miss, and saying what could not be read back.

After a reconnect, and when a worker starts polling an endpoint another worker held, each node
is read from its server's history (OPC UA HistoryRead, ``pdm.connectors.history``) from the
source time of the last value stored for its tags. A node the server keeps no history for, or
refuses, becomes a gap row (``pdm.storage.gaps``) covering the time nobody was reading it:
shown on the asset chart and counted in data coverage, never silently missing.

A history that keeps less than the outage lasted (two minutes kept, five missed) answers with
values that start late. That is told apart from "no change until then" by the history holding
the value already stored: if it does, it reaches back over the whole stretch; if it does not,
and its first value (or, when it gives none, the node's current value) came more than
``SLACK_POLLS`` poll intervals after the stretch began, what lies before is a gap.

History is asked for no further back than the endpoint's ``backfill_max_h`` (24 h unless the plant
file says otherwise): a server with a long history and many nodes would otherwise be asked for days
of values after a long outage. What the outage lost before that horizon is a gap too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.connectors import Reading
from pdm.storage.tables import Reading as StoredReading

NO_HISTORY = "the connector cannot read history"
CUT_SHORT = "the server's history does not reach back that far"
BEYOND_HORIZON = "older than the endpoint's backfill_max_h"
# A value this many poll intervals after the last read is still the next one expected: the
# server's clock and ours disagree a little, and a device updates on its own schedule.
SLACK_POLLS = 2


@dataclass
class Missed:
    readings: list[Reading] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)  # rows for pdm.storage.gaps.record_gaps


def last_stored(
    session: Session, tag_ids: Iterable[int], *, before: Mapping[int, float] | None = None
) -> dict[int, float]:
    """Tag id → source time of its newest stored reading, where ``before`` names the tag before that time
    (one index lookup per tag). However old: what lies before the backfill horizon is a gap."""
    out = {}
    before = before or {}
    for tag_id in tag_ids:
        stmt = select(func.max(StoredReading.ts)).where(StoredReading.tag_id == tag_id)
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
    max_back_s: float,
    current: Mapping[str, float] | None = None,
    poll_interval_s: float = 0.0,
) -> Missed:
    """History over ``(since[node], until]``; nodes it cannot give become gaps over ``[unread_from, until]``.

    ``unread_from`` is when the last poll that read the endpoint ended (or, after a take-over, the
    newest time stored): what lies between was never seen. ``current`` is, per node, the source time
    of the value read at ``until``. A node whose history does not reach back to ``unread_from`` is a
    gap from there to its history's first value (see the module's docstring). History is read from
    ``max_back_s`` before ``until`` at the earliest; the stretch before is a gap. Raises
    EndpointUnavailable when the connection is lost meanwhile, as a read does.
    """
    floor = until - max_back_s
    since = {n: max(t, floor) for n, t in since.items() if t < until}
    missed = Missed()
    if not since:
        return missed
    reader = getattr(connector, "read_history", None)
    unknown: dict[str, tuple[float, float, str]] = {}  # node -> the stretch history cannot tell, and why
    if reader is None:
        unknown = {n: (min(unread_from, until), until, NO_HISTORY) for n in since}
    else:
        result = await reader(dict(since), until)
        unknown = {n: (min(unread_from, until), until, why) for n, why in result.failed.items()}
        missed.readings = [r for node in since for r in result.readings.get(node, ())]
        slack = SLACK_POLLS * poll_interval_s
        for node_id in since.keys() - unknown.keys() - result.reached:
            got = result.readings.get(node_id) or []
            start = min(max(unread_from, since[node_id]), until)
            end = _first_known(got, (current or {}).get(node_id), until)
            if end is not None and end - start > slack:
                unknown[node_id] = (start, end, CUT_SHORT)
    stretches = [(node_id, *stretch) for node_id, stretch in unknown.items()]
    if unread_from < floor:  # a gap from unread_from already covers it (no history, a failed read)
        stretches += [(n, unread_from, floor, BEYOND_HORIZON) for n in since if unknown.get(n, (floor,))[0] >= floor]
    recorded_at = time.time()
    for node_id, start, end, reason in stretches:
        for tag_id in tags.get(node_id, ()):
            missed.gaps.append(
                {
                    "endpoint_id": endpoint_id,
                    "tag_id": tag_id,
                    "start_ts": start,
                    "end_ts": end,
                    "reason": f"not backfilled: {reason}",
                    "recorded_at": recorded_at,
                }
            )
    return missed


def _first_known(got: list[Reading], current: float | None, until: float) -> float | None:
    """Where a history that does not reach back starts to be believed: its first value, or, when it gave
    none, the current value's time if that lies within the stretch (it changed, and history lost it).
    None: nothing says anything changed, so nothing was missed."""
    if got:
        return min(r.ts for r in got)
    if current is not None and current <= until:
        return current
    return None
