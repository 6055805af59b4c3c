"""Retention: raw readings kept ``raw_days``, then 1-minute aggregates kept ``aggregate_days``.

Minutes are aggregated when their raw rows expire, not continuously: a minute is then
final (a spool replay after an outage lands well within the raw horizon), training and
recent charts read raw anyway, and aggregating and deleting the same rows in one
transaction is what makes the job exact, idempotent and resumable:

- each batch aggregates a bounded set of raw rows into ``readings_1m`` and deletes exactly
  those rows, in one transaction; a crash rolls back both, a rerun finds nothing left to do;
- a minute whose rows span two batches (or a late row for a minute already aggregated) is
  merged: counts add up, min/max combine, the mean is weighted by the counts;
- on PostgreSQL a whole expired day partition is aggregated and dropped in one transaction,
  which deletes no row one by one; only rows in the DEFAULT partition go through batches.

This is cluster-wide upkeep run by the worker and ``pdmctl db maintain``: it reads every
company's readings on purpose and returns only counts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from pdm.config import RetentionConfig
from pdm.storage import partitions
from pdm.storage.partitions import DAY_S, DEFAULT_PARTITION

log = logging.getLogger(__name__)

# Good OPC UA status: the top two bits are 00. Codes are stored unsigned, and a signed
# negative one is Bad, so "Good" is exactly 0 <= quality < 2**30.
GOOD = "(quality >= 0 AND quality < 1073741824)"
LOCK_KEY = "hashtext('pdm-retention:' || current_schema())"
_MINUTE = {"postgresql": "floor(ts / 60) * 60", "sqlite": "CAST(ts / 60 AS INTEGER) * 60.0"}
_MERGE = """
ON CONFLICT (tag_id, minute) DO UPDATE SET
  "min" = CASE WHEN readings_1m."min" IS NULL OR excluded."min" < readings_1m."min"
               THEN excluded."min" ELSE readings_1m."min" END,
  "max" = CASE WHEN readings_1m."max" IS NULL OR excluded."max" > readings_1m."max"
               THEN excluded."max" ELSE readings_1m."max" END,
  mean = CASE WHEN readings_1m."count" + excluded."count" = 0 THEN NULL
              ELSE (COALESCE(readings_1m.mean, 0) * readings_1m."count" + COALESCE(excluded.mean, 0) * excluded."count")
                   / (readings_1m."count" + excluded."count") END,
  "count" = readings_1m."count" + excluded."count",
  bad_count = readings_1m.bad_count + excluded.bad_count
