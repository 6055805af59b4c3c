"""OPC UA history: which nodes a server keeps history for, and their raw values over a time range.

Backfill after an outage reads what the server stored while we could not poll
(``pdm.ingest.readback`` decides when and from which time). The range is ``(since, until]``:
a value stamped exactly ``since`` is the one already stored and is skipped, a value at
``until`` is kept, so a backfill that ends where the next one starts stores nothing twice.

Servers differ, and these functions do not trust any one of them:

- A node that is not historized comes back from asyncua's server as an empty Good answer,
  indistinguishable from "no values then"; ``read_raw`` therefore checks each node's
  ``UserAccessLevel`` HistoryRead bit first and reports a node without it as
  ``BadHistoryOperationUnsupported`` instead of reading it.
- A server should hand back a ContinuationPoint when ``NumValuesPerNode`` cuts an answer short;
  some (asyncua's among them) just truncate. A full page without one is followed from its last
  timestamp, skipping the values already taken at that instant.
- A node the server refuses, or a whole request refused (``BadServiceUnsupported``), is reported
  per node by its status code name; the call does not raise. Only a lost connection raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncua import ua

from pdm.connectors.base import Reading, is_good, status_name

MAX_NODES_PER_HISTORY_READ_NODE = ua.NodeId(
    ua.Int32(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadData)
)
DEFAULT_MAX_VALUES = 1000  # values per node in one HistoryRead answer
DEFAULT_CHUNK = 100  # nodes per request, as for reads
# Nodes whose start times are this close share one request (from the earliest of them); what lies
# before a node's own start is dropped here. Far-apart starts get requests of their own.
GROUP_SPREAD_S = 300.0
BAD_TYPE_MISMATCH = 0x80740000
BAD_OUT_OF_RANGE = 0x803C0000
BAD_HISTORY_UNSUPPORTED = 0x80720000
HISTORY_READ_BIT = 1 << ua.AccessLevel.HistoryRead.value
# Status codes that mean the session or channel is gone: raised, never reported per node.
_LOST = {
    ua.StatusCodes.BadSessionIdInvalid,
    ua.StatusCodes.BadSessionClosed,
    ua.StatusCodes.BadSessionNotActivated,
    ua.StatusCodes.BadSecureChannelIdInvalid,
    ua.StatusCodes.BadSecureChannelClosed,
    ua.StatusCodes.BadConnectionClosed,
    ua.StatusCodes.BadServerNotConnected,
    ua.StatusCodes.BadCommunicationError,
    ua.StatusCodes.BadTimeout,
}


@dataclass
class HistoryResult:
    """What a history read gave, by the caller's node key.

    ``readings`` has an entry for every node asked (oldest first, possibly empty); ``failed`` names
    the nodes whose history could not be read, or not to the end, with the status code name why.
    A failed node may still have the readings taken before it failed. ``reached`` names the nodes
    whose history held a value at or before their ``since`` (the value already stored, usually): their
    history reaches back over the whole range, so a first value long after ``since`` means no change
    meanwhile, not a history cut short. ``requests`` counts the HistoryRead requests sent.
    """

    readings: dict[str, list[Reading]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    reached: set[str] = field(default_factory=set)
    requests: int = 0

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.readings.values())


def _uaclient(client: Any) -> Any:
    """An asyncua ``Client``, its ``uaclient``, or a connector holding one (``.client``)."""
    if hasattr(client, "uaclient"):
        return client.uaclient
    inner = getattr(client, "client", None)
    if inner is not None and hasattr(inner, "uaclient"):
        return inner.uaclient
    return client


def _chunks(items: Sequence, step: int):
    step = max(1, int(step))
    for start in range(0, len(items), step):
        yield items[start : start + step]


async def historizing(client: Any, nodes: dict[str, ua.NodeId], *, chunk: int = DEFAULT_CHUNK) -> dict[str, bool]:
    """Per node key: may this session read the node's history (its UserAccessLevel HistoryRead bit)?

    One batched read per chunk of nodes; a server that refuses UserAccessLevel for a node is asked
    for its AccessLevel. A node the server does not know is False.
    """
    return {
        k: isinstance(level, int) and bool(level & HISTORY_READ_BIT)
        for k, level in (await _access(client, nodes, chunk)).items()
    }


async def _access(client: Any, nodes: dict[str, ua.NodeId], chunk: int) -> dict[str, int | str]:
    """Per node key: its access level bits, or the status code name the server refused the read with."""
    levels = await _read_byte_attribute(client, nodes, ua.AttributeIds.UserAccessLevel, chunk)
    refused = {k: nodes[k] for k, level in levels.items() if isinstance(level, str)}
    if refused:
        fallback = await _read_byte_attribute(client, refused, ua.AttributeIds.AccessLevel, chunk)
        levels.update({k: level for k, level in fallback.items() if isinstance(level, int)})
    return levels


async def _read_byte_attribute(
    client: Any, nodes: dict[str, ua.NodeId], attr: ua.AttributeIds, chunk: int
) -> dict[str, int | str]:
    uac = _uaclient(client)
    keys = list(nodes)
    out: dict[str, int | str] = {}
    for part in _chunks(keys, chunk):
        values = await uac.read_attributes([nodes[k] for k in part], attr)
        for key, dv in zip(part, values):
            code = dv.StatusCode.value if dv.StatusCode is not None else 0
            value = dv.Value.Value if dv.Value is not None else None
            if not is_good(code):
                out[key] = status_name(code)
            elif isinstance(value, int):
                out[key] = int(value)
            else:
                out[key] = status_name(BAD_TYPE_MISMATCH)
    return out


def _us(epoch: float) -> int:
    """Epoch seconds as whole microseconds: OPC UA DateTime and Python datetime agree at this grain."""
    return round(epoch * 1_000_000)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _simple_value(value: object) -> tuple[float | None, int | None]:
    """A finite number as float; else None and the Bad status that says why (used without ``quirks``)."""
    if isinstance(value, (bool, int, float)):
        number = float(value)
        return (number, None) if math.isfinite(number) else (None, BAD_OUT_OF_RANGE)
    if value is None:
        return None, None
    return None, BAD_TYPE_MISMATCH


def _classifier() -> Callable[[object], tuple[float | None, int | None]]:
    """``pdm.connectors.quirks.classify_value`` (value, status, why), as polled values are classified; else
    the simple rule above."""
    try:
        from pdm.connectors.quirks import classify_value
    except ImportError:
        return _simple_value

    def classify(value: object) -> tuple[float | None, int | None]:
        number, status, _why = classify_value(value)
        return number, status

    return classify


@dataclass
class _Node:
    """One node's progress: values are taken above ``floor`` (µs), or at it after ``skip`` already taken."""

    key: str
    nodeid: ua.NodeId
    floor: int
    origin: int  # the floor asked for (µs), before a truncated page moved ``floor`` on
    skip: int | None = None  # None: every value at ``floor`` is skipped (the exclusive ``since``)
    start: float = 0.0  # epoch to ask from when no continuation point
    cp: bytes | None = None
    done: bool = False


