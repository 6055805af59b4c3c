"""The OPC UA connector against real asyncua servers: limits, bad nodes, ids, timestamps."""

from __future__ import annotations

import pytest

from pdm.config import EndpointConfig
from pdm.connectors import is_good, make_connector
from pdm.connectors.opcua import DEFAULT_MAX_NODES_PER_READ
from pdm.errors import EndpointUnavailable
from tests.helpers.servers import OpcUaTestServer, free_port


def _cfg(url: str, **kw) -> EndpointConfig:
    return EndpointConfig(name="plc", endpoint_url=url, **kw)


async def test_reads_are_split_by_the_servers_max_nodes_per_read(limited_server):
    async with make_connector(_cfg(limited_server.url)) as conn:
        assert conn.max_nodes_per_read == 10
        limited_server.batches.clear()
        readings = await conn.read(limited_server.node_ids)
    assert [r.value for r in readings] == [float(i) for i in range(95)]
    assert all(is_good(r.quality) for r in readings)
    assert limited_server.batches == [10] * 9 + [5]


async def test_configured_limit_wins_over_the_server(limited_server):
    async with make_connector(_cfg(limited_server.url, max_nodes_per_read=7)) as conn:
        limited_server.batches.clear()
        readings = await conn.read(limited_server.node_ids)
    assert len(readings) == 95 and max(limited_server.batches) == 7


async def test_server_without_operation_limits_falls_back_to_100(opcua_server):
    node = opcua_server.server.get_node("i=11705")  # MaxNodesPerRead
    await opcua_server.server.delete_nodes([node])
    async with make_connector(_cfg(opcua_server.url)) as conn:
        assert conn.max_nodes_per_read == DEFAULT_MAX_NODES_PER_READ == 100


async def test_node_deleted_while_polled_comes_back_bad_and_keeps_the_others(opcua_server):
    async with make_connector(_cfg(opcua_server.url)) as conn:
        first = await conn.read(opcua_server.node_ids)
        assert all(is_good(r.quality) for r in first)
        await opcua_server.server.delete_nodes([opcua_server.variables[3]])
        second = await conn.read(opcua_server.node_ids)
    assert len(second) == 20
    bad = [r for r in second if not is_good(r.quality)]
    assert [r.node_id for r in bad] == [opcua_server.node_ids[3]] and bad[0].value is None
    assert [r.value for r in second if is_good(r.quality)] == [float(i) for i in range(20) if i != 3]


async def test_nsu_and_namespace_index_ids_read_the_same_node(opcua_server):
    async with make_connector(_cfg(opcua_server.url)) as conn:
        idx = (await conn._client.get_namespace_array()).index(OpcUaTestServer.NS)
        readings = await conn.read(
            [f"nsu={OpcUaTestServer.NS};s=v5", f"ns={idx};s=v5", "nsu=urn:not-here;s=v5", "garbage id"]
        )
    assert [r.value for r in readings[:2]] == [5.0, 5.0]
    assert all(not is_good(r.quality) for r in readings[2:])


@pytest.mark.parametrize("source", ["source", "server", "received"])
async def test_timestamp_source(opcua_server, source):
    async with make_connector(_cfg(opcua_server.url, timestamp_source=source)) as conn:
        await opcua_server.variables[0].write_value(42.0)
        (r,) = await conn.read(opcua_server.node_ids[:1])
    dv = await opcua_server.variables[0].read_data_value()
    expected = {"source": dv.SourceTimestamp.timestamp(), "received": r.received_at}
    if source == "server":
        assert r.ts <= r.received_at + 1  # the server stamps each read: just check it is set and plausible
    else:
        assert r.ts == pytest.approx(expected[source])


async def test_unreachable_server_is_unavailable():
    conn = make_connector(_cfg(f"opc.tcp://127.0.0.1:{free_port()}/none", connect_timeout_s=2))
    with pytest.raises(EndpointUnavailable, match="127.0.0.1"):
        await conn.connect()
