"""Soak bench: server restarts, database outages and worker kills against the real service, and what was lost.

    python bench/soak.py --scenario all --database postgres            # the README's figures (~20 min)
    python bench/soak.py --scenario all --restarts 4 --outage-s 40 --kills 2 --spool-mb 20   # quick
    python bench/soak.py --scenario restarts --stall --minutes 5 --database sqlite

One counter OPC UA server in its own process: ``--tags`` Double variables written every
``--period`` s with value = a counter and SourceTimestamp = now, the first ``--historized`` of
them kept in asyncua's history; every tick it wrote goes to a file, so "offered" is exact. The
service runs as it does in a plant: ``python -m pdm.cli worker --role ingest`` subprocesses
sharing one PDM_VAR_DIR, against a fresh database per scenario (``--database postgres``: a
PostgreSQL cluster of the bench's own, one schema per scenario; ``sqlite``: a file; or a URL).

- restarts: ``--restarts`` network cuts (a TCP proxy resets every connection and refuses new
  ones; ``--stall``: the server process is SIGSTOPped instead), down 3-7 s, up 5-18 s.
- outage: the database stopped for ``--outage-s``, the worker SIGKILLed half-way and a new one
  started at once, while the database is still down (private cluster only).
- kills: ``--kills`` SIGKILLs of the worker with the database up, a new one started 0-3 s later.
- spool: ``--spool-mb`` of old readings left in a dead worker's spool folder before the worker
  starts; the drain is timed and the live values read meanwhile are checked.

Each scenario lasts at least ``--minutes`` (0: just its events), then ``--settle-s``. Printed:
values offered, stored, duplicated, backfilled, recorded as gaps and lost, historized or not;
"lost outside a recorded gap" must be 0 (a value neither stored nor inside a gap is silently lost).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NS = "urn:pdm:soak"
LEASE = {"PDM_LEASE_TTL_S": "5", "PDM_LEASE_RENEW_S": "1.5"}
SCENARIOS = ("restarts", "outage", "kills", "spool")


def counter_server(port: int, tags: int, historized: int, period: float, log_path: str, ready, stop) -> None:
    """The server process: every tick, value n and SourceTimestamp now on every tag; the tick's time logged."""
    import logging
    from datetime import UTC, datetime

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from asyncua import Server, ua

    async def main():
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/soak")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.disable_clock()
        idx = await server.register_namespace(NS)
        nodes = [await server.nodes.objects.add_variable(ua.NodeId(f"t{i}", idx), f"t{i}", 0.0) for i in range(tags)]
        if historized:
            await server.historize_node_data_change(nodes[:historized], count=int(6 * 3600 / period))
        good = ua.StatusCode(ua.StatusCodes.Good)
        async with server:
            ready.set()
            n, next_at = 0, time.monotonic()
            with open(log_path, "a") as log:
                while not stop.is_set():
                    n += 1
                    stamp = datetime.now(UTC)
                    variant = ua.Variant(float(n), ua.VariantType.Double)
                    value = ua.DataValue(variant, StatusCode=good, SourceTimestamp=stamp, ServerTimestamp=stamp)
                    for node in nodes:
                        await server.write_attribute_value(node.nodeid, value)
                    log.write(f"{stamp.timestamp():.6f}\n")
                    log.flush()
                    next_at = max(next_at + period, time.monotonic())  # a stalled server skips the ticks it missed
                    await asyncio.sleep(next_at - time.monotonic())

    asyncio.run(main())


