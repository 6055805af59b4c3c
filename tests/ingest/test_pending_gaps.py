"""Gaps found while the database is down survive the worker: kept beside the spool, recorded once it is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from pdm.config import Settings
from pdm.ingest.pending_gaps import FILE, PendingGaps
from pdm.ingest.poller import EndpointPoller
from pdm.ingest.share import EndpointShare
from pdm.ingest.spool import Spool
from pdm.storage.gaps import gaps_for_endpoint, record_gaps
from pdm.storage.session import make_engine, session_factory
from tests.helpers.netem import NetemProxy
from tests.helpers.pollers import QUICK, make_poller, successor, until_up
from tests.helpers.servers import HistorizingServer, free_port


def _gap(i: int) -> dict:
    return {"endpoint_id": 1, "tag_id": i, "start_ts": 10.0, "end_ts": 20.0, "reason": "r", "recorded_at": 30.0}


def test_gaps_are_forgotten_only_once_committed_and_a_cut_append_is_dropped(tmp_path):
    pending = PendingGaps(tmp_path)
    pending.add([_gap(1), _gap(2)])
    taken = pending.peek()
    pending.add([_gap(3)])  # while the first two are being recorded
    assert [g["tag_id"] for g in PendingGaps(tmp_path).peek()] == [1, 2, 3]  # a kill now loses none
    pending.commit(taken)
    assert [g["tag_id"] for g in PendingGaps(tmp_path).peek()] == [3]
    with (tmp_path / FILE).open("ab") as fh:
        fh.write(b'[{"endpoint_id": 1, "tag')  # a worker killed in the middle of an append
    again = PendingGaps(tmp_path)
    assert [g["tag_id"] for g in again.peek()] == [3]
    again.add([_gap(4)])
    assert [g["tag_id"] for g in PendingGaps(tmp_path).peek()] == [3, 4]
    again.commit(again.peek())
    assert not (tmp_path / FILE).exists() and len(PendingGaps(tmp_path)) == 0


def test_a_spool_opens_beside_its_gaps(tmp_path):
    PendingGaps(tmp_path).add([_gap(1)])
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append([{"tag_id": 1, "ts": 1.0, "value": 1.0, "quality": 0, "received_at": 1.0}])
    assert Spool(tmp_path, max_bytes=10_000).rows == 1


async def _gap_while_the_database_is_down(sessions, tmp_path) -> EndpointPoller:
    """A poller whose server comes back while the database is away: its backfill finds a gap it cannot record."""
    server = await HistorizingServer(n=2, historized=1).start()  # t1 keeps no history: its outage is a gap
    proxy = await NetemProxy(server.port).start()
    poller = make_poller(sessions, proxy.url(), server.node_ids, tmp_path, **QUICK)
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none", pool_pre_ping=False)
    try:
        for i in range(2):
            await server.write(i, [(time.time(), 5.0)])
        assert await poller.poll_once() == 2
        await poller.flush()
        await proxy.cut()
        assert await poller.poll_once() == 0 and poller.state == "DOWN"
        await asyncio.sleep(0.1)
        for i in range(2):
            await server.write(i, [(time.time(), 6.0)])
        poller.sessions = session_factory(dead)  # the database goes away too
        await proxy.heal()
        await until_up(poller)
        await poller.flush()
        assert len(poller.pending_gaps) == 1 and poller.spool.rows > 0
        await poller.connector.close()  # the worker dies here: the poller is never closed, nothing is flushed
    finally:
        dead.dispose()
        await proxy.stop()
        await server.stop()
    return poller


@pytest.mark.parametrize("replayed_by", ["next poller", "orphan sweep", "next poller after a commit not forgotten"])
async def test_a_gap_found_during_a_database_outage_is_recorded_once_after_the_worker_is_killed(
    sessions, tmp_path, replayed_by
):
    worker_folder = tmp_path / "var" / "spool" / "w1"
    dead_worker = await _gap_while_the_database_is_down(sessions, worker_folder)
    folder, (expected,) = dead_worker.spool.folder, dead_worker.pending_gaps.peek()
    assert (folder / FILE).exists()
    if replayed_by.endswith("not forgotten"):  # killed after the commit that recorded it, before forgetting it
        with sessions.begin() as s:
            record_gaps(s, [expected])
    if replayed_by.startswith("next poller"):  # the endpoint's next poller on the same folder, its server still away
        again = successor(dead_worker, folder, sessions)
        assert len(again.pending_gaps) == 1
        assert await again.poll_once() == 0 and again.state == "DOWN"
        for _ in range(100):
            if not again._unwritten():
                break
            await asyncio.sleep(0.02)
        await again.close()
    else:  # another worker of the host sweeps the dead one's folder
        share = EndpointShare(sessions=sessions, settings=Settings(var_dir=tmp_path / "var"), worker_id="w2")
        assert share.drain_orphan_spools() > 0
        assert not worker_folder.exists()
    del dead_worker
    assert not (folder / FILE).exists()
    with sessions() as s:
        gaps = gaps_for_endpoint(s, company_id=1, endpoint_id=1)
    assert [(g.tag, g.start_ts, g.end_ts, g.reason) for g in gaps] == [
        ("t1", expected["start_ts"], expected["end_ts"], expected["reason"])
    ]
    assert "BadHistoryOperationUnsupported" in expected["reason"]
