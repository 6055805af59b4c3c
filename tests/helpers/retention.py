"""Readings around a fixed raw horizon, shared by the retention, downsampling and savings tests."""

from __future__ import annotations

from sqlalchemy import text

from pdm.storage import partitions
from pdm.storage.readings import insert_reading_tuples

DAY = 86_400
D0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: the raw horizon in these tests
NOW = D0 + DAY  # with raw_days=1 the cutoff falls exactly on D0, on both backends
GOOD, UNCERTAIN, BAD = 0, 0x40000000, 0x80000000


def store(engine, rows):
    """Insert rows; on PostgreSQL, first the day partitions they belong to (as maintenance would)."""
    with engine.begin() as conn:
        if partitions.is_partitioned(conn):
            for day in sorted({partitions.day_start(r[1]) for r in rows}):
                partitions.create_partition(conn, partitions.partition_for(day))
        insert_reading_tuples(conn, rows)


def raw_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM readings")).scalar_one()
