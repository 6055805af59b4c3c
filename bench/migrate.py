"""Upgrading an existing PostgreSQL readings table to day partitions (revision 0006p): the
attach-as-DEFAULT upgrade against copying every row into the partitioned table, side by side.

    .venv/bin/python bench/migrate.py --rows 2000000 [--days 30] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Each path starts from its own schema at revision 0005 holding the same rows (spread over
``--days`` days up to now). "attach" is the shipped revision (``upgrade``); "copy" is what a
rewrite costs: the same partitioned table, every row copied into it in one statement. Then the
maintenance run that splits the attached rows into their day partitions (the attach path's
deferred work, in transactions of one day each) is timed too. Prints seconds, the size on
disk during the upgrade, and the ratio. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import time
import uuid

from sqlalchemy import create_engine, text

from pdm.config import RetentionConfig
from pdm.storage.partitions import DAY_S, day_partitions, partition_for
from pdm.storage.retention import maintain
from pdm.storage.session import make_engine, normalise_url, upgrade

COLUMNS = "tag_id, ts, value, quality, received_at"


def _schema_at_0005(base: str, rows: int, days: int, now: float):
    schema = f"bench_mig_{uuid.uuid4().hex[:8]}"
    with create_engine(base).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}")
    upgrade(engine, "0005")
    tags = 100
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO companies (id, slug, name) VALUES (1, 'c', 'c')"))
        conn.execute(text("INSERT INTO sites (id, company_id, slug, name) VALUES (1, 1, 's', 's')"))
        conn.execute(
            text(
                "INSERT INTO assets (id, company_id, site_id, slug, name, asset_class, criticality, "
                "downtime_cost_per_hour) VALUES (1, 1, 1, 'a', 'a', 'centrifugal_pump', 3, 0)"
            )
        )
        conn.execute(
            text(
                f"INSERT INTO tags (id, company_id, asset_id, node_id, name, unit) SELECT g, 1, 1, "
                f"'ns=2;s=' || g, 't' || g, '' FROM generate_series(1, {tags}) g"
            )
        )
        step = days * DAY_S / (rows / tags)
        conn.execute(
            text(
                f"INSERT INTO readings ({COLUMNS}) SELECT 1 + (g % {tags}), "
                f"{now - days * DAY_S} + (g / {tags}) * {step}, random(), 0, {now} "
                f"FROM generate_series(0, {rows - 1}) g"
            )
        )
        conn.execute(text("ANALYZE readings"))
    return engine, schema


def _size_mb(engine) -> float:
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) / 1e6 FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relname LIKE 'readings%' "
                    "AND c.relkind IN ('r', 'p')"
                )
            ).scalar()
            or 0.0
        )


def _copy_upgrade(engine, now: float) -> None:
    """A rewrite: a partitioned table with one partition per day, every row copied in."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE readings RENAME TO readings_old"))
        conn.execute(text("ALTER INDEX pk_readings RENAME TO pk_readings_old"))
        conn.execute(
            text(
                "CREATE TABLE readings (LIKE readings_old INCLUDING DEFAULTS, PRIMARY KEY (tag_id, ts)) "
                "PARTITION BY RANGE (ts)"
            )
        )
        conn.execute(text("CREATE TABLE readings_default PARTITION OF readings DEFAULT"))
        days = conn.execute(text(f"SELECT DISTINCT floor(ts / {DAY_S}) * {DAY_S} FROM readings_old")).scalars()
        for day in sorted({float(d) for d in days} | {float(int(now // DAY_S) * DAY_S + k * DAY_S) for k in range(4)}):
            part = partition_for(day)
            conn.execute(
                text(
                    f"CREATE TABLE {part.name} PARTITION OF readings FOR VALUES FROM ({part.start!r}) TO ({part.end!r})"
                )
            )
        conn.execute(text(f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM readings_old"))
        conn.execute(text("DROP TABLE readings_old"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    base, now = normalise_url(args.postgres), time.time()
    results = {}
    for path in ("copy", "attach"):
        engine, schema = _schema_at_0005(base, args.rows, args.days, now)
        before = _size_mb(engine)
        start = time.perf_counter()
        if path == "copy":
            _copy_upgrade(engine, now)
        else:
            upgrade(engine)
        took = time.perf_counter() - start
        split = None
        if path == "attach":
            start = time.perf_counter()
            report = maintain(engine, RetentionConfig(raw_days=args.days + 2), now=now)
            split = (time.perf_counter() - start, len(report.partitions_created))
            with engine.connect() as conn:
                parts = len(day_partitions(conn))
        results[path] = took
        print(
            f"{path}: upgrade {took:.1f} s, readings {before:,.0f} MB before"
            + (
                f"; maintenance then split {split[1]} days out of DEFAULT in {split[0]:.1f} s ({parts} day partitions)"
                if split
                else ""
            )
        )
        engine.dispose()
        with create_engine(base).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(
        f"{args.rows:,} readings over {args.days} days: upgrade time attach/copy = "
        f"{results['attach'] / results['copy']:.3f}"
    )


if __name__ == "__main__":
    main()
