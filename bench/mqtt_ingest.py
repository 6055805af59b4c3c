"""MQTT ingest rate: what the connector decodes into readings against what the same broker delivers to a
bare paho client, for the same messages (plain JSON, QoS 1). Run by hand: `.venv/bin/python -m bench.mqtt_ingest`.

This measures the connector (receive + decode), not the database write behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pdm.connectors import make_connector
from tests.helpers.mosquitto import Broker
from tests.helpers.mqtt import Publisher, mqtt_config

TOPICS = [f"bench/p{i}" for i in range(20)]


def publish(url: str, n: int) -> None:
    pub = Publisher(url)
    for i in range(n):
        info = pub.client.publish(TOPICS[i % len(TOPICS)], json.dumps({"v": float(i)}), qos=1)
    info.wait_for_publish(60)
    pub.close()


def bare_rate(url: str, n: int) -> float:
    got, done = [0], threading.Event()

    def on_message(client, userdata, message):
        got[0] += 1
        if got[0] >= n:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.on_message = on_message
    host, port = url.split("://")[1].rsplit(":", 1)
    client.connect(host, int(port))
    client.loop_start()
    client.subscribe([(t, 1) for t in TOPICS])
    time.sleep(0.3)
    start = time.perf_counter()
    threading.Thread(target=publish, args=(url, n)).start()
    done.wait(120)
    took = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return got[0] / took


async def connector_rate(url: str, n: int) -> float:
    nodes = [{"tag": f"t{i}", "asset": "p", "topic": t, "json_path": "v"} for i, t in enumerate(TOPICS)]
    conn = make_connector(mqtt_config(url, nodes, name="bench", client_id="bench-connector"))
    ids = [f"mqtt:{t}#v" for t in TOPICS]
    async with conn:
        await conn.read(ids)
        start = time.perf_counter()
        threading.Thread(target=publish, args=(url, n)).start()
        readings = 0
        while readings < n and time.perf_counter() - start < 120:
            readings += len(await conn.read(ids))
            await asyncio.sleep(0.05)
        return readings / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    broker = Broker(Path(tempfile.mkdtemp()) / "mosquitto").start()
    try:
        bare = bare_rate(broker.url, args.messages)
        ours = asyncio.run(connector_rate(broker.url, args.messages))
    finally:
        broker.stop()
    print(f"bare client {bare:,.0f} msg/s; connector {ours:,.0f} readings/s; ratio {ours / bare:.2f}")


if __name__ == "__main__":
    main()
