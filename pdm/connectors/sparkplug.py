"""Sparkplug B: topics, payloads and the state an edge node's births give its later messages.

Pure (no MQTT here): ``pdm.connectors.mqtt`` hands each ``spBv1.0/...`` message to
``EdgeNodes.take`` and gets back values, deaths, notes and rebirth requests. An edge node's
births (NBIRTH, DBIRTH) name its metrics, their aliases and data types; its data messages may
carry aliases only, in sequence (``seq`` 0–255, one per message). A seq gap or an alias no birth
defined means messages were missed or the births are not known here (a worker that restarted),
so a rebirth is asked: the births then come again, with the current values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from pdm.connectors import sparkplug_payload_pb2 as pb

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BOOLEAN, STRING = 11, 12
# Sparkplug data types this service stores as a number: Int8..UInt64, Float, Double, Boolean, DateTime.
NUMERIC = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13}
_SIGNED = {1, 2, 3, 4}  # Int8..Int64, sent in unsigned fields as two's complement


class SparkplugError(ValueError):
    """A message that cannot be taken as Sparkplug B says (names what is wrong, in one line)."""


def parse_topic(topic: str) -> tuple[str, str, str, str | None] | None:
    """``spBv1.0/group/NDATA/edge[/device]`` → (group, message type, edge node, device)."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        return None
    return parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None


def decode(data: bytes):
    try:
        return pb.Payload.FromString(data)  # type: ignore[attr-defined]
    except (DecodeError, RuntimeWarning) as exc:
        raise SparkplugError(f"payload is not a Sparkplug B protobuf ({len(data)} bytes): {exc}") from None


def metric_value(metric, datatype: int) -> float | None:
    """The metric's value as a number; ``SparkplugError`` when its type is not one (or not the declared one)."""
    if metric.is_null:
        return None
    if datatype not in NUMERIC:
        raise SparkplugError(f"data type {datatype} is not a number")
    kind = metric.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("string_value", "bytes_value"):
        raise SparkplugError(f"a {kind.removesuffix('_value')} value where data type {datatype} was declared")
    value = getattr(metric, kind)
    if datatype in _SIGNED and kind in ("int_value", "long_value"):
        bits = 32 if kind == "int_value" else 64
        value -= (1 << bits) if value >= 1 << (bits - 1) else 0
    return float(value)


@dataclass
class _Node:
    seq: int | None = None  # the last seq seen; None until a message with one
    bd_seq: int | None = None
    aliases: dict[tuple[str | None, int], str] = field(default_factory=dict)  # (device, alias) -> name
    types: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (device, name) -> data type


@dataclass
class Taken:
    """What one message says: ``values`` (node_id, value or None, problem or None, ts), the devices
    (``spb:`` prefixes) gone dead at ``ts``, notes and whether to ask a rebirth."""

    values: list[tuple[str, float | None, str | None, float]] = field(default_factory=list)
    dead: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebirth: bool = False


