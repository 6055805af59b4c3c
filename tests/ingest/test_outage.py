"""A database outage with a worker killed and another started in the middle: nothing lost, nothing twice.

Runs against a PostgreSQL cluster of the test's own (``private_postgres``), stopped and started
by the test, an asyncua server whose values are all known, and a first worker in its own
process, SIGKILLed while the database is down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from sqlalchemy import select

from pdm.config import DetectionConfig, Settings, parse_plants
from pdm.ingest import leases
from pdm.ingest.assignment import FILE as ASSIGNMENT
from pdm.runtime.worker import Worker
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Reading
from tests.helpers.plants import one_endpoint
from tests.helpers.servers import HistorizingServer

PLANTS = Path(__file__).resolve().parents[2] / "config" / "plants.example.yaml"
LEASES = {"lease_ttl_s": 3.0, "lease_renew_s": 0.5}
# Each value stays on the server a shorter time than the new worker takes to start polling: what the
# dead worker had no time to spool is read back from the server's history once the database is back.
HOLD_S = 0.3


def _plant(sessions, server) -> dict[int, str]:
    nodes = [{"node_id": server.node_ids[i], "tag": f"t{i}", "asset": "P-1"} for i in range(4)]
    cfg = parse_plants(one_endpoint(server.url, nodes, poll_interval_s=0.2))
    with sessions.begin() as s:
        apply_plants(s, cfg)
        return {t.id: t.node_id for t in list_tags(s, company_id=1)}


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # the database is still coming back
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_worker_restarted_during_a_database_outage_polls_spools_and_loses_nothing(private_postgres, tmp_path):
    opcua_server = await HistorizingServer(n=4, historized=4).start()
    engine = make_engine(private_postgres.url)
    upgrade(engine)
    sessions = session_factory(engine)
    tags = _plant(sessions, opcua_server)
    written: list[float] = []

    writing = True

    async def write_values():
        n = 0
        while writing:  # stopped between two ticks, never in the middle of one
            n += 1
            now = time.time()
            stamp = datetime.fromtimestamp(now, UTC)
            for var in opcua_server.variables[:4]:
                dv = ua.DataValue(ua.Variant(100.0 + n), SourceTimestamp=stamp, ServerTimestamp=stamp)
                await opcua_server.server.write_attribute_value(var.nodeid, dv)
            written.append(now)
            await asyncio.sleep(HOLD_S)

    var_dir = tmp_path / "var"
    env = {
        **os.environ,
        "PDM_VAR_DIR": str(var_dir),
        "PDM_LEASE_TTL_S": str(LEASES["lease_ttl_s"]),
        "PDM_LEASE_RENEW_S": str(LEASES["lease_renew_s"]),
    }
    command = [sys.executable, "-m", "pdm.cli", "worker", "--role", "ingest", "--config", str(PLANTS)]
    with open(tmp_path / "a.log", "w") as log_file:
        first = subprocess.Popen(
            [*command, "--database", private_postgres.url], env=env, stdout=log_file, stderr=log_file
        )
    writer = None
    stop_b = asyncio.Event()
    b_run = None
    try:
        await _until(lambda: list(var_dir.glob(f"spool/*/{ASSIGNMENT}")), 60, "the first worker to poll")
        assert first.poll() is None, (tmp_path / "a.log").read_text()
        writer = asyncio.create_task(write_values())
        await asyncio.sleep(2 * HOLD_S)
        dead = next(var_dir.glob(f"spool/*/{ASSIGNMENT}")).parent.name

        private_postgres.stop()  # the outage begins: the first worker spools
        await asyncio.sleep(2 * HOLD_S)
        first.send_signal(signal.SIGKILL)  # ... and dies with its spool on disk
        first.wait(10)

        b = Worker(
            engine=engine,
            settings=Settings(database_url=private_postgres.url, var_dir=var_dir, **LEASES),
            detection=DetectionConfig(),
            role="ingest",
            worker_id="b",
        )
        b_run = asyncio.create_task(b.run(stop_b))
        await _until(lambda: b.pollers, 10, "the new worker to poll the dead one's endpoint")
        poller = next(iter(b.pollers.values()))
        await _until(lambda: poller.spool.rows >= 8 or writer.done(), 20, "the new worker to spool")
        assert not writer.done(), writer.exception()

        private_postgres.start()  # the outage ends
        await _until(
            lambda: _holders(sessions) == {poller.endpoint_id: "b"} and poller.spool.rows == 0,
            30,
            "the new worker to take the lease over and replay its spool",
        )
        await _until(lambda: not (var_dir / "spool" / dead).exists(), 30, "the dead worker's spool to be replayed")
        await asyncio.sleep(2 * HOLD_S)
        writing = False
        await writer
        await asyncio.sleep(1.0)  # the last value is read and committed
    finally:
        if writer:
            writer.cancel()
        if first.poll() is None:
            first.kill()
        stop_b.set()
        if b_run:
            await b_run
        await opcua_server.stop()
    with sessions() as s:
        stored = s.execute(select(Reading.tag_id, Reading.ts).where(Reading.ts >= written[0] - 1e-3)).all()
    engine.dispose()
    for tag in tags:
        got = sorted(round(ts, 3) for t, ts in stored if t == tag)
        assert got == [round(ts, 3) for ts in written], f"tag {tag}: {len(got)} stored of {len(written)} written"
    assert len(written) >= 8


def _holders(sessions) -> dict[int, str]:
    with sessions() as s:
        return leases.holders(s)
