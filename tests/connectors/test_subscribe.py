"""Subscribe mode against a real asyncua server: changes arrive, deadband, bad nodes, watchdog, restart."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pdm.config import EndpointConfig
from pdm.connectors import is_good, make_connector
from pdm.connectors.subscribe import OpcUaSubscriber
from pdm.errors import EndpointUnavailable
from tests.helpers.servers import OpcUaTestServer

FAST = {"mode": "subscribe", "sampling_interval_s": 0.05, "publishing_interval_s": 0.1}


async def collect(conn, node_ids, until, attempts=300):
    """Call read() until ``until(readings so far)`` holds; bounded by attempts, not by a timing assertion."""
    got = []
    for _ in range(attempts):
        got += await conn.read(node_ids)
        if until(got):
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met; got {got[-5:]}")


async def _server_forgets_subscriptions(server) -> None:
    """As after a restart of the server's subscription service: no data, no keep-alives."""
    service = server.server.iserver.subscription_service
    await service.delete_subscriptions(list(service.subscriptions))


def _cfg(url, **kw):
    return EndpointConfig(name="plc", endpoint_url=url, **{**FAST, **kw})


async def test_mode_subscribe_builds_a_subscriber(opcua_server):
    conn = make_connector(_cfg(opcua_server.url))
    assert isinstance(conn, OpcUaSubscriber)


async def test_changes_arrive_with_source_timestamps_and_bad_nodes_by_name(opcua_server):
    ids = opcua_server.node_ids[:3] + ["nsu=urn:pdm:test;s=missing"]
    async with make_connector(_cfg(opcua_server.url)) as conn:
        first = await collect(conn, ids, lambda rs: {r.node_id for r in rs} == set(ids))
        bad = [r for r in first if not is_good(r.quality)]
        assert [r.node_id for r in bad] == ["nsu=urn:pdm:test;s=missing"]
        await opcua_server.variables[1].write_value(42.0)
        later = await collect(conn, ids, lambda rs: any(r.value == 42.0 for r in rs))
    dv = await opcua_server.variables[1].read_data_value()
    hit = next(r for r in later if r.value == 42.0)
    assert hit.node_id == opcua_server.node_ids[1] and hit.ts == pytest.approx(dv.SourceTimestamp.timestamp())


async def test_deadband_drops_small_changes(opcua_server):
    ids = opcua_server.node_ids[:1]
    async with make_connector(_cfg(opcua_server.url, deadband=5.0)) as conn:
        await collect(conn, ids, lambda rs: len(rs) >= 1)  # the initial value
        await opcua_server.variables[0].write_value(1.0)  # |1 - 0| < 5: not reported
        await opcua_server.variables[0].write_value(10.0)  # reported
        got = await collect(conn, ids, lambda rs: any(r.value == 10.0 for r in rs))
    assert [r.value for r in got] == [10.0]


async def test_watchdog_recreates_a_silent_subscription(opcua_server, caplog):
    ids = opcua_server.node_ids[:2]
    conn = OpcUaSubscriber(_cfg(opcua_server.url), watchdog_s=1.0, keepalive_s=0.2)
    async with conn:
        await collect(conn, ids, lambda rs: len(rs) >= 2)
        await _server_forgets_subscriptions(opcua_server)
        # Logged for the whole rest: on a loaded machine a slow keep-alive may be recreated once more.
        with caplog.at_level(logging.WARNING, logger="pdm.connectors.subscribe"):
            await collect(conn, ids, lambda rs: conn.recreated >= 1)
            await opcua_server.variables[0].write_value(77.0)
            await collect(conn, ids, lambda rs: any(r.value == 77.0 for r in rs))
            recreated = conn.recreated
    assert recreated >= 1
    assert sum("silent" in r.getMessage() for r in caplog.records) == recreated


async def test_only_our_watchdog_recreates_a_silent_subscription(opcua_server, caplog):
    """asyncua 2.1 has a stale-subscription watchdog of its own (1.5 keep-alive periods, at least 1 s)
    that would recreate first, silently for the service's logs; it is switched off."""
    ids = opcua_server.node_ids[:2]
    conn = OpcUaSubscriber(_cfg(opcua_server.url), watchdog_s=4.0, keepalive_s=0.2)
    async with conn:
        await collect(conn, ids, lambda rs: len(rs) >= 2)
        await _server_forgets_subscriptions(opcua_server)
        quiet = []
        for _ in range(50):  # 2.5 s: asyncua's own watchdog would have recreated it (initial values again)
            quiet += await conn.read(ids)
            await asyncio.sleep(0.05)
        assert quiet == [] and conn.recreated == 0
        with caplog.at_level(logging.WARNING, logger="pdm.connectors.subscribe"):
            got = await collect(conn, ids, lambda rs: conn.recreated >= 1 and len(rs) >= 2)
    assert {r.node_id for r in got} == set(ids)
    assert sum("silent" in r.getMessage() for r in caplog.records) == conn.recreated


async def test_server_restart_is_unavailable_then_recovers():
    srv = await OpcUaTestServer(n=3).start()
    conn = make_connector(_cfg(srv.url, request_timeout_s=2, connect_timeout_s=2))
    await conn.connect()
    await collect(conn, srv.node_ids, lambda rs: len(rs) >= 3)
    await srv.stop()
    with pytest.raises(EndpointUnavailable):
        for _ in range(300):
            await conn.read(srv.node_ids)
            await asyncio.sleep(0.05)
    srv = await OpcUaTestServer(n=3, port=srv.port).start()
    try:
        await conn.connect()
        await srv.variables[2].write_value(9.5)
        await collect(conn, srv.node_ids, lambda rs: any(r.value == 9.5 for r in rs))
    finally:
        await conn.close()
        await srv.stop()
