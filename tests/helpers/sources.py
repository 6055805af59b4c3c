"""One real source per registered connector kind, behind one small interface, for the contract test.

A source serves two good nodes and one bad one (OPC UA: a node the server does not have; MQTT: a
topic whose payload is not what the mapping says), sets values with a source time of its choosing,
and restarts on the same address.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from asyncua import ua

from pdm.config import EndpointConfig
from tests.helpers.mosquitto import Broker
from tests.helpers.mqtt import Publisher, mqtt_config
from tests.helpers.servers import InThread, OpcUaTestServer

QUICK = {"connect_timeout_s": 1.0, "reconnect_max_delay_s": 0.5}


class OpcUaSource:
    """An asyncua server on its own loop (``InThread``), shared by the OPC UA kinds of one test module:
    building its address space takes seconds, restarting it (stop, start the same server) does not."""

    def __init__(self, shared: InThread, *, subscribe: bool = False):
        self.shared, self.server = shared, shared.server
        self.subscribe = subscribe
        self.node_ids = [*self.server.node_ids, f"nsu={OpcUaTestServer.NS};s=missing"]

    def _run(self, coro):
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.shared.loop))

    async def start(self):
        return self

    def config(self):
        mode = (
            {"mode": "subscribe", "sampling_interval_s": 0.05, "publishing_interval_s": 0.05} if self.subscribe else {}
        )
        return EndpointConfig(name="plc", endpoint_url=self.server.url, request_timeout_s=1.0, **QUICK, **mode)

    async def set(self, values: list[float], ts: float) -> None:
        stamp = datetime.fromtimestamp(ts, UTC)
        for var, value in zip(self.server.variables, values):
            dv = ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=stamp)
            await self._run(var.write_value(dv))

    async def restart(self) -> None:
        await self._run(self.server.server.stop())
        await self._run(self.server.server.start())

    async def stop(self) -> None:
        pass  # the module's fixture stops the shared server


class MqttSource:
    def __init__(self, folder):
        self.broker = Broker(folder / "mosquitto")
        self.topics = ["contract/a", "contract/b", "contract/bad"]
        self.node_ids = [f"mqtt:{t}#v" for t in self.topics]

    async def start(self):
        self.broker.start()
        return self

    def config(self):
        nodes = [{"tag": f"t{i}", "asset": "p", "topic": t, "json_path": "v"} for i, t in enumerate(self.topics)]
        return mqtt_config(
            self.broker.url, nodes, name="broker", client_id="pdm-contract", timestamp_path="ts", **QUICK
        )

    async def set(self, values: list[float], ts: float) -> None:
        pub = Publisher(self.broker.url)
        for topic, value in zip(self.topics, values):
            pub.send(topic, json.dumps({"v": value, "ts": ts}))
        pub.send(self.topics[2], json.dumps({"v": "jammed", "ts": ts}))
        pub.close()

    async def restart(self) -> None:
        self.broker.restart()

    async def stop(self) -> None:
        self.broker.stop()


# kind -> source, from the test's folder and the module's shared OPC UA server.
SOURCES = {
    "opcua": lambda folder, shared: OpcUaSource(shared),
    "opcua-subscribe": lambda folder, shared: OpcUaSource(shared, subscribe=True),
    "mqtt": lambda folder, shared: MqttSource(folder),
}
