"""History reads against a real asyncua server that historizes some nodes and not others.

Values are written through the server with chosen source timestamps an hour in the past (the
in-memory history keeps 7 days), each different from the last (the server's history only keeps
changes), and the test waits until the server's history holds all of them before reading.
"""

from __future__ import annotations

import time

import pytest
from asyncua import Client, ua

from pdm.config import EndpointConfig
from pdm.connectors import history, make_connector
from pdm.connectors.base import is_good
from pdm.errors import EndpointUnavailable
from tests.helpers.servers import HistorizingServer

T0 = float(int(time.time()) - 3600)


def series(n: int, *, start: float = T0, step: float = 1.0, offset: float = 0.0) -> list[tuple[float, float]]:
    return [(start + k * step, offset + k + 0.5) for k in range(n)]


@pytest.fixture
async def hserver():
    srv = await HistorizingServer().start()
    yield srv
    await srv.stop()


@pytest.fixture
async def client(hserver):
    c = Client(hserver.url, timeout=5)
    await c.connect()
    yield c
    await c.disconnect()


def nodes_of(srv: HistorizingServer, indexes) -> dict[str, ua.NodeId]:
    return {f"v{i}": srv.variables[i].nodeid for i in indexes}


async def test_historizing_says_which_nodes_keep_history(hserver, client):
    nodes = nodes_of(hserver, range(4)) | {"gone": ua.NodeId("no-such-node", 2)}
    assert await history.historizing(client, nodes, chunk=2) == {
        "v0": True,
        "v1": True,
        "v2": True,
        "v3": False,
        "gone": False,
    }


async def test_every_value_written_is_read_back_once_and_the_others_are_reported(hserver, client):
    for i in range(4):
        await hserver.write(i, series(50, offset=100 * i))
    nodes = nodes_of(hserver, range(4)) | {"gone": ua.NodeId("no-such-node", 2)}
    got = await history.read_raw(client, nodes, {k: T0 - 1 for k in nodes}, T0 + 49)
    assert {k: len(v) for k, v in got.readings.items()} == {"v0": 50, "v1": 50, "v2": 50, "v3": 0, "gone": 0}
    assert got.failed == {"v3": "BadHistoryOperationUnsupported", "gone": "BadNodeIdUnknown"}
    assert [(r.ts, r.value) for r in got.readings["v1"]] == series(50, offset=100)
    assert all(r.node_id == "v1" and is_good(r.quality) for r in got.readings["v1"])
    assert all(r.received_at >= time.time() - 60 for r in got.readings["v1"])
    assert hserver.requests == [3]  # the three historized nodes in one request, the others never asked


async def test_since_is_exclusive_and_until_inclusive(hserver, client):
    await hserver.write(0, series(50))
    nodes = nodes_of(hserver, [0])
    got = await history.read_raw(client, nodes, {"v0": T0 + 10}, T0 + 20)
    assert [r.ts for r in got.readings["v0"]] == [T0 + k for k in range(11, 21)]
    # Resuming from the last value read stores nothing twice and misses nothing.
    rest = await history.read_raw(client, nodes, {"v0": got.readings["v0"][-1].ts}, T0 + 49)
    assert [r.ts for r in rest.readings["v0"]] == [T0 + k for k in range(21, 50)]
    empty = await history.read_raw(client, nodes, {"v0": T0 + 49}, T0 + 49)
    assert empty.readings == {"v0": []} and empty.failed == {} and empty.requests == 0


async def test_continuation_points_are_followed_to_the_end():
    srv = await HistorizingServer(page=7).start()
    try:
        for i in range(3):
            await srv.write(i, series(100, step=0.25, offset=1000 * i))
        async with Client(srv.url, timeout=5) as c:
            got = await history.read_raw(c, nodes_of(srv, range(3)), {f"v{i}": T0 - 1 for i in range(3)}, T0 + 100)
    finally:
        await srv.stop()
    for i in range(3):
        assert [(r.ts, r.value) for r in got.readings[f"v{i}"]] == series(100, step=0.25, offset=1000 * i)
    assert got.failed == {}
    # 100 values in pages of 7: 15 requests, each for the three nodes at once.
    assert got.requests == 15 and srv.requests == [3] * 15


