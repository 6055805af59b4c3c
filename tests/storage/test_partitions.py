"""PostgreSQL day partitions of readings: routing, the DEFAULT partition, upkeep, replays, pruning.
SQLite keeps one plain table."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import inspect, text

from pdm.config import RetentionConfig
from pdm.storage import partitions
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.readings import COPY_MIN_ROWS, insert_reading_tuples
from pdm.storage.retention import maintain
from pdm.storage.session import make_engine, session_factory, upgrade

DAY = 86_400


@pytest.fixture
def pg(postgres_url, small_plant):
    engine = make_engine(postgres_url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(s, small_plant)
        tag_ids = [t.id for t in list_tags(s, company_id=1)]
    yield engine, tag_ids
    engine.dispose()


def count(conn, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_rows_land_in_their_day_partition_and_default_takes_the_rest(pg):
    engine, tags = pg
    now = time.time()
    today, tomorrow = partitions.partition_for(now), partitions.partition_for(now + DAY)
    far_future, long_ago = 4_102_444_800.0 + 5, 631_152_000.0 + 5  # 2100 and 1990: no partition for either
    with engine.begin() as conn:
        assert partitions.is_partitioned(conn)
        # a COPY-sized batch and a small one: both paths route through the parent
        insert_reading_tuples(conn, [(t, today.start + i, 1.0, 0, now) for t in tags for i in range(100)])
        assert len(tags) * 100 >= COPY_MIN_ROWS
        insert_reading_tuples(
            conn,
            [
                (tags[0], tomorrow.start + 1, 2.0, 0, now),
                (tags[0], far_future, 3.0, 0, now),
                (tags[0], long_ago, 4.0, 0, now),
            ],
        )
    with engine.connect() as conn:
        assert partitions.partition_of(conn, tags[0], today.start + 5) == today.name
        assert partitions.partition_of(conn, tags[0], tomorrow.start + 1) == tomorrow.name
        assert partitions.partition_of(conn, tags[0], far_future) == partitions.DEFAULT_PARTITION
        assert partitions.partition_of(conn, tags[0], long_ago) == partitions.DEFAULT_PARTITION
        assert count(conn, today.name) == len(tags) * 100
        assert count(conn, "readings") == len(tags) * 100 + 3


def test_replays_are_ignored_across_partitions_on_the_copy_path(pg):
    engine, tags = pg
    now = time.time()
    start = partitions.day_start(now) - 300  # five minutes before midnight: two day partitions
    rows = [(t, start + i * 10.0, float(i), 0, now) for t in tags for i in range(60)]
    with engine.begin() as conn:
        insert_reading_tuples(conn, rows)
    with engine.begin() as conn:
        insert_reading_tuples(conn, [(*r[:2], -1.0, *r[3:]) for r in rows])  # a replay with other values
    with engine.connect() as conn:
        assert count(conn, "readings") == len(rows)
        assert conn.execute(text("SELECT min(value) FROM readings")).scalar_one() == 0.0
        assert count(conn, partitions.partition_for(start).name) == len(tags) * 30


def test_primary_key_btree_on_tag_and_ts_and_range_reads_touch_one_partition(pg):
    engine, tags = pg
    today = partitions.partition_for(time.time())
    with engine.connect() as conn:
        pk = inspect(conn).get_pk_constraint("readings")
        assert pk["name"] == "pk_readings" and pk["constrained_columns"] == ["tag_id", "ts"]
        method, columns = conn.execute(
            text(
                "SELECT am.amname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                "WHERE i.indrelid = to_regclass(:p) AND i.indisprimary"
            ),
            {"p": today.name},
        ).one()
        assert method == "btree" and "(tag_id, ts)" in columns
        plan = "\n".join(
            conn.execute(
                text("EXPLAIN SELECT * FROM readings WHERE tag_id = :t AND ts >= :lo AND ts < :hi"),
                {"t": tags[0], "lo": today.start + 60, "hi": today.start + 3600},
            ).scalars()
        )
    assert today.name in plan
    others = [p.name for p in partitions.day_partitions(engine.connect()) if p.name != today.name]
    assert others and not any(name in plan for name in others + [partitions.DEFAULT_PARTITION])


def test_maintenance_creates_partitions_ahead_and_moves_waiting_rows_out_of_default(pg):
    engine, tags = pg
    now = time.time()
    later = partitions.partition_for(now + 10 * DAY)  # beyond the partitions made ahead
    rows = [(t, later.start + i, 1.0, 0, now) for t in tags[:2] for i in range(50)]
    with engine.begin() as conn:
        insert_reading_tuples(conn, rows)
        assert partitions.partition_of(conn, tags[0], later.start) == partitions.DEFAULT_PARTITION
    report = maintain(engine, RetentionConfig(partition_ahead_days=5), now=now)
    ahead = partitions.partition_for(now + 5 * DAY).name
    assert later.name in report.partitions_created and ahead in report.partitions_created
    with engine.begin() as conn:
        assert partitions.partition_of(conn, tags[0], later.start) == later.name
        assert count(conn, later.name) == len(rows) and count(conn, partitions.DEFAULT_PARTITION) == 0
        insert_reading_tuples(conn, rows)  # replayed after the move: still ignored
        assert count(conn, "readings") == len(rows)
    assert maintain(engine, RetentionConfig(partition_ahead_days=5), now=now).partitions_created == []


def test_expired_partition_is_aggregated_then_dropped_and_a_busy_table_defers_it(pg, monkeypatch):
    engine, tags = pg
    now = time.time()
    old = partitions.partition_for(now - 40 * DAY)
    with engine.begin() as conn:
        partitions.create_partition(conn, old)
        insert_reading_tuples(conn, [(tags[0], old.start + i, float(i), 0, now) for i in range(120)])
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    retention = RetentionConfig(raw_days=30)
    with engine.connect() as ingest:  # an ingest transaction still open on the parent
        ingest.execute(text("INSERT INTO readings VALUES (:t, :ts, 1, 0, 0)"), {"t": tags[0], "ts": now})
        busy = maintain(engine, retention, now=now)
        ingest.rollback()
    assert old.name in busy.skipped and busy.partitions_dropped == []
    with engine.connect() as conn:  # nothing half-done: rows still raw, no aggregate written
        assert count(conn, old.name) == 120 and count(conn, "readings_1m") == 0
    done = maintain(engine, retention, now=now)
    assert done.partitions_dropped == [old.name] and done.rows_aggregated == 120
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass(:n)"), {"n": old.name}).scalar() is None
        assert conn.execute(
            text('SELECT minute, "min", mean, "max", "count" FROM readings_1m ORDER BY minute')
        ).all() == [(old.start, 0.0, 29.5, 59.0, 60), (old.start + 60, 60.0, 89.5, 119.0, 60)]


def test_sqlite_keeps_one_plain_table(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert not partitions.is_partitioned(conn)
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'readings'")).scalar_one()
    assert "WITHOUT ROWID" in ddl.upper()
    assert maintain(engine, RetentionConfig()).partitions_created == []
    assert not [t for t in inspect(engine).get_table_names() if partitions.is_partition_name(t)]
    engine.dispose()


def test_a_second_maintenance_run_at_the_same_time_waits_its_turn(pg):
    from pdm.storage.retention import LOCK_KEY

    engine, tags = pg
    old = time.time() - 40 * DAY
    with engine.begin() as conn:
        insert_reading_tuples(conn, [(tags[0], old + i, 1.0, 0, 0.0) for i in range(10)])
    with engine.connect() as other:  # as if the worker were mid-run
        assert other.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})")).scalar()
        report = maintain(engine, RetentionConfig())
        assert report.rows_aggregated == 0 and "another maintenance run" in report.skipped[0]
        other.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
    assert maintain(engine, RetentionConfig()).rows_aggregated == 10
