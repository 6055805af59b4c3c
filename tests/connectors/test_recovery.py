"""Recovery of a polling endpoint: network cuts, black holes, lost sessions, and the backoff bound.

Each test puts a real asyncua server behind ``NetemProxy`` (or stops it), drives the
``EndpointPoller`` the way the worker does (``poll_once`` every poll interval, backoff
respected), and looks at what reached the real database and the log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from sqlalchemy import func, select

from pdm.config import EndpointConfig
from pdm.ingest.poller import Backoff, EndpointPoller
from pdm.storage.tables import Endpoint, Reading, Tag
from tests.helpers import pollers
from tests.helpers.databases import one_database
from tests.helpers.netem import NetemProxy
from tests.helpers.servers import OpcUaTestServer

POLL_S = 0.2
FAST = {"request_timeout_s": 1, "connect_timeout_s": 1, "reconnect_max_delay_s": 2, "poll_interval_s": POLL_S}
SUBSCRIBE = {"mode": "subscribe", "sampling_interval_s": 0.05, "publishing_interval_s": 0.1}


def make_poller(sessions, url: str, node_ids: list[str], tmp_path, **settings) -> EndpointPoller:
    return pollers.make_poller(sessions, url, node_ids, tmp_path, **{**FAST, **settings})


async def drive(poller: EndpointPoller, until, *, limit_s: float, what: str) -> float:
    """Poll as the worker does (every poll interval, backoff respected) until ``until()``; returns when."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        await poller.poll_once()
        await poller.flush()
        if until():
            return time.monotonic()
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"{what} not reached within {limit_s} s (state {poller.state})")


async def keep_polling(poller: EndpointPoller, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await poller.poll_once()
        await asyncio.sleep(POLL_S)


async def counting(server: OpcUaTestServer, values: list[float]) -> None:
    """Write 1, 2, 3, ... to the first node every 50 ms: each value has its own source timestamp."""
    while True:
        values.append(float(len(values) + 1))
        await server.variables[0].write_value(values[-1])
        await asyncio.sleep(0.05)


def stored(sessions, tag: str) -> list[tuple[float, float]]:
    with sessions() as s:
        return list(
            s.execute(
                select(Reading.ts, Reading.value)
                .join(Tag, Tag.id == Reading.tag_id)
                .where(Tag.name == tag)
                .order_by(Reading.ts)
            ).all()
        )


def per_tag_counts(sessions) -> dict[str, int]:
    with sessions() as s:
        return dict(
            s.execute(select(Tag.name, func.count()).join(Reading, Reading.tag_id == Tag.id).group_by(Tag.name)).all()
        )


def ingest_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pdm.ingest.poller"]


@pytest.fixture
async def proxied():
    server = await OpcUaTestServer(n=5).start()
    proxy = await NetemProxy(server.port).start()
    yield server, proxy
    await proxy.stop()
    await server.stop()


@pytest.mark.parametrize("mode", ["poll", "subscribe"])
@pytest.mark.parametrize("failure", ["cut", "black_hole"])
@one_database
async def test_network_failure_is_detected_logged_once_and_survived(sessions, proxied, tmp_path, caplog, mode, failure):
    server, proxy = proxied
    settings = SUBSCRIBE if mode == "subscribe" else {}
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, **settings)
    written: list[float] = []
    writer = asyncio.ensure_future(counting(server, written))
    try:
        with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
            await drive(poller, lambda: len(stored(sessions, "t0")) >= 3, limit_s=10, what="first readings")
            if failure == "cut":
                await proxy.cut()
            else:
                proxy.black_hole()  # no error reaches the client: only its own timeouts can tell
            await drive(poller, lambda: poller.state == "DOWN", limit_s=10, what="DOWN while the network is out")
            with sessions() as s:
                assert s.get(Endpoint, poller.endpoint_id).state == "DOWN"
            await keep_polling(poller, 1.5)  # a longer outage: still one DOWN in the log
            await proxy.heal()
            healed_at = written[-1]
            await drive(
                poller,
                lambda: any(v > healed_at for _, v in stored(sessions, "t0")),
                limit_s=15,
                what="data after the network healed",
            )
    finally:
        writer.cancel()
        await poller.close()
    messages = ingest_messages(caplog)
    downs = [m for m in messages if " down: " in m]
    ups = [m for m in messages if "back up" in m]
    assert len(downs) == 1 and len(ups) == 1, messages
    assert downs[0].split(" down: ", 1)[1].strip()  # with its reason
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    assert not tracebacks, tracebacks  # asyncua's "Publish iteration crashed" every second: one DEBUG line now
    rows = stored(sessions, "t0")
    values = [v for _, v in rows]
    assert values == sorted(values) and len(values) == len(set(values))  # in order, none twice
    # Nodes that never changed were re-read (poll) or re-sent on resubscribe: still one row each.
    assert all(n == 1 for tag, n in per_tag_counts(sessions).items() if tag != "t0")
    with sessions() as s:
        assert s.get(Endpoint, poller.endpoint_id).state == "UP"


