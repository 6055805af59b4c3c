"""An endpoint's backfill_max_h bounds what is asked of the server's history after an outage; what the
outage lost before that horizon is recorded as a gap, never silently missing."""

from __future__ import annotations

import asyncio
import time

from pdm.connectors import Reading
from pdm.connectors.history import HistoryResult
from pdm.ingest import backfill
from pdm.storage.gaps import gaps_for_endpoint
from tests.helpers.netem import NetemProxy
from tests.helpers.pollers import QUICK, make_poller, stored_values, successor, until_up
from tests.helpers.servers import HistorizingServer


class _History:
    """Answers every node with one value just after what it was asked for, and says its history reached."""

    def __init__(self):
        self.asked: dict[str, float] = {}

    async def read_history(self, since, until):
        self.asked = dict(since)
        result = HistoryResult()
        for node, ts in since.items():
            result.readings[node] = [Reading(node, 1.0, 0, ts + 1.0, until)]
            result.reached.add(node)
        return result


async def _missed(history, *, max_back_s, unread_from=1_000.0, until=10_000.0):
    return await backfill.read_missed(
        history,
        endpoint_id=1,
        tags={"a": (7,), "b": (8,)},
        since={"a": 900.0, "b": 9_500.0},
        unread_from=unread_from,
        until=until,
        max_back_s=max_back_s,
        poll_interval_s=1.0,
    )


async def test_a_short_horizon_asks_history_only_that_far_back_and_the_rest_is_a_gap():
    history = _History()
    missed = await _missed(history, max_back_s=3_600.0)
    assert history.asked == {"a": 6_400.0, "b": 9_500.0}  # b's last value is within the hour: asked as is
    assert {(g["tag_id"], g["start_ts"], g["end_ts"]) for g in missed.gaps} == {
        (7, 1_000.0, 6_400.0),
        (8, 1_000.0, 6_400.0),
    }
    assert {g["reason"] for g in missed.gaps} == {f"not backfilled: {backfill.BEYOND_HORIZON}"}
    assert len(missed.readings) == 2


async def test_an_outage_within_the_horizon_is_read_back_whole():
    history = _History()
    missed = await _missed(history, max_back_s=24 * 3_600.0)
    assert history.asked == {"a": 900.0, "b": 9_500.0}
    assert missed.gaps == []


async def test_without_history_the_gap_from_the_last_read_is_not_doubled():
    missed = await _missed(object(), max_back_s=3_600.0)
    assert {(g["tag_id"], g["start_ts"], g["end_ts"]) for g in missed.gaps} == {
        (7, 1_000.0, 10_000.0),
        (8, 1_000.0, 10_000.0),
    }
    assert {g["reason"] for g in missed.gaps} == {f"not backfilled: {backfill.NO_HISTORY}"}


async def test_a_poller_with_a_one_second_horizon_reads_back_only_the_last_second(sessions, tmp_path):
    server = await HistorizingServer(n=1, historized=1).start()
    proxy = await NetemProxy(server.port).start()
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, backfill_max_h=1 / 3600, **QUICK)
    try:
        await server.write(0, [(time.time(), 5.0)])
        assert await poller.poll_once() == 1
        await poller.flush()
        await proxy.cut()
        cut_at = time.time()
        assert await poller.poll_once() == 0 and poller.state == "DOWN"
        await asyncio.sleep(2.0)
        now = time.time()
        # Stamped early in the outage (beyond the horizon), just before the reconnect (within it), and now.
        await server.write(0, [(cut_at + 0.05, 10.0), (now - 0.05, 11.0), (now, 12.0)])
        await proxy.heal()
        await until_up(poller)
        healed_at = time.time()
        await poller.flush()
    finally:
        await poller.close()
        await proxy.stop()
        await server.stop()
    assert stored_values(sessions)["t0"] == [5.0, 11.0, 12.0]
    with sessions() as s:
        gaps = gaps_for_endpoint(s, company_id=1, endpoint_id=poller.endpoint_id, start=0, end=2 * healed_at)
    assert [g.reason for g in gaps] == [f"not backfilled: {backfill.BEYOND_HORIZON}"]
    assert gaps[0].start_ts <= cut_at + 0.05 < gaps[0].end_ts < now - 0.05


async def test_a_take_over_after_more_than_the_horizon_reads_back_the_horizon_and_records_the_rest(sessions, tmp_path):
    server = await HistorizingServer(n=1, historized=1).start()
    first = make_poller(sessions, server.url, server.node_ids, tmp_path / "a", backfill_max_h=1 / 3600, **QUICK)
    try:
        stored_at = time.time()
        await server.write(0, [(stored_at, 5.0)])
        assert await first.poll_once() == 1
    finally:
        await first.close()  # the worker stops; nobody reads the endpoint for longer than its horizon
    await asyncio.sleep(1.5)
    now = time.time()
    await server.write(0, [(stored_at + 0.05, 10.0), (now - 0.05, 11.0), (now, 12.0)])
    taker = successor(first, tmp_path / "b")
    try:
        assert await taker.poll_once() == 1
        await taker.flush()
    finally:
        await taker.close()
        await server.stop()
    assert stored_values(sessions)["t0"] == [5.0, 11.0, 12.0] and taker.backfilled == 2
    with sessions() as s:
        gaps = gaps_for_endpoint(s, company_id=1, endpoint_id=taker.endpoint_id, start=0, end=2 * now)
    assert [g.reason for g in gaps] == [f"not backfilled: {backfill.BEYOND_HORIZON}"]
    assert abs(gaps[0].start_ts - stored_at) < 1e-3 and stored_at + 0.05 < gaps[0].end_ts < now - 0.05