class Run:
    """One scenario: its database (schema or file), server, worker processes and logs."""

    def __init__(self, name: str, args, cluster, workdir: Path):
        from sqlalchemy import text

        from pdm.storage.session import make_engine, normalise_url, session_factory, upgrade
        from tests.helpers.servers import free_port

        self.name, self.args, self.dir = name, args, workdir / name
        self.dir.mkdir(parents=True)
        self.drop = lambda: None
        if args.database == "sqlite":
            self.url = f"sqlite:///{self.dir / 'soak.sqlite3'}"
        else:
            base = normalise_url(cluster.url if cluster else args.database)
            schema = f"soak_{name}_{uuid.uuid4().hex[:6]}"
            admin = make_engine(base)  # pre-pings: the outage scenario restarts the server under it
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            self.url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"

            def drop():
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()

            self.drop = drop
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.port, self.offered_log = free_port(), self.dir / "offered.txt"
        self.workers: list[subprocess.Popen] = []
        self.notes: list[str] = []
        self.server = None

    def plant(self, url: str) -> None:
        from sqlalchemy import select

        from pdm.config import parse_plants
        from pdm.storage.catalog import apply_plants
        from pdm.storage.tables import Endpoint, Tag

        nodes = [{"node_id": f"nsu={NS};s=t{i}", "tag": f"t{i}", "asset": "a"} for i in range(self.args.tags)]
        endpoint = {"name": "counter", "endpoint_url": url, "poll_interval_s": self.args.period / 4, "nodes": nodes}
        endpoint |= {"connect_timeout_s": 2.0, "request_timeout_s": 2.0}
        site = {"id": "s", "assets": [{"id": "a", "asset_class": "centrifugal_pump"}], "endpoints": [endpoint]}
        with self.sessions.begin() as s:
            apply_plants(s, parse_plants({"companies": [{"id": "soak", "sites": [site]}]}))
            self.endpoint_id = s.execute(select(Endpoint.id)).scalar_one()
            self.tag_index = {t: int(name[1:]) for t, name in s.execute(select(Tag.id, Tag.name))}

    def start_server(self, ctx) -> None:
        self.stop, ready = ctx.Event(), ctx.Event()
        a = self.args
        args = (self.port, a.tags, a.historized, a.period, str(self.offered_log), ready, self.stop)
        self.server = ctx.Process(target=counter_server, args=args, daemon=True)
        self.server.start()
        if not ready.wait(60):
            sys.exit("the counter server did not start within 60 s")

    def start_worker(self) -> None:
        env = {**os.environ, **LEASE, "PDM_VAR_DIR": str(self.dir / "var")}
        env["PDM_SPOOL_MAX_BYTES"] = str(spool_bound(self.args))
        cmd = [sys.executable, "-m", "pdm.cli", "worker", "--role", "ingest", "--config"]
        cmd += [str(REPO / "config" / "plants.example.yaml"), "--database", self.url]
        with open(self.dir / f"worker{len(self.workers)}.log", "w") as log:
            self.workers.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO))

    def kill_worker(self) -> float:
        self.workers[-1].send_signal(signal.SIGKILL)
        self.workers[-1].wait(10)
        return time.time()

    def stored(self, t0: float = 0.0, t1: float = 1e12) -> int:
        from sqlalchemy import func, select

        from pdm.storage.tables import Reading

        with self.sessions() as s:
            where = (Reading.ts >= t0, Reading.ts <= t1)
            return s.execute(select(func.count()).select_from(Reading).where(*where)).scalar_one()

    async def until_read(self) -> float:
        """Waits for the first stored reading; returns the window's start (values offered from then on count)."""
        for _ in range(600):
            if await asyncio.to_thread(self.stored, time.time() - 600):
                return time.time()
            await asyncio.sleep(0.1)
        sys.exit(f"{self.name}: nothing stored within 60 s; see {self.dir}/worker*.log")

    async def finish(self, started: float) -> tuple[float, float]:
        """Run out --minutes and --settle-s, wait for the last commits, stop everything; returns the window's end."""
        await asyncio.sleep(max(0.0, started + self.args.minutes * 60 - time.monotonic()) + self.args.settle_s)
        t1, last, same = time.time() - 2 * self.args.period, -1, 0
        for _ in range(120):  # until the count in the window stays put for 6 s (a spool replay may be under way)
            now = await asyncio.to_thread(self.stored, 0.0, t1)
            same, last = (same + 1 if now == last else 0), now
            if same >= 3:
                break
            await asyncio.sleep(2)
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
        self.stop.set()
        self.server.join(15)
        return t1

    def figures(self, t0: float, t1: float) -> dict:
        from sqlalchemy import func, select

        from pdm.storage.tables import Gap, Reading

        a, ms = self.args, lambda ts: round(ts * 1000)
        ticks = [float(x) for x in self.offered_log.read_text().split()]
        offered = {(i, ms(ts)) for ts in ticks if t0 <= ts <= t1 for i in range(a.tags)}
        with self.sessions() as s:
            rows = s.execute(select(Reading.tag_id, Reading.ts, Reading.received_at).where(Reading.ts >= t0 - 1)).all()
            gaps = s.execute(select(Gap.tag_id, Gap.start_ts, Gap.end_ts)).all()
            gap_s = s.execute(select(func.coalesce(func.sum(Gap.end_ts - Gap.start_ts), 0.0))).scalar_one()
        rows = [(self.tag_index[t], ts, rec) for t, ts, rec in rows if t0 <= ts <= t1]
        dup = len(rows) - len({(i, ts) for i, ts, _ in rows})  # (tag, ts) twice: 0 by the primary key
        stored = {(i, ms(ts)) for i, ts, _ in rows}
        lost = offered - stored
        spans = [(None if t is None else self.tag_index[t], lo - 1e-3, hi + 1e-3) for t, lo, hi in gaps]
        outside = {(i, k) for i, k in lost if not any(t in (None, i) and lo <= k / 1000 <= hi for t, lo, hi in spans)}
        logs = "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("worker*.log")))
        hist = lambda keys: sum(1 for i, *_ in keys if i < a.historized)  # noqa: E731
        out = {
            "offered": offered,
            "stored": stored & offered,
            "stored but never offered": stored - offered,
            "stored late (> 2 periods)": {(i, ms(ts)) for i, ts, rec in rows if rec - ts > 2 * a.period},
            "lost": lost,
            "lost outside a recorded gap": outside,
        }
        table = {k: (hist(v), len(v) - hist(v), len(v)) for k, v in out.items()}
        table["duplicated"] = (None, None, dup)
        table["backfilled (worker log)"] = (None, None, sum(map(int, re.findall(r"(\d+) readings read back", logs))))
        tagged = [(t,) for t, *_ in spans if t is not None]  # a row without a tag covers every tag
        table["gaps recorded (rows)"] = (hist(tagged), len(tagged) - hist(tagged), len(gaps))
        table["gap time recorded (s)"] = (None, None, round(gap_s, 1))
        self.lost_at = sorted(k / 1000 for _, k in lost)
        return table


