"""Bulk write rate of the readings table: SQLAlchemy executemany vs PostgreSQL COPY, side by side,
and COPY into the day-partitioned readings table vs the same table unpartitioned (revision 0005).

    .venv/bin/python bench/storage.py --rows 200000 [--rounds 3] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Prints rows/s for each path measured in this one run and their ratios. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid

from sqlalchemy import text

from pdm.config import RetentionConfig, parse_plants
from pdm.storage import partitions
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.partitions import day_start
from pdm.storage.readings import READING_COLUMNS, copy_readings, insert_ignore, insert_reading_tuples
from pdm.storage.retention import maintain
from pdm.storage.session import downgrade, make_engine, session_factory, upgrade
from pdm.storage.tables import Reading


def prepare(url: str) -> tuple:
    engine = make_engine(url)
    upgrade(engine)
    nodes = [{"node_id": f"ns=2;s=v{i}", "tag": f"t{i}", "asset": "A"} for i in range(100)]
    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "bench",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "A", "asset_class": "centrifugal_pump"}],
                            "endpoints": [{"name": "e", "endpoint_url": "opc.tcp://127.0.0.1:1/x", "nodes": nodes}],
                        }
                    ],
                }
            ]
        }
    )
    with session_factory(engine).begin() as s:
        apply_plants(s, cfg)
        tag_ids = [t.id for t in list_tags(s, company_id=1)]
    return engine, tag_ids


def batches(tag_ids, rows: int, batch: int, offset: float):
    out, n = [], 0
    while n < rows:
        ts = offset + n / len(tag_ids)
        out.append([(t, ts, 1.0, 0, 0.0) for t in tag_ids])
        n += len(tag_ids)
    # regroup into write batches of ``batch`` rows, one transaction each
    flat = [r for b in out for r in b]
    return [flat[i : i + batch] for i in range(0, len(flat), batch)]


def rate(engine, write, groups) -> float:
    sessions = session_factory(engine)
    start = time.perf_counter()
    for group in groups:
        with sessions.begin() as s:
            write(s, group)
    return sum(len(g) for g in groups) / (time.perf_counter() - start)


def expire_rate(url: str, rows: int, *, day_partition: bool) -> float:
    """Raw rows 40 days old folded into readings_1m per second by one maintenance run."""
    engine, tags = prepare(url)
    old = day_start(time.time() - 40 * 86_400) + 10
    with engine.begin() as conn:
        if day_partition:
            partitions.create_partition(conn, partitions.partition_for(old))
        insert_reading_tuples(conn, [r for group in batches(tags, rows, rows, old) for r in group])
    start = time.perf_counter()
    report = maintain(engine, RetentionConfig(raw_days=30))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return report.rows_aggregated / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    # SQLAlchemy Core executemany (dict rows) against COPY through a staging table.
    executemany = lambda s, rows: insert_ignore(s, Reading.__table__, [dict(zip(READING_COLUMNS, r)) for r in rows])  # noqa: E731

    with tempfile.TemporaryDirectory() as tmp:
        engine, tags = prepare(f"sqlite:///{tmp}/bench.sqlite3")
        sqlite_rate = rate(engine, executemany, batches(tags, args.rows, args.batch, 0))
        print(f"sqlite     executemany  {sqlite_rate:12,.0f} rows/s")
        expired = expire_rate(f"sqlite:///{tmp}/retention.sqlite3", args.rows, day_partition=False)
        print(f"sqlite     retention, batched delete   {expired:12,.0f} rows/s")

    sep = "&" if "?" in args.postgres else "?"
    admin = make_engine(args.postgres)
    schemas = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.begin() as c:
        for schema in schemas:
            c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        (parted, tags), (plain, plain_tags) = (
            prepare(f"{args.postgres}{sep}options=-csearch_path%3D{s}") for s in schemas
        )
        downgrade(plain, "0005")  # the same readings table before partitioning, rows and tags kept
        many = rate(parted, executemany, batches(tags, args.rows, args.batch, 1e6))
        print(f"postgresql executemany  {many:12,.0f} rows/s (partitioned table)")
        # Today's day partition, rounds alternating so that both see the same machine load.
        base, copies = day_start(time.time()), {"partitioned": [], "unpartitioned": []}
        for k in range(args.rounds):
            offset = base + 10 + k * (args.rows / len(tags) + 1)
            for name, engine, tag_ids in (("unpartitioned", plain, plain_tags), ("partitioned", parted, tags)):
                copies[name].append(rate(engine, copy_readings, batches(tag_ids, args.rows, args.batch, offset)))
        part, flat = (statistics.median(copies[k]) for k in ("partitioned", "unpartitioned"))
        print(f"postgresql copy, unpartitioned  {flat:12,.0f} rows/s (median of {args.rounds})")
        print(f"postgresql copy, partitioned    {part:12,.0f} rows/s (median of {args.rounds})")
        print(f"copy/executemany ratio={part / many:.2f}")
        print(f"partitioned/unpartitioned copy ratio={part / flat:.2f}")
        # Retention: batches of aggregate-then-delete (the DEFAULT partition) vs dropping a day partition.
        for schema in schemas:
            with admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}"))
        batched, dropped = (
            expire_rate(f"{args.postgres}{sep}options=-csearch_path%3D{schema}", args.rows, day_partition=whole)
            for schema, whole in zip(schemas, (False, True))
        )
        print(f"postgresql retention, batched delete   {batched:12,.0f} rows/s")
        print(f"postgresql retention, partition drop   {dropped:12,.0f} rows/s")
        print(f"drop/batched retention ratio={dropped / batched:.2f}")
    finally:
        with admin.begin() as c:
            for schema in schemas:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