"""


@dataclass
class RetentionReport:
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    rows_aggregated: int = 0  # raw rows folded into readings_1m, then deleted
    aggregates_deleted: int = 0
    transactions: int = 0
    largest_batch: int = 0  # most raw rows aggregated and deleted in one transaction (batched path)
    skipped: list[str] = field(default_factory=list)  # what waited for a lock and is left for the next run


def raw_cutoff(retention: RetentionConfig, now: float, *, partitioned: bool) -> float:
    """Raw rows before this are aggregated and removed. Minute-aligned; day-aligned when partitioned,
    so that whole partitions go and no row is deleted one by one from a day partition."""
    cutoff = now - retention.raw_days * DAY_S
    return partitions.day_start(cutoff) if partitioned else float(int(cutoff // 60) * 60)


def aggregate_cutoff(retention: RetentionConfig, now: float) -> float:
    return float(int((now - retention.aggregate_days * DAY_S) // 60) * 60)


def aggregate_sql(dialect: str, source: str, where: str) -> str:
    """INSERT … SELECT folding ``source`` rows matching ``where`` into readings_1m (merging)."""
    good_value = f"CASE WHEN {GOOD} THEN value END"
    return (
        f'INSERT INTO readings_1m (tag_id, minute, "min", mean, "max", "count", bad_count) '
        f"SELECT tag_id, {_MINUTE[dialect]} AS m, MIN({good_value}), AVG({good_value}), MAX({good_value}), "
        f"COUNT({good_value}), SUM(CASE WHEN {GOOD} THEN 0 ELSE 1 END) "
        f"FROM {source} WHERE {where} GROUP BY tag_id, m {_MERGE}"
    )


def maintain(engine: Engine, retention: RetentionConfig, *, now: float | None = None) -> RetentionReport:
    """Partitions ahead (PostgreSQL), then expire raw rows into aggregates, then expire aggregates."""
    now = time.time() if now is None else now
    report = RetentionReport()
    with engine.connect() as guard:
        # Two runs at once (the worker and `pdmctl db maintain`) could fold the same rows twice on
        # PostgreSQL, whose statements each see the last commit: one run at a time per database.
        if not _try_lock(guard):
            report.skipped.append("everything: another maintenance run holds the lock")
            return report
        try:
            _maintain(engine, retention, now, partitions.is_partitioned(guard), report)
        finally:
            _unlock(guard)
    return report


def _try_lock(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite has one writer: a concurrent run fails with "database is locked", never doubles
    got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})")).scalar())
    conn.commit()
    return got


def _unlock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
        conn.commit()


def _maintain(
    engine: Engine, retention: RetentionConfig, now: float, partitioned: bool, report: RetentionReport
) -> None:
    cutoff = raw_cutoff(retention, now, partitioned=partitioned)
    if partitioned:
        _ensure_partitions(engine, retention, now, cutoff, report)
        _drop_expired_partitions(engine, cutoff, report)
    source = DEFAULT_PARTITION if partitioned else "readings"
    for tag_id in _tag_ids(engine):
        _expire_raw(engine, tag_id, source, cutoff, retention.batch_rows, report)
        _expire_aggregates(engine, tag_id, aggregate_cutoff(retention, now), retention.batch_rows, report)


def _tag_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM tags ORDER BY id")).scalars())


def _ensure_partitions(
    engine: Engine, retention: RetentionConfig, now: float, cutoff: float, report: RetentionReport
) -> None:
    with engine.connect() as conn:
        waiting = partitions.days_waiting_in_default(conn, after=cutoff)
    for part in partitions.wanted_partitions(
        now=now, ahead_days=retention.partition_ahead_days, raw_cutoff=cutoff, waiting=waiting
    ):
        if _locked(engine, part.name, report, lambda conn, p=part: partitions.create_partition(conn, p)):
            report.partitions_created.append(part.name)


def _drop_expired_partitions(engine: Engine, cutoff: float, report: RetentionReport) -> None:
    with engine.connect() as conn:
        expired = partitions.expired_partitions(conn, raw_cutoff=cutoff)

    def fold_and_drop(conn: Connection, name: str) -> bool:
        conn.execute(text(aggregate_sql("postgresql", name, "true")))
        conn.execute(text(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'"))
        count = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        conn.execute(text(f"DROP TABLE {name}"))
        report.rows_aggregated += count
        return True

    for part in expired:
        if _locked(engine, part.name, report, lambda conn, n=part.name: fold_and_drop(conn, n)):
            report.partitions_dropped.append(part.name)


def _locked(engine: Engine, what: str, report: RetentionReport, step) -> bool:
    """Run ``step`` in its own transaction; a lock not granted in time leaves it for the next run."""
    try:
        with engine.begin() as conn:
            done = step(conn)
        report.transactions += 1
        return bool(done)
    except OperationalError as exc:
        if "lock timeout" not in str(exc).lower():
            raise
        log.warning("retention: %s left for the next run, its table was busy", what)
        report.skipped.append(what)
        return False


def _in_batches(engine: Engine, bound_sql: str, params: dict, batch_rows: int, step) -> None:
    """Call ``step(conn, params)`` in one transaction per batch until a batch comes out short.

    ``bound_sql`` finds the key ``batch_rows`` rows on (``bound``, inclusive): each batch is the next
    ``batch_rows`` keys of one tag, so no transaction touches more rows than that.
    """
    while True:
        with engine.begin() as conn:
            bound = conn.execute(text(bound_sql), {**params, "skip": batch_rows - 1}).scalar()
            step(conn, {**params, "bound": bound if bound is not None else float("inf")})
        if bound is None:
            return


def _expire_raw(
    engine: Engine, tag_id: int, source: str, cutoff: float, batch_rows: int, report: RetentionReport
) -> None:
    params = {"tag": tag_id, "cutoff": cutoff}
    with engine.connect() as conn:
        if (
            conn.execute(text(f"SELECT 1 FROM {source} WHERE tag_id = :tag AND ts < :cutoff LIMIT 1"), params).first()
            is None
        ):
            return
        dialect = conn.dialect.name
    where = "tag_id = :tag AND ts < :cutoff AND ts <= :bound"

    def fold_and_delete(conn: Connection, batch: dict) -> None:
        conn.execute(text(aggregate_sql(dialect, source, where)), batch)
        deleted = conn.execute(text(f"DELETE FROM {source} WHERE {where}"), batch).rowcount
        report.rows_aggregated += deleted
        report.largest_batch = max(report.largest_batch, deleted)
        report.transactions += 1

    _in_batches(
        engine,
        f"SELECT ts FROM {source} WHERE tag_id = :tag AND ts < :cutoff ORDER BY ts LIMIT 1 OFFSET :skip",
        params,
        batch_rows,
        fold_and_delete,
    )


def _expire_aggregates(engine: Engine, tag_id: int, cutoff: float, batch_rows: int, report: RetentionReport) -> None:
    params = {"tag": tag_id, "cutoff": cutoff}
    with engine.connect() as conn:
        if (
            conn.execute(
                text("SELECT 1 FROM readings_1m WHERE tag_id = :tag AND minute < :cutoff LIMIT 1"), params
            ).first()
            is None
        ):
            return

    def delete(conn: Connection, batch: dict) -> None:
        report.aggregates_deleted += conn.execute(
            text("DELETE FROM readings_1m WHERE tag_id = :tag AND minute < :cutoff AND minute <= :bound"), batch
        ).rowcount
        report.transactions += 1

    _in_batches(
        engine,
        "SELECT minute FROM readings_1m WHERE tag_id = :tag AND minute < :cutoff ORDER BY minute LIMIT 1 OFFSET :skip",
        params,
        batch_rows,
        delete,
    )