class EdgeNodes:
    """Births, aliases and seq numbers of the edge nodes one connector hears."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], _Node] = {}

    def take(self, topic: str, data: bytes, received_at: float) -> Taken:
        parsed = parse_topic(topic)
        if parsed is None:
            raise SparkplugError("not a Sparkplug B topic (spBv1.0/group/type/edge_node[/device])")
        group, kind, edge, device = parsed
        out = Taken()
        if kind in ("NCMD", "DCMD", "STATE"):
            return out  # commands (ours among them) are not readings
        payload = decode(data)
        state = self.nodes.setdefault((group, edge), _Node())
        sent_at = payload.timestamp / 1000 if payload.HasField("timestamp") else received_at
        if kind == "NDEATH":
            self._death(state, payload, out, f"spb:{group}/{edge}/", sent_at)
            return out
        self._check_seq(state, payload, kind, out)
        if kind == "NBIRTH":
            state.aliases.clear()
            state.types.clear()
        elif kind == "DBIRTH":
            state.aliases = {k: v for k, v in state.aliases.items() if k[0] != device}
            state.types = {k: v for k, v in state.types.items() if k[0] != device}
        if kind == "DDEATH":
            out.dead.append((f"spb:{group}/{edge}/{device}/", sent_at))
            return out
        if kind not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            raise SparkplugError(f"unknown message type {kind}")
        for metric in payload.metrics:
            self._metric(state, metric, kind.endswith("BIRTH"), group, edge, device, sent_at, out)
        return out

    def _check_seq(self, state: _Node, payload, kind: str, out: Taken) -> None:
        seq = payload.seq if payload.HasField("seq") else None
        if kind == "NBIRTH":
            state.bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == "bdSeq"), None)
        elif seq is not None and state.seq is not None and seq != (state.seq + 1) % 256:
            out.notes.append(f"seq {seq} after {state.seq}: messages were missed, rebirth asked")
            out.rebirth = True
        elif state.seq is None and kind != "NBIRTH":
            out.rebirth = True  # data from a node whose birth this connector has not seen
        state.seq = seq if seq is not None else state.seq

    def _death(self, state: _Node, payload, out: Taken, prefix: str, ts: float) -> None:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == "bdSeq"), None)
        if bd_seq is not None and state.bd_seq is not None and bd_seq != state.bd_seq:
            return  # the will of an earlier session, delivered after the node was born again
        state.seq = None
        out.dead.append((prefix, ts))

    def _metric(self, state: _Node, metric, birth: bool, group, edge, device, sent_at: float, out: Taken) -> None:
        name = metric.name if metric.HasField("name") else None
        alias = metric.alias if metric.HasField("alias") else None
        if name is None and alias is not None:
            name = state.aliases.get((device, alias))
            if name is None:
                out.notes.append(f"alias {alias} was not defined by a birth: rebirth asked")
                out.rebirth = True
                return
        if name is None:
            return
        if birth:
            if alias is not None:
                state.aliases[(device, alias)] = name
            state.types[(device, name)] = metric.datatype
        node_id = f"spb:{group}/{edge}/{device or ''}/{name}"
        ts = metric.timestamp / 1000 if metric.HasField("timestamp") else sent_at
        declared = state.types.get((device, name), metric.datatype)
        if metric.HasField("datatype") and metric.datatype != declared:
            out.values.append((node_id, None, f"data type changed from {declared} to {metric.datatype}", ts))
            return
        try:
            out.values.append((node_id, metric_value(metric, declared), None, ts))
        except SparkplugError as exc:
            out.values.append((node_id, None, str(exc), ts))


def payload(metrics: list[tuple[str | None, int | None, int, object]], *, seq: int | None, ts_ms: int) -> bytes:
    """Encode (name, alias, data type, value) metrics: the rebirth command, and test and simulator publishers."""
    message = pb.Payload(timestamp=ts_ms)  # type: ignore[attr-defined]
    if seq is not None:
        message.seq = seq
    for name, alias, datatype, value in metrics:
        m = message.metrics.add(datatype=datatype, timestamp=ts_ms)
        if name is not None:
            m.name = name
        if alias is not None:
            m.alias = alias
        _set_value(m, datatype, value)
    return message.SerializeToString()


def _set_value(metric, datatype: int, value: object) -> None:
    if value is None:
        metric.is_null = True
    elif datatype == BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype == STRING:
        metric.string_value = str(value)
    elif datatype == 9:
        metric.float_value = float(value)  # type: ignore[arg-type]
    elif datatype == 10:
        metric.double_value = float(value)  # type: ignore[arg-type]
    elif datatype in (4, 8, 13):
        metric.long_value = int(value) & (2**64 - 1)  # type: ignore[call-overload]
    else:
        metric.int_value = int(value) & (2**32 - 1)  # type: ignore[call-overload]


def rebirth_request(now_ms: int) -> bytes:
    """The NCMD payload that asks an edge node to publish its births again."""
    return payload([(REBIRTH, None, BOOLEAN, True)], seq=None, ts_ms=now_ms)