def _stamp(dv: ua.DataValue) -> float | None:
    stamp = dv.SourceTimestamp or dv.ServerTimestamp
    return stamp.timestamp() if stamp is not None else None


async def read_raw(
    client: Any,
    nodes: dict[str, ua.NodeId],
    since: dict[str, float],
    until: float,
    *,
    max_values: int = DEFAULT_MAX_VALUES,
    chunk: int = DEFAULT_CHUNK,
    check: bool = True,
) -> HistoryResult:
    """Raw history of each node in ``(since[key], until]`` (epoch seconds), following continuation points.

    ``since`` must hold every key of ``nodes``. Nodes go several to a request (``chunk``), those with
    close start times together; ``max_values`` bounds each node's values per answer. With ``check``
    (the default) nodes without the HistoryRead access bit are reported, not read (pass False when
    ``historizing`` was just asked). A Reading's ``ts`` is the source timestamp (else the server's),
    its ``quality`` the value's status code; a value that is not a finite number is None with the Bad
    status that says why (``pdm.connectors.quirks.classify_value``: BadTypeMismatch, BadOutOfRange for
    NaN and inf, ...), unless the server already marked it Bad. Raises only what the connection
    raises (ConnectionError, TimeoutError, ...).
    """
    result = HistoryResult(readings={k: [] for k in nodes})
    if not nodes:
        return result
    if check:
        for key, level in (await _access(client, nodes, chunk)).items():
            if isinstance(level, str):  # the server does not know the node, or refused to say
                result.failed[key] = level
            elif not level & HISTORY_READ_BIT:
                result.failed[key] = status_name(BAD_HISTORY_UNSUPPORTED)
    end = _us(until)
    todo = [
        _Node(key, nid, floor=_us(since[key]), origin=_us(since[key]), start=since[key])
        for key, nid in nodes.items()
        if key not in result.failed and _us(since[key]) < end
    ]
    classify = _classifier()
    uac = _uaclient(client)
    while todo:
        for batch, start in list(_requests(todo, chunk)):  # planned before any answer changes a node
            await _read_batch(uac, batch, start, until, max_values, result, classify)
        todo = [n for n in todo if not n.done]
    return result