@pytest.mark.parametrize("mode", ["poll", "subscribe"])
@one_database
async def test_a_slow_server_within_the_request_timeout_is_not_taken_for_a_lost_one(
    sessions, proxied, tmp_path, caplog, mode
):
    """Answers 3 s late (asyncua's own keep-alive gives up after 1 s): no DOWN, data keeps coming."""
    server, proxy = proxied
    settings = SUBSCRIBE if mode == "subscribe" else {}
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, **{**settings, "request_timeout_s": 5})
    written: list[float] = []
    writer = asyncio.ensure_future(counting(server, written))
    try:
        with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
            await drive(poller, lambda: len(stored(sessions, "t0")) >= 1, limit_s=10, what="first readings")
            proxy.latency_s = 1.5  # each way
            await keep_polling(poller, 5.0)  # several keep-alive periods
            slow_from = written[-1]
            await drive(
                poller,
                lambda: any(v > slow_from for _, v in stored(sessions, "t0")),
                limit_s=10,
                what="data over the slow link",
            )
    finally:
        writer.cancel()
        await poller.close()
    assert poller.state == "UP" and not [m for m in ingest_messages(caplog) if " down: " in m]


@pytest.mark.parametrize("mode", ["poll", "subscribe"])
@one_database
async def test_session_closed_by_the_server_is_recreated(sessions, opcua_server, tmp_path, caplog, mode):
    settings = SUBSCRIBE if mode == "subscribe" else {}
    poller = make_poller(sessions, opcua_server.url, opcua_server.node_ids[:3], tmp_path, **settings)
    iserver = opcua_server.server.iserver
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        await drive(poller, lambda: len(stored(sessions, "t0")) >= 1, limit_s=10, what="first readings")
        sessions_before = list(iserver._external_sessions.values())
        assert len(sessions_before) == 1
        # What the server does when a session times out: close it, with its subscriptions.
        await sessions_before[0].close_session()
        await opcua_server.variables[0].write_value(99.0)
        await drive(
            poller, lambda: 99.0 in [v for _, v in stored(sessions, "t0")], limit_s=15, what="data in a new session"
        )
    await poller.close()
    assert sessions_before[0] not in iserver._external_sessions.values()
    messages = ingest_messages(caplog)
    assert sum(" down: " in m for m in messages) == 1 and sum("back up" in m for m in messages) == 1, messages


@one_database
async def test_session_expired_during_a_stall_is_recreated(sessions, tmp_path, caplog):
    """The server's own session timeout fires while the client is cut off by a black hole."""
    server = await OpcUaTestServer(n=3).start()
    server.server.iserver.max_session_timeout_ms = 1500  # the server grants at most 1.5 s
    proxy = await NetemProxy(server.port).start()
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path)
    iserver = server.server.iserver
    try:
        with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
            await drive(poller, lambda: len(stored(sessions, "t0")) >= 1, limit_s=10, what="first readings")
            first = list(iserver._external_sessions.values())
            proxy.black_hole()
            await drive(
                poller,
                lambda: not any(s in iserver._external_sessions.values() for s in first),
                limit_s=10,
                what="the server expiring the session",
            )
            await proxy.heal()
            await server.variables[0].write_value(42.0)
            await drive(
                poller, lambda: 42.0 in [v for _, v in stored(sessions, "t0")], limit_s=15, what="data in a new session"
            )
    finally:
        await poller.close()
        await proxy.stop()
        await server.stop()
    messages = ingest_messages(caplog)
    assert sum(" down: " in m for m in messages) == 1 and sum("back up" in m for m in messages) == 1, messages


@one_database
async def test_data_flows_within_the_backoff_cap_after_a_long_outage(sessions, tmp_path, caplog):
    """An outage longer than the cap: the first new reading comes within the cap (+ a poll and a connect)."""
    cap = 2.0
    server = await OpcUaTestServer(n=3).start()
    poller = make_poller(sessions, server.url, server.node_ids, tmp_path, reconnect_max_delay_s=cap)
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        await drive(poller, lambda: len(stored(sessions, "t0")) >= 1, limit_s=10, what="first readings")
        await server.stop()
        await keep_polling(poller, 3 * cap)  # long enough for the waits to reach the cap
        assert poller.state == "DOWN" and poller.backoff.delay == cap
        server = await OpcUaTestServer(n=3, port=server.port).start()
        back_at = time.monotonic()
        await server.variables[0].write_value(7.0)
        first_new = await drive(
            poller,
            lambda: 7.0 in [v for _, v in stored(sessions, "t0")],
            limit_s=30,
            what="data after the server came back",
        )
    await poller.close()
    await server.stop()
    gap = first_new - back_at
    bound = cap + POLL_S + poller.config.connect_timeout_s
    assert gap < bound, f"data again {gap:.1f} s after the server was back; bound {bound:.1f} s"
    assert sum("back up" in m for m in ingest_messages(caplog)) == 1


def test_backoff_doubles_to_the_cap_with_jitter_below_each_step():
    backoff = Backoff(cap=30.0, rng=random.Random(1).random)
    waits = [backoff.next() for _ in range(12)]
    # Quick right after a loss (a server restarting in seconds is read again within a fraction of
    # its downtime), growing only while it stays away.
    steps = [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    assert all(step / 2 <= w <= step for w, step in zip(waits, steps)), waits
    assert len({round(w, 6) for w in waits[7:]}) > 1  # jittered: pollers cut together do not retry in step
    backoff.reset()
    assert backoff.next() <= 0.25


def test_backoff_cap_below_the_first_step_is_respected():
    backoff = Backoff(cap=0.5)
    assert all(w <= 0.5 for w in (backoff.next() for _ in range(5)))


def test_default_settings_bring_data_back_within_30_s():
    """Worst case after the server is back: the longest wait, the next poll, and a connect."""
    config = EndpointConfig(name="plc", endpoint_url="opc.tcp://h:4840")
    backoff = Backoff(cap=config.reconnect_max_delay_s, rng=lambda: 1.0)
    worst_wait = max(backoff.next() for _ in range(20))
    assert worst_wait + config.poll_interval_s + config.connect_timeout_s < 30
