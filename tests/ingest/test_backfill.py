"""Backfill: what a network cut made the poller miss is read back from the server's history; the rest is a gap."""

from __future__ import annotations

import asyncio
import logging
import time

from pdm.storage.gaps import gaps_for_endpoint
from tests.helpers.netem import NetemProxy
from tests.helpers.pollers import QUICK, make_poller, stored_values, successor, until_up
from tests.helpers.servers import HistorizingServer


async def test_a_cut_is_backfilled_where_the_server_keeps_history_and_recorded_as_a_gap_where_not(
    sessions, tmp_path, caplog
):
    server = await HistorizingServer(n=4, historized=2).start()
    proxy = await NetemProxy(server.port).start()
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, **QUICK)
    try:
        now = time.time()
        for i in range(4):
            await server.write(i, [(now, 5.0)])
        assert await poller.poll_once() == 4
        await poller.flush()
        await proxy.cut()
        cut_at = time.time()
        assert await poller.poll_once() == 0 and poller.state == "DOWN"
        await asyncio.sleep(0.1)
        start = cut_at  # stamped in the past, as a device's values are
        for i in range(4):  # six values each while nobody can read them
            await server.write(i, [(start + k * 0.01, 10.0 + k) for k in range(6)])
        await proxy.heal()
        with caplog.at_level(logging.WARNING, logger="pdm.ingest"):
            await until_up(poller)
        healed_at = time.time()
        await poller.flush()
    finally:
        await poller.close()
        await proxy.stop()
        await server.stop()
    stored = stored_values(sessions)
    for historized in ("t0", "t1"):
        assert stored[historized] == [5.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0], historized
    for plain in ("t2", "t3"):
        assert stored[plain] == [5.0, 15.0], plain  # only what was there when it came back
    assert poller.backfilled == 12 and poller.history_nodes == 2  # of 4: health says 2/4
    with sessions() as s:
        gaps = gaps_for_endpoint(s, company_id=1, endpoint_id=poller.endpoint_id, start=0, end=2 * healed_at)
    assert sorted(g.tag for g in gaps) == ["t2", "t3"]
    for g in gaps:
        assert "not backfilled" in g.reason and "BadHistoryOperationUnsupported" in g.reason
        assert g.start_ts <= cut_at and start < g.end_ts <= healed_at  # the time nobody read it
    messages = [r.getMessage() for r in caplog.records]
    assert sum("12 readings read back from history; 2 tags recorded as gaps" in m for m in messages) == 1


async def test_a_new_poller_reads_back_from_the_last_value_stored_by_the_one_before(sessions, tmp_path):
    server = await HistorizingServer(n=2, historized=1).start()
    first = make_poller(sessions, server.url, server.node_ids, tmp_path, **QUICK)
    try:
        now = time.time()
        for i in range(2):
            await server.write(i, [(now, 5.0)])
        assert await first.poll_once() == 2
        await first.close()  # the worker holding the endpoint stops ...
        later = time.time()
        await asyncio.sleep(0.1)
        for i in range(2):
            await server.write(i, [(later + k * 0.01, 20.0 + k) for k in range(3)])
        second = successor(first, tmp_path / "spool2")  # ... and another takes it over
        assert await second.poll_once() == 2
        await second.close()
    finally:
        await server.stop()
    stored = stored_values(sessions)
    assert stored["t0"] == [5.0, 20.0, 21.0, 22.0] and stored["t1"] == [5.0, 22.0]
    assert second.backfilled == 3


async def test_an_endpoint_never_read_before_asks_no_history(sessions, tmp_path):
    server = await HistorizingServer(n=2, historized=2).start()
    poller = make_poller(sessions, server.url, server.node_ids, tmp_path, **QUICK)
    try:
        assert await poller.poll_once() == 2
        await poller.close()
    finally:
        await server.stop()
    assert poller.backfilled == 0 and server.requests == []


async def test_a_poller_started_while_the_database_is_down_catches_up_once_it_is_back(sessions, tmp_path):
    from pdm.storage.session import make_engine, session_factory
    from tests.helpers.servers import free_port

    server = await HistorizingServer(n=2, historized=1).start()
    first = make_poller(sessions, server.url, server.node_ids, tmp_path, **QUICK)
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none", pool_pre_ping=False)
    try:
        now = time.time()
        for i in range(2):
            await server.write(i, [(now, 5.0)])
        assert await first.poll_once() == 2
        await first.close()  # the worker holding the endpoint dies ...
        await asyncio.sleep(0.1)
        missed = time.time() - 0.05
        for i in range(2):  # ... values come and go before anyone polls again ...
            await server.write(i, [(missed + k * 0.01, 20.0 + k) for k in range(3)])
        # ... and its successor starts while the database is down
        second = successor(first, tmp_path / "spool2", session_factory(dead))
        assert await second.poll_once() == 2 and second.backfilled == 0
        await second.flush()
        assert second.spool.rows == 2
        second.sessions = sessions  # the database is back
        second._next_replay = 0  # state, not timing: the spool's retry wait is over
        assert await second.poll_once() == 2
        await second.flush()
        for _ in range(100):  # its own spool, with its first values, is replayed first (polls go on)
            if not second.spool.rows:
                break
            await second.poll_once()
            await asyncio.sleep(0.02)
        assert second.spool.rows == 0 and second.backfilled == 0  # not before the previous holder's spools are in
        second.catch_up_ready = True
        assert await second.poll_once() == 2
        await second.close()
    finally:
        dead.dispose()
        await server.stop()
    stored = stored_values(sessions)
    assert stored["t0"] == [5.0, 20.0, 21.0, 22.0] and stored["t1"] == [5.0, 22.0]
    assert second.backfilled == 3  # 20, 21 and 22 (also read live: stored once)
    with sessions() as s:
        gaps = gaps_for_endpoint(s, company_id=1, endpoint_id=first.endpoint_id)
    assert [(g.tag, "BadHistoryOperationUnsupported" in g.reason) for g in gaps] == [("t1", True)]


class _SlowAnswer:
    """A server without history whose answers take 0.3 s; the second read finds the connection gone."""

    connected = False

    def __init__(self):
        self.reads = 0
        self.made_during_first_answer: float | None = None

    async def connect(self):
        self.connected = True

    async def close(self):
        self.connected = False

    async def read(self, node_ids):
        from pdm.connectors import Reading
        from pdm.errors import EndpointUnavailable

        self.reads += 1
        if self.reads == 2:
            raise EndpointUnavailable("connection reset")
        sampled = time.time()
        await asyncio.sleep(0.3)
        if self.reads == 1:  # the server made a new value while its answer travelled
            self.made_during_first_answer = sampled + 0.1
        return [Reading(node_id=n, value=1.0, quality=0, ts=sampled, received_at=time.time()) for n in node_ids]


async def test_a_value_made_while_the_last_answer_travelled_lies_inside_the_gap(sessions, tmp_path):
    poller = make_poller(sessions, "opc.tcp://127.0.0.1:1/never", ["ns=2;s=a"], tmp_path)
    poller.connector = fake = _SlowAnswer()
    poller.backoff.next = lambda: 0.0
    try:
        assert await poller.poll_once() == 1
        assert await poller.poll_once() == 0 and poller.state == "DOWN"
        assert await poller.poll_once() == 1
        await poller.flush()
    finally:
        await poller.close()
    with sessions() as s:
        (gap,) = gaps_for_endpoint(s, company_id=1, endpoint_id=poller.endpoint_id)
    assert gap.start_ts <= fake.made_during_first_answer <= gap.end_ts