async def test_a_server_that_truncates_without_continuation_point_is_followed_from_its_last_time(hserver, client):
    # Pairs of values share a timestamp, so pages of 3 end between the two of a pair.
    points = [(T0 + k // 2, k + 0.5) for k in range(40)]
    await hserver.write(0, points)
    got = await history.read_raw(client, nodes_of(hserver, [0]), {"v0": T0 - 1}, T0 + 30, max_values=3)
    assert [(r.ts, r.value) for r in got.readings["v0"]] == points
    assert got.failed == {}


async def test_nodes_with_close_starts_share_a_request_and_far_ones_do_not(hserver, client):
    for i in range(3):
        await hserver.write(i, series(50))
    since = {"v0": T0 - 1, "v1": T0 + 29.5, "v2": T0 - 1 - 2 * history.GROUP_SPREAD_S}
    got = await history.read_raw(client, nodes_of(hserver, range(3)), since, T0 + 49)
    assert {k: len(v) for k, v in got.readings.items()} == {"v0": 50, "v1": 20, "v2": 50}
    assert got.readings["v1"][0].ts == T0 + 30
    assert sorted(hserver.requests) == [1, 2]


async def test_values_that_are_not_finite_numbers_are_kept_bad_with_the_status_why(hserver, client):
    await hserver.store(0, [(T0, 1.5), (T0 + 1, "text"), (T0 + 2, True), (T0 + 3, 7), (T0 + 4, float("nan"))])
    got = await history.read_raw(client, nodes_of(hserver, [0]), {"v0": T0 - 1}, T0 + 4)
    assert [(r.value, r.quality) for r in got.readings["v0"]] == [
        (1.5, 0),
        (None, history.BAD_TYPE_MISMATCH),
        (1.0, 0),
        (7.0, 0),
        (None, history.BAD_OUT_OF_RANGE),
    ]


async def test_a_refused_request_is_reported_per_node_not_raised(hserver, client):
    async def refuse(params):
        raise ua.UaStatusCodeError(ua.StatusCodes.BadHistoryOperationUnsupported)

    hserver.server.iserver.history_manager.read_history = refuse
    got = await history.read_raw(client, nodes_of(hserver, range(2)), {"v0": T0, "v1": T0}, T0 + 10)
    assert got.failed == {"v0": "BadHistoryOperationUnsupported", "v1": "BadHistoryOperationUnsupported"}


async def test_the_connector_reads_history_by_node_id_and_says_which_nodes_have_it(hserver):
    for i in range(4):
        await hserver.write(i, series(20, offset=10 * i))
    ids = hserver.node_ids[:4]
    async with make_connector(EndpointConfig(name="plc", endpoint_url=hserver.url)) as conn:
        assert await conn.historizing(ids + ["garbage id"]) == dict.fromkeys(ids[:3], True) | {
            ids[3]: False,
            "garbage id": False,
        }
        got = await conn.read_history({n: T0 + 4 for n in ids}, T0 + 19)
    assert [len(got.readings[n]) for n in ids] == [15, 15, 15, 0]
    assert got.failed == {ids[3]: "BadHistoryOperationUnsupported"}
    assert got.readings[ids[2]][0].node_id == ids[2] and got.readings[ids[2]][0].value == 25.5


async def test_the_connector_raises_endpoint_unavailable_when_the_server_goes_away():
    srv = await HistorizingServer().start()
    conn = make_connector(EndpointConfig(name="plc", endpoint_url=srv.url, request_timeout_s=2))
    await conn.connect()
    try:
        await srv.stop()
        with pytest.raises(EndpointUnavailable):
            await conn.read_history({srv.node_ids[0]: T0}, T0 + 10)
        assert not conn.connected
    finally:
        await conn.close()


def test_without_the_quirks_module_values_are_classified_by_the_simple_rule(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pdm.connectors.quirks", None)  # import fails as if absent
    classify = history._classifier()
    assert classify is history._simple_value
    assert [classify(v) for v in (2, True, "x", float("-inf"), None)] == [
        (2.0, None),
        (1.0, None),
        (None, history.BAD_TYPE_MISMATCH),
        (None, history.BAD_OUT_OF_RANGE),
        (None, None),
    ]


async def test_a_history_that_holds_the_value_at_since_is_said_to_reach_back(hserver, client):
    await hserver.write(0, series(10))
    await hserver.write(1, series(10))
    got = await history.read_raw(client, nodes_of(hserver, range(2)), {"v0": T0 + 3, "v1": T0 - 5}, T0 + 9)
    assert got.reached == {"v0"}  # v1's history starts after its since: it may have lost what came before
    assert [len(got.readings[k]) for k in ("v0", "v1")] == [6, 10]