def spool_bound(args) -> int:
    return max(256 << 20, int(args.spool_mb * 2e6))


async def restarts(run: Run, ctx, rng: random.Random) -> tuple[float, float]:
    from tests.helpers.netem import NetemProxy

    a = run.args
    proxy = None if a.stall else await NetemProxy(run.port).start()
    run.plant(proxy.url("/soak") if proxy else f"opc.tcp://127.0.0.1:{run.port}/soak")
    run.start_server(ctx)
    run.start_worker()
    t0, started, done, down = await run.until_read(), time.monotonic(), 0, 0.0
    while done < a.restarts or time.monotonic() < started + a.minutes * 60:
        await asyncio.sleep(rng.uniform(5, 18))
        os.kill(run.server.pid, signal.SIGSTOP) if a.stall else await proxy.cut()
        await asyncio.sleep(wait := rng.uniform(3, 7))
        os.kill(run.server.pid, signal.SIGCONT) if a.stall else await proxy.heal()
        done, down = done + 1, down + wait
    run.notes.append(f"{done} {'server stalls' if a.stall else 'network cuts'}, {down:.0f} s down in all")
    t1 = await run.finish(started)
    if proxy:
        await proxy.stop()
    return t0, t1


async def outage(run: Run, ctx, rng: random.Random, cluster) -> tuple[float, float]:
    run.plant(f"opc.tcp://127.0.0.1:{run.port}/soak")
    run.start_server(ctx)
    run.start_worker()
    t0, started = await run.until_read(), time.monotonic()
    await asyncio.sleep(10)
    await asyncio.to_thread(cluster.stop)
    down = time.time()
    await asyncio.sleep(run.args.outage_s / 2)
    killed = run.kill_worker()
    run.start_worker()
    await asyncio.sleep(run.args.outage_s / 2)
    await asyncio.to_thread(cluster.start)
    run.engine.dispose()
    spooled = sum(p.stat().st_size for p in (run.dir / "var" / "spool").rglob("*.jsonl"))
    run.notes.append(
        f"database down {time.time() - down:.0f} s; worker SIGKILLed {killed - down:.0f} s in and a new one started "
        f"at once; {spooled / 1e3:.0f} KB spooled when the database came back"
    )
    t1 = await run.finish(started)
    run.kills = [killed]
    return t0, t1


async def kills(run: Run, ctx, rng: random.Random) -> tuple[float, float]:
    a = run.args
    run.plant(f"opc.tcp://127.0.0.1:{run.port}/soak")
    run.start_server(ctx)
    run.start_worker()
    t0, started, run.kills = await run.until_read(), time.monotonic(), []
    while len(run.kills) < a.kills or time.monotonic() < started + a.minutes * 60:
        await asyncio.sleep(rng.uniform(8, 15))
        run.kills.append(run.kill_worker())
        await asyncio.sleep(rng.uniform(0, 3))
        run.start_worker()
    run.notes.append(f"{len(run.kills)} workers SIGKILLed; lease TTL {LEASE['PDM_LEASE_TTL_S']} s")
    return t0, await run.finish(started)


