"""An MQTT endpoint end to end: plant file → catalog (kind stored) → the unchanged poller → readings stored.

Real Mosquitto, real database. A broker restart while values keep coming loses none of them (QoS 1,
persistent session), and a Sparkplug device's death is stored as Bad at its time, not as an old value.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from pdm.config import endpoint_config, parse_plants
from pdm.connectors.mqtt_decode import BAD_NO_COMMUNICATION
from pdm.ingest.poller import EndpointPoller
from pdm.ingest.spool import Spool
from pdm.storage.catalog import apply_plants, list_endpoints, list_tags
from pdm.storage.tables import Endpoint, Reading, Tag
from tests.helpers.mosquitto import Broker
from tests.helpers.mqtt import EdgeNode, Publisher
from tests.helpers.plants import one_endpoint
from tests.helpers.pollers import until_up

DOUBLE = 10
NODES = [
    {"tag": "temp", "asset": "P-1", "topic": "kit/p1/temp"},
    {"tag": "force", "asset": "P-1", "group": "plant", "edge_node": "gw1", "device": "press", "metric": "Force"},
]


def _poller(sessions, url: str, folder: Path) -> EndpointPoller:
    plant = one_endpoint(url, NODES, kind="mqtt", client_id="pdm-ingest-test", reconnect_max_delay_s=0.5)
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plant))
        ep = list_endpoints(s, company_id=1)[0]
        assert ep.kind == "mqtt"
        tags: dict[str, list[int]] = {}
        for t in list_tags(s, company_id=1):
            tags.setdefault(t.node_id, []).append(t.id)
        config = endpoint_config({**ep.settings, "nodes": []}, "endpoint plc")
        return EndpointPoller(
            endpoint_id=ep.id,
            name="acme/plc",
            config=config,
            tags=tags,
            sessions=sessions,
            spool=Spool(folder / "spool", max_bytes=10_000_000),
        )


def _stored(sessions, tag: str) -> list[tuple]:
    with sessions() as s:
        stmt = select(Reading.value, Reading.quality, Reading.ts).join(Tag, Tag.id == Reading.tag_id)
        return list(s.execute(stmt.where(Tag.name == tag).order_by(Reading.ts)).all())


async def _poll_until(poller, done, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not done() and time.monotonic() < deadline:
        await poller.poll_once()
        await poller.flush()
        time.sleep(0.05)


async def test_mqtt_readings_are_stored_through_the_poller_and_survive_a_broker_restart(sessions, tmp_path):
    broker = Broker(tmp_path / "broker").start()
    poller = _poller(sessions, broker.url, tmp_path)
    try:
        await until_up(poller)
        pub = Publisher(broker.url)
        for i in range(10):
            pub.send("kit/p1/temp", str(i))
        pub.close()
        broker.restart()
        pub = Publisher(broker.url)
        for i in range(10, 20):  # published before the poller is back: the broker holds them for its session
            pub.send("kit/p1/temp", str(i))
        await until_up(poller)
        await _poll_until(poller, lambda: len(_stored(sessions, "temp")) >= 20)
        assert [v for v, _, _ in _stored(sessions, "temp")] == [float(i) for i in range(20)]
        edge = EdgeNode(pub)
        edge.nbirth(1_767_000_000_000)
        edge.dbirth([("Force", 1, DOUBLE, 5.0)], 1_767_000_000_000)
        edge.ddeath(1_767_000_001_000)
        await _poll_until(poller, lambda: len(_stored(sessions, "force")) >= 2)
        assert _stored(sessions, "force") == [(5.0, 0, 1_767_000_000.0), (None, BAD_NO_COMMUNICATION, 1_767_000_001.0)]
        with sessions() as s:
            assert s.get(Endpoint, poller.endpoint_id).state == "UP"
        pub.close()
    finally:
        await poller.close()
        broker.stop()
