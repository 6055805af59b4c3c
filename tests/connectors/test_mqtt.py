"""The MQTT connector against a real Mosquitto: plain topics, Sparkplug B, bad input, sessions, login, TLS."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from pdm.connectors import ConnectorRefused, is_good, make_connector
from pdm.connectors.browse import browse_endpoint, check_endpoint
from pdm.connectors.mqtt_decode import BAD_DECODING, BAD_NO_COMMUNICATION, BAD_TYPE
from pdm.errors import EndpointUnavailable
from tests.helpers.mosquitto import Broker
from tests.helpers.mqtt import EdgeNode, Publisher, mqtt_config, read_until

DOUBLE, FLOAT, INT32, STRING = 10, 9, 3, 12


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


@pytest.fixture
def pub(broker):
    p = Publisher(broker.url)
    yield p
    p.close()


def _values(readings, node_id):
    return [(r.value, r.quality, r.ts) for r in readings if r.node_id == node_id]


async def test_plain_topics_a_number_or_json_path_with_source_time_and_a_bad_payload_alone(broker, pub):
    nodes = [
        {"tag": "t", "asset": "p1", "topic": "kit/p1/temp"},
        {"tag": "v", "asset": "p1", "topic": "kit/p1/json", "json_path": "data.vib[1]"},
        {"tag": "c", "asset": "p1", "topic": "kit/p1/current"},
    ]
    cfg = mqtt_config(broker.url, nodes, name="plain", timestamp_path="ts")
    ids = [n.node_id for n in cfg.nodes]
    async with make_connector(cfg) as conn:
        await conn.read(ids)  # subscribes
        time.sleep(0.1)
        pub.send("kit/p1/temp", "21.5")
        pub.send("kit/p1/json", json.dumps({"ts": "2026-01-02T03:04:05+00:00", "data": {"vib": [0, 0.75]}}))
        pub.send("kit/p1/current", "not a number")
        got = await read_until(conn, ids, lambda g: len({r.node_id for r in g}) == 3)
        notes = conn.take_notes()
    assert _values(got, ids[0])[0][:2] == (21.5, 0)
    value, quality, ts = _values(got, ids[1])[0]
    assert (value, quality) == (0.75, 0) and ts == 1767323045.0  # the payload's time, not receive time
    assert _values(got, ids[2])[-1][:2] == (None, BAD_DECODING)
    assert notes == ["node mqtt:kit/p1/current: payload 'not a number' is not a number"]


def _edge_metrics():
    return [("Press/Force", 1, DOUBLE, 10.0), ("Press/Count", 2, INT32, -3), ("Press/Name", 3, STRING, "x")]


async def test_sparkplug_births_aliases_seq_gap_rebirth_and_death(broker, pub):
    nodes = [
        {"tag": "force", "asset": "press", "group": "plant", "edge_node": "gw1", "device": "press", "metric": m}
        for m in ("Press/Force", "Press/Count", "Press/Name")
    ]
    cfg = mqtt_config(broker.url, nodes, name="spb")
    force, count, name = (n.node_id for n in cfg.nodes)
    edge = EdgeNode(pub)
    pub.listen("spBv1.0/plant/NCMD/gw1")
    async with make_connector(cfg) as conn:
        await conn.read([force, count, name])
        time.sleep(0.1)
        edge.nbirth(1_767_000_000_000)
        edge.dbirth(_edge_metrics(), 1_767_000_000_000)
        edge.ddata([(1, DOUBLE, 11.5), (2, INT32, -4)], 1_767_000_001_000)
        got = await read_until(conn, [force, count, name], lambda g: len(_values(g, force)) >= 2)
        assert _values(got, force) == [(10.0, 0, 1_767_000_000.0), (11.5, 0, 1_767_000_001.0)]
        assert [v for v, _, _ in _values(got, count)] == [-3.0, -4.0]  # signed, from two's complement
        assert _values(got, name)[0][:2] == (None, BAD_TYPE)  # a string is not stored as a number
        edge.ddata([(1, DOUBLE, 12.0)], 1_767_000_002_000, skip_seq=True)  # a message went missing
        edge.ddata([(9, DOUBLE, 1.0)], 1_767_000_003_000)  # an alias no birth defined
        got = await read_until(conn, [force], lambda g: (12.0, 0, 1_767_000_002.0) in _values(g, force))
        assert got, "the value after the gap is still taken"
        deadline = time.monotonic() + 3
        while not pub.heard and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pub.heard and pub.heard[0][0] == "spBv1.0/plant/NCMD/gw1"  # a rebirth asked once (rate-limited)
        notes = conn.take_notes()
        assert any("seq" in n and "rebirth asked" in n for n in notes)
        assert any("alias 9" in n for n in notes)
        edge.ddeath(1_767_000_004_000)
        got = await read_until(conn, [force], lambda g: any(r.quality == BAD_NO_COMMUNICATION for r in g))
        dead = [r for r in got if r.node_id == force][-1]
        assert (dead.value, dead.quality, dead.ts) == (None, BAD_NO_COMMUNICATION, 1_767_000_004.0)
        again = await conn.read([force])  # held Bad (same time: stored once), not an old value filled
        assert [(r.value, r.quality) for r in again] == [(None, BAD_NO_COMMUNICATION)]
        edge.dbirth(_edge_metrics(), 1_767_000_005_000)
        got = await read_until(conn, [force], lambda g: any(is_good(r.quality) for r in g if r.node_id == force))
        assert _values(got, force)[-1] == (10.0, 0, 1_767_000_005.0)


async def test_bad_sparkplug_input_is_one_line_each_and_stalls_nothing(broker, pub):
    nodes = [{"tag": "f", "asset": "a", "group": "g2", "edge_node": "e2", "device": "d", "metric": "F"}]
    cfg = mqtt_config(broker.url, nodes, name="flood")
    (force,) = (n.node_id for n in cfg.nodes)
    edge = EdgeNode(pub, group="g2", edge="e2", device="d")
    async with make_connector(cfg) as conn:
        await conn.read([force])
        time.sleep(0.1)
        edge.nbirth(1_767_000_000_000)
        edge.dbirth(
            [("F", 1, DOUBLE, 1.0)] + [(f"other{i}", 10 + i, DOUBLE, 0.0) for i in range(50)], 1_767_000_000_000
        )
        pub.send("spBv1.0/g2/DDATA/e2/d", b"\xff\x00garbage")
        for i in range(300):  # a flood of devices nobody mapped
            pub.send(f"spBv1.0/g2/DDATA/e2/x{i}", edge_payload(i), qos=0)
        edge.ddata([(1, FLOAT, 2.0)], 1_767_000_001_000)  # the type changed from Double to Float
        edge.ddata([(1, DOUBLE, 3.0)], 1_767_000_002_000)
        got = await read_until(conn, [force], lambda g: (3.0, 0, 1_767_000_002.0) in _values(g, force))
        notes = conn.take_notes()
    assert (3.0, 0, 1_767_000_002.0) in _values(got, force)
    assert (None, BAD_TYPE, 1_767_000_001.0) in _values(got, force)  # not stored as 2.0
    assert any(n.startswith("topic spBv1.0/g2/DDATA/e2/d: payload is not a Sparkplug B protobuf") for n in notes)
    assert any("data type changed from 10 to 9" in n for n in notes)
    assert all("\n" not in n for n in notes) and len(notes) < 320
    assert conn.decoder.unmapped >= 50


def edge_payload(i: int) -> bytes:
    from pdm.connectors import sparkplug

    return sparkplug.payload([(f"m{i}", None, DOUBLE, float(i))], seq=None, ts_ms=1_767_000_000_000)


async def test_a_persistent_session_keeps_what_the_broker_held_while_the_worker_was_away(broker, pub):
    nodes = [{"tag": "t", "asset": "a", "topic": "kit/session"}]
    cfg = mqtt_config(broker.url, nodes, name="session", client_id="pdm-session-test")
    ids = [cfg.nodes[0].node_id]
    conn = make_connector(cfg)
    await conn.connect()
    await conn.read(ids)
    time.sleep(0.1)
    await conn.close()
    for i in range(20):  # published while the worker is down, QoS 1
        pub.send("kit/session", str(i))
    await conn.connect()
    assert conn.session_present
    got = await read_until(conn, ids, lambda g: len(g) >= 20)
    await conn.close()
    assert [r.value for r in got] == [float(i) for i in range(20)]


async def test_the_connector_comes_back_after_the_broker_restarts(tmp_path):
    broker = Broker(tmp_path / "b").start()
    try:
        pub = Publisher(broker.url)
        cfg = mqtt_config(broker.url, [{"tag": "t", "asset": "a", "topic": "kit/r"}], name="r")
        ids = [cfg.nodes[0].node_id]
        conn = make_connector(cfg)
        await conn.connect()
        await conn.read(ids)
        pub.close()
        broker.restart()
        with pytest.raises(EndpointUnavailable):
            await read_until(conn, ids, lambda g: False, timeout=3)
        await conn.connect()
        pub = Publisher(broker.url)
        pub.send("kit/r", "7")
        got = await read_until(conn, ids, lambda g: len(g) >= 1)
        assert [r.value for r in got] == [7.0]
        pub.close()
        await conn.close()
    finally:
        broker.stop()


def test_a_refused_login_is_typed_and_names_the_field(tmp_path, monkeypatch):
    broker = Broker(tmp_path / "auth", users={"pdm": "s3cret-pw"}).start()
    try:
        monkeypatch.setenv("MQTT_PW", "wrong")
        cfg = mqtt_config(broker.url, [], name="auth", username="pdm", password_env="MQTT_PW")
        with pytest.raises(ConnectorRefused) as refused:
            asyncio.run(make_connector(cfg).connect())
        assert (refused.value.kind, refused.value.field) == ("credentials", "password_env")
        assert str(refused.value).startswith(f"{broker.url}: broker refused the login: ")
        assert "check username and the password" in str(refused.value)
        assert check_endpoint(cfg, tmp_path / "pki") == {"password_env": str(refused.value)}
        monkeypatch.setenv("MQTT_PW", "s3cret-pw")
        assert check_endpoint(cfg, tmp_path / "pki")["ok"]["broker"] == broker.url
    finally:
        broker.stop()


def test_tls_with_the_broker_s_ca_and_browse_lists_what_is_heard(tmp_path):
    broker = Broker(tmp_path / "tls", tls=True).start()
    try:
        cfg = mqtt_config(broker.url, [], name="tls", ca_file=broker.ca_file)
        pub = Publisher(broker.url, ca_file=broker.ca_file)
        pub.client.publish("kit/b/json", json.dumps({"a": {"b": 1.5}}), qos=1, retain=True).wait_for_publish(5)
        nodes, cut = browse_endpoint(cfg, tmp_path / "pki", max_nodes=50, seconds=0.5)
        pub.close()
        assert not cut
        assert {n.node_id for n in nodes} >= {"mqtt:kit/b/json", "mqtt:kit/b/json#a.b"}
        untrusted = mqtt_config(broker.url, [], name="tls2")
        refused = check_endpoint(untrusted, tmp_path / "pki")  # the system's CAs do not know it
        assert list(refused) == ["ca_file"] and "certificate is not trusted" in refused["ca_file"]
    finally:
        broker.stop()


def test_pdmctl_endpoint_browse_takes_an_mqtt_url(broker, pub, tmp_path):
    import os
    import subprocess
    import sys

    pub.client.publish("kit/cli/temp", "3.5", qos=1, retain=True).wait_for_publish(5)
    env = {**os.environ, "PDM_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "pdm.cli", "endpoint"]
    heard = subprocess.run(
        [*cli, "browse", broker.url, "--seconds", "0.3"], env=env, capture_output=True, text=True, timeout=60
    )
    assert heard.returncode == 0, heard.stderr
    assert "kit/cli/temp [Topic] mqtt:kit/cli/temp number = '3.5'" in heard.stdout