async def spool(run: Run, ctx, rng: random.Random) -> tuple[float, float]:
    from pdm.ingest.spool import Spool

    a = run.args
    run.plant(f"opc.tcp://127.0.0.1:{run.port}/soak")
    tags, base = sorted(run.tag_index), time.time() - 2 * 86400
    old = Spool(run.dir / "var" / "spool" / "soak-dead-1" / str(run.endpoint_id), max_bytes=spool_bound(a))
    rows = 0
    while old.size_bytes() < a.spool_mb * 1e6:
        batch = [{"tag_id": tags[i % len(tags)], "ts": base + i // len(tags) * 0.01} for i in range(rows, rows + 5000)]
        old.append([r | {"value": 1.0, "quality": 0, "received_at": r["ts"]} for r in batch])
        rows += len(batch)
    size = old.size_bytes()
    run.start_server(ctx)
    started_at = time.monotonic()
    run.start_worker()
    t0, started = await run.until_read(), time.monotonic()
    while await asyncio.to_thread(run.stored, 0.0, base + 86400) < rows:
        if time.monotonic() > started + 1800:
            run.notes.append("the spool was not drained within 30 minutes")
            break
        await asyncio.sleep(1.0)
    run.drained_at = time.time()
    run.notes.append(
        f"{size / 1e6:.0f} MB spool ({rows:,} readings) drained {time.monotonic() - started_at:.1f} s after the worker "
        "was started"
    )
    return t0, await run.finish(started)


def print_table(name: str, table: dict, notes: list[str], extra: list[str]) -> None:
    print(f"\n== {name}: {'; '.join(notes)}")
    print(f"{'':34} {'historized':>11} {'not hist.':>11} {'all':>11}")
    for key, cells in table.items():
        print(f"{key:34}" + "".join(f" {'-' if c is None else f'{c:,}':>11}" for c in cells))
    for line in extra:
        print(line)


async def main_async(args, cluster, workdir: Path) -> None:
    ctx, rng = mp.get_context("spawn"), random.Random(args.seed)
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    totals = {}
    for name in chosen:
        if name == "outage" and cluster is None:
            print("\n== outage: skipped (it stops the database: needs --database postgres, the bench's own cluster)")
            continue
        if name == "spool" and args.spool_mb <= 0:
            continue
        run = Run(name, args, cluster, workdir)
        try:
            if name == "restarts":
                t0, t1 = await restarts(run, ctx, rng)
            elif name == "outage":
                t0, t1 = await outage(run, ctx, rng, cluster)
            elif name == "kills":
                t0, t1 = await kills(run, ctx, rng)
            else:
                t0, t1 = await spool(run, ctx, rng)
            table = run.figures(t0, t1)
        finally:
            for w in run.workers:
                if w.poll() is None:
                    w.kill()
            if run.server and run.server.is_alive():
                run.server.kill()
            run.engine.dispose()
            if not args.keep:
                run.drop()
        extra = [f"window: {t1 - t0:.0f} s of offered values" + (f"; logs in {run.dir}" if args.keep else "")]
        kill_times = getattr(run, "kills", [])
        for at, upto in zip(kill_times, [*kill_times[1:], t1 + 5]):  # what each kill left unread
            near = [ts for ts in run.lost_at if at - 5 <= ts < upto - 1]
            if near:
                line = f"{len(near)} values lost, {near[0] - at:+.1f} .. {near[-1] - at:+.1f} s from the kill"
                extra.append(f"  kill at {at - t0:.0f} s: {line}")
        if hasattr(run, "drained_at"):
            extra.append(f"  live values lost while draining: {sum(1 for ts in run.lost_at if ts <= run.drained_at)}")
        print_table(name, table, run.notes, [line for line in extra if line])
        totals[name] = table
    keys = ["offered", "stored", "duplicated", "backfilled (worker log)", "gaps recorded (rows)", "lost"]
    keys.append("lost outside a recorded gap")
    heads = ["offered", "stored", "dup", "backfilled", "gaps", "lost", "lost ∉ gap"]
    print(f"\n== totals ({args.tags} tags, {args.historized} historized, every {args.period:g} s)")
    print(f"{'scenario':10}" + "".join(f" {h:>11}" for h in heads))
    for name, table in totals.items():
        print(f"{name:10}" + "".join(f" {table[k][2]:>11,}" for k in keys))
    print(f"{'all':10}" + "".join(f" {sum(t[k][2] for t in totals.values()):>11,}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="all", choices=[*SCENARIOS, "all"])
    parser.add_argument("--minutes", type=float, default=0.0, help="at least this long per scenario")
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--historized", type=int, help="tags the server keeps history for (default half)")
    parser.add_argument("--period", type=float, default=0.5, help="seconds between two values of a tag")
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument(
        "--stall", action="store_true", help="restarts SIGSTOP the server instead of cutting the network"
    )
    parser.add_argument("--outage-s", type=float, default=300.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--spool-mb", type=float, default=0.0, help="0: no spool scenario")
    parser.add_argument("--settle-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="postgres", help="postgres (a private cluster), sqlite or a URL")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args()
    args.historized = args.tags // 2 if args.historized is None else args.historized
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="pdm-soak-"))
    cluster = None
    if args.database == "postgres":
        from tests.helpers.pgcluster import PgCluster

        cluster = PgCluster().init()
        cluster.start()
    try:
        asyncio.run(main_async(args, cluster, workdir))
    finally:
        if cluster:
            cluster.destroy()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
