"""A publisher (a retrofit sensor kit, an edge gateway) and a reader loop for the MQTT connector tests."""

from __future__ import annotations

import asyncio
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pdm.config import MqttEndpointConfig
from pdm.connectors import sparkplug


class Publisher:
    """A plain paho client on the test's broker; ``heard`` keeps what it is subscribed to (NCMD)."""

    def __init__(self, url: str, *, username: str | None = None, password: str | None = None, ca_file=None):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.heard: list[tuple[str, bytes]] = []
        self.client.on_message = lambda c, u, m: self.heard.append((m.topic, m.payload))
        host, port = url.split("://")[1].rsplit(":", 1)
        self.client.connect(host, int(port))
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def listen(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class EdgeNode:
    """A Sparkplug B edge node with one device, its seq numbers kept as a real one does."""

    def __init__(self, pub: Publisher, group: str = "plant", edge: str = "gw1", device: str = "press"):
        self.pub, self.group, self.edge, self.device = pub, group, edge, device
        self.seq = 0

    def _next(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def topic(self, kind: str, device: bool = True) -> str:
        tail = f"/{self.device}" if device else ""
        return f"spBv1.0/{self.group}/{kind}/{self.edge}{tail}"

    def nbirth(self, ts_ms: int) -> None:
        self.seq = 0
        data = sparkplug.payload([("bdSeq", None, 8, 1), ("uptime", 1, 10, 1.0)], seq=self._next(), ts_ms=ts_ms)
        self.pub.send(self.topic("NBIRTH", device=False), data)

    def dbirth(self, metrics: list[tuple[str, int, int, object]], ts_ms: int) -> None:
        """(name, alias, data type, value) each."""
        data = sparkplug.payload([(n, a, t, v) for n, a, t, v in metrics], seq=self._next(), ts_ms=ts_ms)
        self.pub.send(self.topic("DBIRTH"), data)

    def ddata(self, metrics: list[tuple[int, int, object]], ts_ms: int, *, skip_seq: bool = False) -> None:
        """(alias, data type, value) each: aliases only, as births allow."""
        if skip_seq:
            self._next()
        data = sparkplug.payload([(None, a, t, v) for a, t, v in metrics], seq=self._next(), ts_ms=ts_ms)
        self.pub.send(self.topic("DDATA"), data)

    def ddeath(self, ts_ms: int) -> None:
        self.pub.send(self.topic("DDEATH"), sparkplug.payload([], seq=self._next(), ts_ms=ts_ms))


def mqtt_config(url: str, nodes: list[dict], **kw) -> MqttEndpointConfig:
    return MqttEndpointConfig.model_validate(
        {"kind": "mqtt", "name": kw.pop("name", "broker"), "endpoint_url": url, "nodes": nodes, **kw}
    )


async def read_until(conn, node_ids, done, timeout: float = 5.0) -> list:
    """Read every 20 ms, keeping every reading, until ``done(readings)`` or ``timeout``."""
    got: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += await conn.read(node_ids)
        if done(got):
            return got
        await asyncio.sleep(0.02)
    return got
