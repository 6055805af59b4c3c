"""Ingest benchmark: raw asyncua read rate vs readings stored by our pipeline, in one run.

    python bench/ingest.py --nodes 1000 --seconds 10

Starts an OPC UA server with N Double variables (100 per object, as real address spaces are
spread) in a child process, so the server and the client each get a core, as they would on a
plant network. Then, against the same server:

1. raw: ``client.read_values`` on every node in a loop (what asyncua alone can do);
2. pipeline: ``EndpointPoller.poll_once`` in a loop (OPC UA → SQLite, committed), counting
   the rows really in the database at the end of each phase.

The two alternate in short phases (``--rounds``) so that a busy neighbour on the machine
slows both alike instead of whichever ran second.

The pipeline uses ``timestamp_source: received`` so that every poll is a new reading per
node even though the server's values do not change (with ``source`` the database would
rightly ignore re-deliveries). The last line is ``ratio=<pipeline/raw>``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NS = "urn:pdm:bench"
PER_OBJECT = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, n: int, ready, stop) -> None:
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from asyncua import Server, ua

    async def main():
        server = Server()
        await server.init()
        server.set_endpoint(url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NS)
        for start in range(0, n, PER_OBJECT):
            obj = await server.nodes.objects.add_object(ua.NodeId(f"o{start}", idx), f"o{start}")
            for i in range(start, min(start + PER_OBJECT, n)):
                await obj.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", float(i))
        async with server:
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.2)

    asyncio.run(main())


class Raw:
    """asyncua alone: ``read_values`` on every node, values counted as they arrive."""

    def __init__(self, url: str, node_ids: list[str]):
        from asyncua import Client

        self.client = Client(url, timeout=30)
        self.node_ids = node_ids
        self.nodes: list = []

    async def start(self) -> None:
        await self.client.connect()
        idx = (await self.client.get_namespace_array()).index(NS)
        self.nodes = [self.client.get_node(n.replace(f"nsu={NS}", f"ns={idx}")) for n in self.node_ids]
        await self.client.read_values(self.nodes)  # warm-up: the first request pays for the session

    async def run(self, seconds: float) -> tuple[int, float]:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            count += len(await self.client.read_values(self.nodes))
        return count, time.perf_counter() - start

    async def stop(self) -> None:
        await self.client.disconnect()


def _catalog(sessions, url: str, node_ids: list[str]):
    from sqlalchemy import insert

    from pdm.config import EndpointConfig, parse_plants
    from pdm.storage.catalog import apply_plants, list_assets, list_endpoints
    from pdm.storage.tables import Tag

    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "bench",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A", "asset_class": "bench"}],
                            "endpoints": [{"name": "plc", "endpoint_url": url}],
                        }
                    ],
                }
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        ep = list_endpoints(s, company_id=1)[0]
        asset = list_assets(s, company_id=1)[0]
        # Core bulk insert: apply_plants upserts tag by tag, which is not what is measured here.
        s.execute(
            insert(Tag),
            [
                {"company_id": 1, "asset_id": asset.id, "endpoint_id": ep.id, "node_id": n, "name": f"t{i}", "unit": ""}
                for i, n in enumerate(node_ids)
            ],
        )
        tags = {n: i for n, i in s.execute(Tag.__table__.select().with_only_columns(Tag.node_id, Tag.id))}
        config = EndpointConfig.model_validate({**ep.settings, "timestamp_source": "received", "request_timeout_s": 30})
        return ep.id, config, tags


class Pipeline:
    """Our path: ``EndpointPoller.poll_once`` into SQLite; only committed rows count."""

    def __init__(self, url: str, node_ids: list[str], workdir: Path):
        from pdm.storage.session import make_engine, session_factory, upgrade

        self.engine = make_engine(f"sqlite:///{workdir / 'bench.sqlite3'}")
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.url, self.node_ids, self.workdir = url, node_ids, workdir
        self.poller = None

    async def start(self) -> None:
        from pdm.ingest.poller import EndpointPoller
        from pdm.ingest.spool import Spool

        ep_id, config, tags = _catalog(self.sessions, self.url, self.node_ids)
        self.poller = EndpointPoller(
            endpoint_id=ep_id,
            name="bench/plc",
            config=config,
            tags=tags,
            sessions=self.sessions,
            spool=Spool(self.workdir / "spool", max_bytes=1 << 30),
        )
        await self.poller.poll_once()  # warm-up: connect, namespace array, limits
        await self.poller.flush()

    def _stored(self) -> int:
        from sqlalchemy import func, select

        from pdm.storage.tables import Reading

        with self.sessions() as s:
            return s.execute(select(func.count()).select_from(Reading)).scalar_one()

    async def run(self, seconds: float) -> tuple[int, float]:
        before = self._stored()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await self.poller.poll_once()
        await self.poller.flush()  # the clock stops when the last batch is committed
        elapsed = time.perf_counter() - start
        return self._stored() - before, elapsed

    async def stop(self) -> None:
        await self.poller.close()
        self.engine.dispose()


async def measure(url: str, node_ids: list[str], seconds: float, workdir: Path, rounds: int):
    """Alternate short raw and pipeline phases so that a noisy neighbour hits both alike."""
    raw, pipe = Raw(url, node_ids), Pipeline(url, node_ids, workdir)
    await raw.start()
    await pipe.start()
    totals = {"raw": [0, 0.0], "pipeline": [0, 0.0]}
    try:
        for _ in range(rounds):
            for name, side in (("raw", raw), ("pipeline", pipe)):
                count, elapsed = await side.run(seconds / rounds)
                totals[name][0] += count
                totals[name][1] += elapsed
    finally:
        await raw.stop()
        await pipe.stop()
    rate = {k: c / t for k, (c, t) in totals.items()}
    return rate["raw"], rate["pipeline"], pipe.poller.connector.max_nodes_per_read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per side (raw, pipeline)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of raw and pipeline phases")
    args = parser.parse_args()
    url = f"opc.tcp://127.0.0.1:{_free_port()}/bench"
    node_ids = [f"nsu={NS};s=v{i}" for i in range(args.nodes)]
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(url, args.nodes, ready, stop), daemon=True)
    proc.start()
    try:
        if not ready.wait(300):
            sys.exit("server did not start within 300 s")
        with tempfile.TemporaryDirectory(prefix="pdm-bench-") as tmp:
            raw, stored, chunk = asyncio.run(measure(url, node_ids, args.seconds, Path(tmp), args.rounds))
    finally:
        stop.set()
        proc.join(10)
    print(f"nodes={args.nodes} seconds={args.seconds:g} chunk={chunk}")
    print(f"raw read_values: {raw:,.0f} values/s")
    print(f"pipeline stored: {stored:,.0f} readings/s (OPC UA -> SQLite, committed)")
    print(f"ratio={stored / raw:.3f}")


if __name__ == "__main__":
    main()
