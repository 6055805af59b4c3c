"""A worker SIGKILLed in the middle of replaying its spool: what it had not committed is replayed again, once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from pdm.config import parse_plants
from pdm.ingest.spool import Spool
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.tables import Reading
from tests.helpers.plants import one_endpoint

ROWS = 12_000
BATCH = 1_000
KILL_AFTER = 5  # batches committed before the kill


def _tag(sessions) -> int:
    cfg = parse_plants(
        one_endpoint("opc.tcp://127.0.0.1:4840", [{"node_id": "ns=2;i=2", "tag": "flow", "asset": "P-1"}])
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        return list_tags(s, company_id=1)[0].id


def test_replay_killed_between_commit_and_forget_loses_nothing_and_stores_nothing_twice(
    db_url, engine, sessions, tmp_path
):
    tag = _tag(sessions)
    folder = tmp_path / "spool"
    spool = Spool(folder, max_bytes=10**9, segment_bytes=50_000)
    rows = [{"tag_id": tag, "ts": float(i), "value": float(i), "quality": 0, "received_at": 1.0} for i in range(ROWS)]
    for start in range(0, ROWS, 250):
        spool.append(rows[start : start + 250])
    # The worst moment: the database has committed a batch, the spool has not yet moved past it.
    script = textwrap.dedent(
        f"""
        import os, signal
        from pdm.ingest.spool import Spool
        from pdm.storage.readings import READING_COLUMNS, insert_reading_tuples
        from pdm.storage.session import make_engine, session_factory

        sessions = session_factory(make_engine({db_url!r}))
        spool = Spool({str(folder)!r}, max_bytes=10**9, segment_bytes=50_000)
        committed = 0
        for n in range({KILL_AFTER + 1}):
            batch = spool.peek({BATCH})
            with sessions.begin() as s:
                insert_reading_tuples(s, [tuple(r[c] for c in READING_COLUMNS) for r in batch.rows])
            committed += len(batch.rows)
            if n == {KILL_AFTER}:
                print(committed, len(batch.rows), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            spool.commit(batch)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    with sessions() as s:
        stored_before = s.execute(select(func.count()).select_from(Reading)).scalar_one()
    committed, in_flight = map(int, proc.stdout.split())
    assert stored_before == committed > 0
    left = Spool(folder, max_bytes=10**9)
    # Committed and forgotten rows are gone from the spool; the batch committed but not forgotten is
    # still there (with the rest of its segment, replayed whole: the database ignores the repeats).
    assert ROWS - committed + in_flight <= left.rows < ROWS

    def write(batch):
        with sessions.begin() as s:
            from pdm.storage.readings import insert_readings

            insert_readings(s, batch)

    left.drain(write)
    with sessions() as s:
        count, distinct = s.execute(select(func.count(), func.count(func.distinct(Reading.ts)))).one()
    assert count == distinct == ROWS
    assert left.rows == 0 and not list(folder.glob("*.jsonl"))