def _requests(todo: list[_Node], chunk: int):
    """Batches of at most ``chunk`` nodes: those continuing together, the others by close start times."""
    continuing = [n for n in todo if n.cp is not None]
    for part in _chunks(continuing, chunk):
        yield part, min(n.start for n in part)
    fresh = sorted((n for n in todo if n.cp is None), key=lambda n: n.start)
    group: list[_Node] = []
    for n in fresh:
        if group and (len(group) >= chunk or n.start - group[0].start > GROUP_SPREAD_S):
            yield group, group[0].start
            group = []
        group.append(n)
    if group:
        yield group, group[0].start


async def _read_batch(
    uac: Any,
    batch: list[_Node],
    start: float,
    until: float,
    max_values: int,
    result: HistoryResult,
    classify: Callable[[object], tuple[float | None, int | None]],
) -> None:
    details = ua.ReadRawModifiedDetails()
    details.IsReadModified = False
    details.StartTime = _dt(start)
    details.EndTime = _dt(until)
    details.NumValuesPerNode = max_values
    details.ReturnBounds = False
    params = ua.HistoryReadParameters()
    params.HistoryReadDetails = details
    params.TimestampsToReturn = ua.TimestampsToReturn.Both
    params.ReleaseContinuationPoints = False
    for n in batch:
        vid = ua.HistoryReadValueId()
        vid.NodeId = n.nodeid
        vid.IndexRange = ""
        vid.ContinuationPoint = n.cp
        params.NodesToRead.append(vid)
    result.requests += 1
    try:
        answers = await uac.history_read(params)
    except ua.UaStatusCodeError as exc:
        if exc.code in _LOST:
            raise
        # The whole request was refused (no HistoryRead service, too many nodes): each node says so.
        for n in batch:
            n.done = True
            result.failed[n.key] = status_name(exc.code)
        return
    received = time.time()
    end = _us(until)
    for n, answer in zip(batch, answers):
        _take(n, answer, end, max_values, received, result, classify)
    for n in batch[len(answers) :]:  # a server that answered fewer nodes than asked
        n.done = True
        result.failed[n.key] = status_name(ua.StatusCodes.BadUnexpectedError)


def _take(
    n: _Node,
    answer: ua.HistoryReadResult,
    end: int,
    max_values: int,
    received: float,
    result: HistoryResult,
    classify: Callable[[object], tuple[float | None, int | None]],
) -> None:
    code = answer.StatusCode.value if answer.StatusCode is not None else 0
    if not is_good(code):
        n.done = True
        result.failed[n.key] = status_name(code)
        return
    values = list(getattr(answer.HistoryData, "DataValues", None) or [])
    out = result.readings[n.key]
    taken, last, at_last, skip = 0, None, 0, n.skip
    for dv in values:
        ts = _stamp(dv)
        if ts is None:
            continue  # a historical value without a time cannot be placed
        us = _us(ts)
        last, at_last = (us, at_last + 1) if us == last else (us, 1)
        if us <= n.origin:
            result.reached.add(n.key)
        if us < n.floor or us > end:
            continue
        if us == n.floor:
            if skip is None:
                continue
            if skip > 0:
                skip -= 1
                continue
        value, override = classify(dv.Value.Value if dv.Value is not None else None)
        server = dv.StatusCode.value if dv.StatusCode is not None else 0
        # Not a number: stored Bad with why, unless the server already said Bad (its reason is better).
        quality = server if override is None or server & 0x80000000 else override
        out.append(Reading(node_id=n.key, value=value, quality=int(quality), ts=ts, received_at=received))
        taken += 1
    previous_cp, n.cp = n.cp, answer.ContinuationPoint or None
    if n.cp is not None:
        if n.cp == previous_cp and not taken:  # the server makes no progress: do not loop on it
            n.done = True
            result.failed[n.key] = "BadContinuationPointInvalid"
        return
    if len(values) < max_values or last is None or last >= end:
        n.done = True
        return
    # A full page and no continuation point: the server truncated. Go on from its last instant
    # (never below the node's own floor), skipping the values already seen there.
    if last < n.floor:
        state = (n.floor, n.skip, n.floor)
    elif last == n.floor:
        state = (n.floor, None if n.skip is None else at_last, n.floor)
    else:
        state = (last, at_last, last)
    if state == (n.floor, n.skip, _us(n.start)):
        n.done = True  # a whole page at one instant: no way past it
        result.failed[n.key] = f"stalled: over {max_values} values at one timestamp"
        return
    n.floor, n.skip, n.start = state[0], state[1], state[2] / 1_000_000
