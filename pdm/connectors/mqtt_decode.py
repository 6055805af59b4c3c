"""From raw MQTT messages to readings: the mapping of topics and Sparkplug metrics to node ids.

Bad readings (a payload that does not fit, a type that changed, a device that died) are held and
given again at every read, with their own time, until a good value comes: the poller stores each
once (same tag and time), keeps the node Bad meanwhile, and never sees an old value carried on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pdm.config import MqttEndpointConfig
from pdm.config.mqtt import PLAIN, SPARKPLUG
from pdm.connectors import sparkplug
from pdm.connectors.base import GOOD, ConnectorRefused, Reading
from pdm.connectors.mqtt_payloads import PayloadError, parse, source_time

BAD_DECODING = 0x80070000  # BadDecodingError: the payload is not what the mapping says
BAD_TYPE = 0x80740000  # BadTypeMismatch: a metric whose type is not a number, or changed
BAD_NO_COMMUNICATION = 0x80310000  # BadNoCommunication: the edge node or device died
MAX_NOTED = 10_000  # distinct (subject, kind) notes remembered; beyond, a flood is said once
REBIRTH_EVERY_S = 10.0  # one rebirth request per edge node at most this often


def password(ep: MqttEndpointConfig, var_dir: Path) -> str | None:
    from pdm.access import crypto

    if ep.password_encrypted:
        try:
            return crypto.decrypt(
                ep.password_encrypted, var_dir=var_dir, where=f"endpoint {ep.name}: password_encrypted"
            )
        except crypto.SecretError as exc:
            raise ConnectorRefused(f"{ep.endpoint_url}: {exc}", kind="secret", field="password_encrypted") from None
    if ep.password_env is None:
        return None
    value = os.environ.get(ep.password_env)
    if value is None:
        raise ConnectorRefused(
            f"{ep.endpoint_url}: password_env {ep.password_env!r} is not set in the environment of this process",
            kind="secret",
            field="password_env",
        )
    return value


class Decoder:
    def __init__(self, endpoint: MqttEndpointConfig, *, publish: Callable[[str, bytes], None]):
        self.endpoint = endpoint
        self.publish = publish
        self.edges = sparkplug.EdgeNodes()
        self.plain: dict[str, list[tuple[str, str | None]]] = {}  # topic -> [(node_id, json_path)]
        self.metrics: set[str] = set()  # mapped spb: node ids
        self.held: dict[str, Reading] = {}  # node_id -> its Bad reading, until a good one
        self.unmapped = 0  # Sparkplug metrics heard that no tag maps
        self._notes: list[str] = []
        self._noted: set[tuple[str, str]] = set()
        self._rebirth_at: dict[tuple[str, str], float] = {}

    def map(self, node_ids: Sequence[str]) -> list[str]:
        """Take the node ids to read; returns the topic filters to subscribe to."""
        self.plain, self.metrics, nodes = {}, set(), set()
        for node_id in node_ids:
            if node_id.startswith(PLAIN):
                topic, _, path = node_id[len(PLAIN) :].partition("#")
                self.plain.setdefault(topic, []).append((node_id, path or None))
            elif node_id.startswith(SPARKPLUG):
                group, edge, _ = node_id[len(SPARKPLUG) :].split("/", 2)
                nodes.add((group, edge))
                self.metrics.add(node_id)
            else:
                self.note(node_id, "format", f"node {node_id}: not an MQTT tag (mqtt:<topic> or spb:<metric>)")
        self.held = {k: v for k, v in self.held.items() if k in self.metrics or k.split("#")[0][5:] in self.plain}
        return sorted(self.plain) + [f"{sparkplug.NAMESPACE}/{g}/+/{e}/#" for g, e in sorted(nodes)]

    def readings(self, batch: list[tuple[str, bytes, float]]) -> list[Reading]:
        out: dict[str, list[Reading]] = {}
        for topic, data, received_at in batch:
            if topic.startswith(sparkplug.NAMESPACE + "/"):
                self._sparkplug(topic, data, received_at, out)
            else:
                self._plain(topic, data, received_at, out)
        for node_id, bad in self.held.items():  # still Bad: said again (same time, so stored once)
            taken = out.setdefault(node_id, [])
            if not taken or taken[-1] is not bad:
                taken.append(bad)
        return [r for rs in out.values() for r in rs]

    def _take(self, out: dict[str, list[Reading]], node_id: str, value, problem, ts: float, received: float, bad: int):
        if problem is None:
            self.held.pop(node_id, None)
            out.setdefault(node_id, []).append(Reading(node_id, value, GOOD, ts, received))
            return
        self.note(node_id, problem.split(" ")[0], f"node {node_id}: {problem}")
        self.held[node_id] = held = Reading(node_id, None, bad, ts, received)
        out.setdefault(node_id, []).append(held)

    def _plain(self, topic: str, data: bytes, received_at: float, out) -> None:
        for node_id, path in self.plain.get(topic, ()):
            ts = received_at
            try:
                value, doc = parse(data, path)
                if self.endpoint.timestamp_path and doc is not None:
                    ts = self._believable(node_id, source_time(doc, self.endpoint.timestamp_path), received_at)
            except PayloadError as exc:
                self._take(out, node_id, None, str(exc), received_at, received_at, BAD_DECODING)
                continue
            self._take(out, node_id, value, None, ts, received_at, GOOD)

    def _believable(self, node_id: str, ts: float, received_at: float) -> float:
        if ts > received_at + self.endpoint.timestamp_max_future_s or ts < 946_684_800:  # ahead, or before 2000
            self.note(node_id, "clock", f"node {node_id}: source time {ts:.0f} cannot be right: receive time used")
            return received_at
        return ts

    def _sparkplug(self, topic: str, data: bytes, received_at: float, out) -> None:
        try:
            taken = self.edges.take(topic, data, received_at)
        except sparkplug.SparkplugError as exc:
            self.note(topic, "decode", f"topic {topic}: {exc}")
            return
        group, _, edge, device = sparkplug.parse_topic(topic) or ("", "", "", None)
        for text in taken.notes:
            self.note(f"{group}/{edge}", text.split(" ")[0], f"topic {topic}: {text}")
        if taken.rebirth:
            self._ask_rebirth(group, edge)
        for node_id, value, problem, ts in taken.values:
            if node_id not in self.metrics:
                self.unmapped += 1
                self.note(f"{group}/{edge}/{device}", "unmapped", f"topic {topic}: metrics no tag maps are ignored")
                continue
            ts = self._believable(node_id, ts, received_at)
            self._take(out, node_id, value, problem, ts, received_at, BAD_TYPE)
        for prefix, ts in taken.dead:
            for node_id in self.metrics:
                if node_id.startswith(prefix):
                    self.held[node_id] = held = Reading(node_id, None, BAD_NO_COMMUNICATION, ts, received_at)
                    out.setdefault(node_id, []).append(held)

    def _ask_rebirth(self, group: str, edge: str) -> None:
        now = time.monotonic()
        if now - self._rebirth_at.get((group, edge), -REBIRTH_EVERY_S) < REBIRTH_EVERY_S:
            return
        self._rebirth_at[(group, edge)] = now
        self.publish(f"{sparkplug.NAMESPACE}/{group}/NCMD/{edge}", sparkplug.rebirth_request(int(time.time() * 1000)))

    def note(self, subject: str, kind: str, text: str) -> None:
        if (subject, kind) in self._noted:
            return
        if len(self._noted) >= MAX_NOTED:
            subject, kind, text = "*", "flood", f"more than {MAX_NOTED} distinct problems: further ones are not logged"
            if (subject, kind) in self._noted:
                return
        self._noted.add((subject, kind))
        self._notes.append(text)

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes
