"""Scale benchmark: a simulated cluster polled at 1 Hz, then retrained and queried, in one run.

    python bench/scale.py --assets 1000 --tags 20 --servers 10 --seconds 180 --database sqlite
    python bench/scale.py --database postgresql://postgres@127.0.0.1:5432/test --executor process

One OPC UA server per simulated plant (``--servers``), each in its own process and serving its
share of the assets (one object per asset, ``--tags`` Double variables each). Every server
writes a new value with its source timestamp to every variable ``--rate`` times a second
(a slow load cycle plus noise, so detectors have structure to learn). The worker's ingest
path (one ``EndpointPoller`` per endpoint, polled every 1/rate s, or 1/poll-rate s, in one
process and one event loop, as ``pdmctl worker`` does) stores them; ``--mode subscribe``
subscribes instead. Then it prints:

- offered rate (values the servers wrote per second) vs sustained ingest rate (distinct
  readings committed per second after a warm-up), and values read per second;
- ingest lag: commit time minus source timestamp, per committed batch (p50 / p95 / max), for
  the first and the second half of the run: a second half no worse than the first is bounded;
- DB size per million readings;
- the time to retrain every asset's model (``pdm.models.fanout.train_many``, ``--executor``);
- the alert page's queries (the technician page: list a company's alerts, one alert, its
  telemetry and scores) with the readings in place and synthetic alerts on 5 % of assets.

A PostgreSQL URL gets a fresh schema, dropped at the end (``--keep`` keeps it and the SQLite file).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plant import NS, cpu_s, free_port, runq_s, serve

WARMUP_S = 10.0


def _database(arg: str, workdir: Path) -> tuple[str, callable]:
    """A URL for this run and a clean-up; PostgreSQL gets its own schema."""
    from sqlalchemy import create_engine, text

    from pdm.storage.session import normalise_url

    if arg == "sqlite":
        return f"sqlite:///{workdir / 'scale.sqlite3'}", lambda: None
    if arg == "postgres" and not os.environ.get("PDM_TEST_POSTGRES_URL"):
        sys.exit("--database postgres reads PDM_TEST_POSTGRES_URL, which is not set; or give a postgresql:// URL")
    base = normalise_url(os.environ["PDM_TEST_POSTGRES_URL"] if arg == "postgres" else arg)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}", drop


def _catalog(sessions, urls: list[str], shares: list[tuple[int, int]], tags: int):
    """One company per plant, its assets and endpoint; tags inserted in bulk (apply_plants goes one by one)."""
    from sqlalchemy import insert, select

    from pdm.config import parse_plants
    from pdm.storage.catalog import apply_plants
    from pdm.storage.tables import Asset, Endpoint, Tag

    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": f"plant{p}",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": f"a{a}", "asset_class": "bench"} for a in range(first, first + count)],
                            "endpoints": [{"name": "plc", "endpoint_url": url}],
                        }
                    ],
                }
                for p, (url, (first, count)) in enumerate(zip(urls, shares))
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        assets = {(a.company_id, a.slug): a.id for a in s.execute(select(Asset)).scalars()}
        endpoints = list(s.execute(select(Endpoint).order_by(Endpoint.company_id)).scalars())
        rows = [
            {
                "company_id": ep.company_id,
                "asset_id": assets[(ep.company_id, f"a{a}")],
                "endpoint_id": ep.id,
                "node_id": f"nsu={NS};s=a{a}/t{t}",
                "name": f"t{t}",
                "unit": "",
            }
            for ep, (first, count) in zip(endpoints, shares)
            for a in range(first, first + count)
            for t in range(tags)
        ]
        s.execute(insert(Tag), rows)
        tag_ids = {}
        for ep_id, node_id, tag_id in s.execute(select(Tag.endpoint_id, Tag.node_id, Tag.id)):
            tag_ids.setdefault(ep_id, {})[node_id] = tag_id
        return [(ep.id, ep.company_id, ep.settings, tag_ids[ep.id]) for ep in endpoints], list(assets.items())


def _timed_poller_class():
    from pdm.ingest.poller import EndpointPoller

    class TimedPoller(EndpointPoller):
        """Records, per committed batch, how old its oldest reading was when it was committed."""

        lags: list[tuple[float, float]] = []

        def _store(self, rows):
            super()._store(rows)
            if rows:
                now = time.time()
                self.lags.append((now, now - min(r[1] for r in rows)))

    return TimedPoller


async def _ingest(sessions, endpoints, seconds: float, rate: float, mode: str, workdir: Path, count_rows) -> dict:
    """``rate`` is how often each endpoint is polled (or published)."""
    from pdm.config import EndpointConfig
    from pdm.ingest.spool import Spool

    TimedPoller = _timed_poller_class()
    pollers = [
        TimedPoller(
            endpoint_id=ep_id,
            name=f"plant{i}/plc",
            tags=tags,
            sessions=sessions,
            config=EndpointConfig.model_validate(
                {
                    **settings,
                    "request_timeout_s": 30,
                    "mode": mode,
                    "poll_interval_s": 1 / rate,
                    "sampling_interval_s": 0,
                    "publishing_interval_s": 1 / rate,
                }
            ),
            spool=Spool(workdir / "spool" / str(ep_id), max_bytes=1 << 32),
        )
        for i, (ep_id, _, settings, tags) in enumerate(endpoints)
    ]
    read = [0]
    stop_at = time.monotonic() + seconds

    async def loop(poller):
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            taken = await poller.poll_once()  # not `read[0] += await ...`: that loses concurrent counts
            read[0] += taken
            # Like an APScheduler interval job that coalesces missed runs.
            next_at = max(next_at + 1 / rate, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    tasks = [asyncio.ensure_future(loop(p)) for p in pollers]
    start = time.monotonic()
    await asyncio.sleep(WARMUP_S)
    rows0, read0, t0 = await asyncio.to_thread(count_rows), read[0], time.monotonic()
    await asyncio.gather(*tasks)
    for p in pollers:
        await p.close()
    rows1, t1 = await asyncio.to_thread(count_rows), time.monotonic()
    half = time.time() - (t1 - start) / 2
    lags = TimedPoller.lags
    return {
        "stored_per_s": (rows1 - rows0) / (t1 - t0),
        "read_per_s": (read[0] - read0) / (t1 - t0),
        "rows": rows1,
        "lag_first": [lag for t, lag in lags if t < half],
        "lag_second": [lag for t, lag in lags if t >= half],
        "spooled": sum(len(p.spool) for p in pollers),
    }


def _ingest_child(url: str, endpoints, seconds: float, rate: float, mode: str, workdir: Path, out) -> None:
    """One ingest worker process (``--workers`` > 1): its share of the endpoints, its own engine."""
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from pdm.storage.session import make_engine, session_factory

    engine = make_engine(url)
    importlib.import_module("pdm.ingest.poller")  # before "ready": the parent's clock starts then

    cpu0, wait0 = cpu_s(os.getpid()), runq_s(os.getpid())
    out.put("ready")
    result = asyncio.run(_ingest(session_factory(engine), endpoints, seconds, rate, mode, workdir, lambda: 0))
    out.put({**result, "cpu_s": cpu_s(os.getpid()) - cpu0, "wait_s": runq_s(os.getpid()) - wait0})
    engine.dispose()


def _ingest_processes(
    ctx, url: str, endpoints, workers: int, seconds: float, rate: float, mode: str, workdir: Path, count_rows
) -> dict:
    """The endpoints dealt round-robin to ``workers`` processes, as leases share them between
    ``pdmctl worker --role ingest`` processes; rows are counted here, over the same window."""
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_ingest_child, args=(url, endpoints[w::workers], seconds, rate, mode, workdir, out))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    assert all(out.get() == "ready" for _ in procs)
    time.sleep(WARMUP_S)
    rows0, t0 = count_rows(), time.monotonic()
    parts = [out.get() for _ in procs]  # before join: a child cannot exit with its result unread
    for p in procs:
        p.join()
    rows1, t1 = count_rows(), time.monotonic()
    return {
        "stored_per_s": (rows1 - rows0) / (t1 - t0),
        "read_per_s": sum(r["read_per_s"] for r in parts),
        "rows": rows1,
        "lag_first": [x for r in parts for x in r["lag_first"]],
        "lag_second": [x for r in parts for x in r["lag_second"]],
        "spooled": sum(r["spooled"] for r in parts),
        "cpu_s": sum(r["cpu_s"] for r in parts),
        "wait_s": sum(r["wait_s"] for r in parts),
    }


def _lag(values: list[float]) -> str:
    if not values:
        return "n/a"
    q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    return f"p50 {statistics.median(values):.2f} s, p95 {q[18]:.2f} s, max {max(values):.2f} s"


def _db_bytes(engine, url: str) -> int:
    from sqlalchemy import text

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # fold the WAL back first: its size depends on checkpoint timing
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(engine.url.database).stat().st_size
    with engine.connect() as conn:  # readings is partitioned by day: its own size is 0, its partitions hold the rows
        return int(
            conn.execute(
                text("SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('readings')")
            ).scalar_one()
        )


def _alert_page(sessions, assets, tags: int) -> list[float]:
    """Synthetic alerts on every 20th asset (5 %, at least one per plant), then the technician
    page's queries, per company (seconds)."""
    from sqlalchemy import func, insert, select

    from pdm.alerts.rules import get_alert, list_alerts, score_series
    from pdm.storage.readings import asset_readings
    from pdm.storage.tables import Alert, Reading

    with sessions.begin() as s:
        lo, hi = s.execute(select(func.min(Reading.ts), func.max(Reading.ts))).one()
        nth: dict[int, int] = {}
        picked = [(c, a) for (c, _), a in assets if (nth := nth | {c: nth.get(c, -1) + 1})[c] % 20 == 0]
        s.execute(
            insert(Alert),
            [
                {
                    "company_id": c,
                    "asset_id": a,
                    "status": "OPEN",
                    "severity": "high",
                    "opened_at": (lo + hi) / 2,
                    "last_seen_at": hi,
                    "peak_score": 2.0,
                    "threshold": 1.0,
                    "sensors": [{"tag": f"t{t}", "contribution": 0.3} for t in range(3)],
                }
                for c, a in picked
            ],
        )
    times = []
    for company_id in sorted({c for (c, _), _ in assets}):
        start = time.perf_counter()
        with sessions() as s:
            rows = list_alerts(s, company_id=company_id)
            alert = get_alert(s, company_id=company_id, alert_id=rows[0][0].id)
            frame = asset_readings(
                s,
                company_id=company_id,
                asset_id=alert.asset_id,
                start=alert.opened_at - 1800,
                end=alert.last_seen_at + 600,
                tags=[x["tag"] for x in alert.sensors],
            )
            score_series(
                s,
                company_id=company_id,
                asset_id=alert.asset_id,
                start=alert.opened_at - 1800,
                end=alert.last_seen_at + 600,
            )
            assert not frame.empty, "the alert's telemetry is empty: the query measured nothing"
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=1.0, help="values per tag per second")
    parser.add_argument(
        "--poll-rate",
        type=float,
        help="polls per second (default --rate); twice --rate reads every value, at twice the reads",
    )
    parser.add_argument("--workers", type=int, default=1, help="ingest processes sharing the endpoints")
    parser.add_argument(
        "--mode",
        default="poll",
        choices=["poll", "subscribe"],
        help="poll samples each tag every 1/rate s; subscribe is sent every change",
    )
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres (PDM_TEST_POSTGRES_URL) or a URL")
    parser.add_argument("--executor", default="serial", choices=["serial", "process", "dask"])
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from sqlalchemy import func, select

    from pdm.config import DetectionConfig
    from pdm.models.fanout import train_many
    from pdm.storage.session import make_engine, session_factory, upgrade
    from pdm.storage.tables import Reading

    per = [args.assets // args.servers + (1 if i < args.assets % args.servers else 0) for i in range(args.servers)]
    shares = [(sum(per[:i]), n) for i, n in enumerate(per)]
    urls = [f"opc.tcp://127.0.0.1:{free_port()}/plant{i}" for i in range(args.servers)]
    ctx = mp.get_context("spawn")
    stop, written = ctx.Event(), ctx.Value("q", 0)
    ready = [ctx.Event() for _ in urls]
    procs = [
        ctx.Process(target=serve, daemon=True, args=(u, f, n, args.tags, args.rate, r, stop, written))
        for u, (f, n), r in zip(urls, shares, ready)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="pdm-scale-"))
    url, drop = _database(args.database, workdir)
    engine = make_engine(url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        endpoints, assets = _catalog(sessions, urls, shares, args.tags)
        built = time.monotonic()
        for p in procs:
            p.start()
        if not all(r.wait(600) for r in ready):
            sys.exit("a server did not start within 600 s")
        print(f"{len(urls)} servers up with {args.assets * args.tags:,} variables in {time.monotonic() - built:.0f} s")

        def count_rows():
            with sessions() as s:
                return s.execute(select(func.count()).select_from(Reading)).scalar_one()

        w0, t0 = written.value, time.monotonic()
        pids = [os.getpid()] + [p.pid for p in procs]
        cpu0, wait0 = [cpu_s(p) for p in pids], [runq_s(p) for p in pids]
        ingest = (args.seconds, args.poll_rate or args.rate, args.mode, workdir, count_rows)
        if args.workers == 1:
            result = asyncio.run(_ingest(sessions, endpoints, *ingest))
        else:
            result = _ingest_processes(ctx, url, endpoints, args.workers, *ingest)
        wall = time.monotonic() - t0
        offered = (written.value - w0) / wall
        cpu = [(cpu_s(p) - c) / wall for p, c in zip(pids, cpu0)]
        waited = [(runq_s(p) - w) / wall for p, w in zip(pids, wait0)]
        if args.workers > 1:  # the parent only counted rows: the workers are the children
            cpu[0], waited[0] = result["cpu_s"] / wall, result["wait_s"] / wall
        load = os.getloadavg()[0]
        stop.set()
        size = _db_bytes(engine, url)
        jobs = [(c, a) for (c, _), a in assets]
        detection = DetectionConfig(
            train_min_span_min=0, train_min_rows=min(60, int(args.seconds * args.rate) // 2), executor=args.executor
        )
        start = time.perf_counter()
        trained = train_many(url, jobs, detection, executor=args.executor)
        train_s = time.perf_counter() - start
        errors = [e for _, _, e in trained if e]
        page = _alert_page(sessions, assets, args.tags)
    finally:
        stop.set()
        for p in procs:
            p.join(15)
        engine.dispose()
        if not args.keep:
            drop()
    print(
        f"cluster: {args.assets} assets x {args.tags} tags at {args.rate:g} Hz on {args.servers} servers, "
        f"polled at {args.poll_rate or args.rate:g} Hz, "
        f"{args.seconds:g} s, {args.mode}, {args.workers} ingest process(es), {engine.dialect.name}, "
        f"{os.cpu_count()} cores"
    )
    print(f"offered: {offered:,.0f} values/s (nominal {args.assets * args.tags * args.rate:,.0f})")
    print(
        f"sustained ingest: {result['stored_per_s']:,.0f} readings/s stored, {result['read_per_s']:,.0f} values/s "
        f"read (after {WARMUP_S:g} s warm-up); ratio stored/offered={result['stored_per_s'] / offered:.3f}"
    )
    print(
        f"ingest lag, first half: {_lag(result['lag_first'])}; second half: {_lag(result['lag_second'])}; "
        f"spooled {result['spooled']}"
    )
    print(
        f"cpu during ingest (cores busy): worker(s) {cpu[0]:.2f}, {len(procs)} servers {sum(cpu[1:]):.2f}; "
        f"machine load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"waiting for a free core (s per s): worker {waited[0]:.2f}, servers {sum(waited[1:]):.2f}; "
        f"cpu per value read: worker {cpu[0] / max(result['read_per_s'], 1) * 1e6:.0f} us, "
        f"servers {sum(cpu[1:]) / max(result['read_per_s'], 1) * 1e6:.0f} us"
    )
    print(
        f"db size: {size / 1e6:,.0f} MB for {result['rows']:,} readings = "
        f"{size / max(result['rows'], 1) * 1e6 / 1e6:,.1f} MB per million readings"
    )
    print(
        f"retrain: {sum(v is not None for _, v, _ in trained)}/{len(jobs)} models in {train_s:.1f} s "
        f"({args.executor}); {len(errors)} errors{': ' + errors[0] if errors else ''}"
    )
    print(
        f"alert page queries: median {statistics.median(page) * 1000:.0f} ms, max {max(page) * 1000:.0f} ms "
        f"over {len(page)} companies"
    )


if __name__ == "__main__":
    main()
