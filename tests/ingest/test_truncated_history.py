"""A server whose history keeps less than an outage lasted: what it no longer holds is a gap, not "no change"."""

from __future__ import annotations

import asyncio
import time

from pdm.connectors import Reading
from pdm.connectors.history import HistoryResult
from pdm.ingest import backfill
from pdm.storage.gaps import gaps_for_endpoint
from tests.helpers.netem import NetemProxy
from tests.helpers.pollers import QUICK, make_poller, stored_values, until_up
from tests.helpers.servers import HistorizingServer

KEEP_S = 0.5  # the short histories keep half a second
POLL_S = 0.1  # so values more than 0.2 s after the last read are not "the next one expected"


async def test_a_cut_longer_than_the_history_keeps_is_a_gap_up_to_the_first_value_it_still_holds(sessions, tmp_path):
    server = await HistorizingServer(n=3, historized=3, keep_s={0: KEEP_S, 1: KEEP_S}).start()
    proxy = await NetemProxy(server.port).start()
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, **QUICK)
    poller.config = poller.config.model_copy(update={"poll_interval_s": POLL_S})
    try:
        now = time.time()
        for i in range(3):
            await server.write(i, [(now, 5.0)])
        assert await poller.poll_once() == 3
        await poller.flush()
        await proxy.cut()
        assert await poller.poll_once() == 0 and poller.state == "DOWN"
        cut = poller._read_at  # nobody read the endpoint after this
        for k in range(10):  # t0 changes all through the outage; its history keeps the last half second
            await server.write(0, [(time.time(), 10.0 + k)])
            await asyncio.sleep(0.15)
        await server.write(1, [(cut + 0.5, 20.0)])  # changed early on: its history has already let it go
        await server.write(2, [(time.time(), 30.0)])  # changed late; its history keeps everything
        await proxy.heal()
        await until_up(poller)
        await poller.flush()
    finally:
        await poller.close()
        await proxy.stop()
        await server.stop()
    stored = stored_values(sessions)
    with sessions() as s:
        gaps = {g.tag: g for g in gaps_for_endpoint(s, company_id=1, endpoint_id=poller.endpoint_id)}
    assert sorted(gaps) == ["t0", "t1"]
    assert all(g.reason == f"not backfilled: {backfill.CUT_SHORT}" for g in gaps.values())
    assert stored["t0"][0] == 5.0 and stored["t0"][-1] == 19.0 and len(stored["t0"]) < 11  # the oldest lost
    assert gaps["t0"].start_ts == cut and gaps["t0"].seconds > 0.5
    assert gaps["t1"].start_ts == cut and abs(gaps["t1"].end_ts - (cut + 0.5)) < 1e-5  # up to its current value
    assert stored["t1"] == [5.0, 20.0] and stored["t2"] == [5.0, 30.0]  # t2: no gap, its history reaches back


class _History:
    """A connector whose history answers as told, per node: (values' times, whether it holds the stored one)."""

    def __init__(self, answers: dict[str, tuple[list[float], bool]]):
        self.answers = answers

    async def read_history(self, since, until):
        result = HistoryResult()
        for node, (times, reached) in self.answers.items():
            result.readings[node] = [Reading(node, 1.0, 0, ts, until) for ts in times]
            if reached:
                result.reached.add(node)
        return result


async def test_only_a_history_that_starts_late_and_lost_the_stored_value_is_a_gap():
    answers = {
        "reaches_back": ([160.0], True),  # first change long after the last read, and history holds what was stored
        "next_value": ([101.5], False),  # within two poll intervals of the last read: what was expected
        "cut_short": ([150.0, 170.0], False),
        "quiet": ([], False),  # nothing in history, and the current value is older than the stretch
        "changed_unseen": ([], False),  # nothing in history, yet the current value was written in the stretch
        "after": ([], False),  # current value newer than the stretch's end: a clock that runs ahead, not a change
    }
    tags = {node: (i,) for i, node in enumerate(answers)}
    missed = await backfill.read_missed(
        _History(answers),
        endpoint_id=1,
        tags=tags,
        since=dict.fromkeys(answers, 90.0),
        unread_from=100.0,
        until=200.0,
        max_back_s=86_400.0,
        current={"quiet": 90.0, "changed_unseen": 130.0, "after": 205.0},
        poll_interval_s=1.0,
    )
    assert {g["tag_id"]: (g["start_ts"], g["end_ts"]) for g in missed.gaps} == {
        tags["cut_short"][0]: (100.0, 150.0),
        tags["changed_unseen"][0]: (100.0, 130.0),
    }
    assert len(missed.readings) == 4  # what history gave is still read back
