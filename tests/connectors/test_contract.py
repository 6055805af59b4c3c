"""The connector contract, once for every registered kind, each against its real server or broker.

Connect; read a batch whose values keep their quality and source time; a bad node or topic is
reported Bad while the others are read; the server restarts and the connector comes back; close.
A kind registered without a source here fails the test: a new connector comes with its contract.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pdm.connectors import CONNECTORS, is_good, make_connector
from pdm.errors import EndpointUnavailable
from tests.helpers.servers import InThread, OpcUaTestServer
from tests.helpers.sources import SOURCES


@pytest.fixture(scope="module")
def shared_opcua():
    shared = InThread(OpcUaTestServer(2))
    with shared:
        yield shared


def test_every_registered_kind_has_a_contract_source():
    assert set(SOURCES) == set(CONNECTORS)


async def _read_until(conn, node_ids, done, limit_s: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got += await conn.read(node_ids)
        if done(got):
            break
        await asyncio.sleep(0.05)
    return got


def _has(got, node_id, value, ts) -> bool:
    return any(r.node_id == node_id and r.value == value and is_good(r.quality) and r.ts == ts for r in got)


async def _reconnect(conn, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            await conn.connect()
            return
        except EndpointUnavailable:
            assert time.monotonic() < deadline, "the connector never came back"
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
async def test_the_connector_contract(kind, tmp_path, shared_opcua):
    source = await SOURCES[kind](tmp_path, shared_opcua).start()
    try:
        conn = make_connector(source.config(), kind=kind, pki_dir=tmp_path / "pki")
        a, b, bad = source.node_ids
        await conn.connect()
        first = await conn.read(source.node_ids)  # a subscribing kind subscribes here (and reports refusals)
        t1 = 1_767_000_000.25
        await source.set([1.5, 2.5], t1)
        got = first + await _read_until(conn, source.node_ids, lambda g: _has(g, a, 1.5, t1) and _has(g, b, 2.5, t1))
        assert _has(got, a, 1.5, t1) and _has(got, b, 2.5, t1), got  # quality and source time kept
        if not any(r.node_id == bad for r in got):
            got += await _read_until(conn, source.node_ids, lambda g: any(r.node_id == bad for r in g), 2.0)
        assert {r.quality for r in got if r.node_id == bad} and not any(
            is_good(r.quality) for r in got if r.node_id == bad
        ), "the bad node is reported Bad, and the others were read all the same"

        await source.restart()
        with pytest.raises(EndpointUnavailable):
            await _read_until(conn, source.node_ids, lambda g: False, 5.0)
        await _reconnect(conn)
        await conn.read(source.node_ids)
        t2 = t1 + 60
        await source.set([3.5, 4.5], t2)
        got = await _read_until(conn, source.node_ids, lambda g: _has(g, a, 3.5, t2))
        assert _has(got, a, 3.5, t2), "read again after the restart"
        await conn.close()
        assert not getattr(conn, "connected", False)
    finally:
        await source.stop()
