"""PostgreSQL: the readings table partitioned by day on ``ts``, and the partitions' upkeep.

Why daily: retention drops whole partitions, so the partition length is how much raw data
is kept beyond ``retention.raw_days`` (at most one day, where weekly would keep up to seven
days of the largest table for nothing), and 30–365 daily partitions stay well within what
the planner prunes cheaply. A DEFAULT partition takes any row no day partition covers (a
clock far off, a replay from long ago), so an insert never fails; ``ensure_partitions``
later moves such rows into their own day partition.

SQLite keeps its single ``WITHOUT ROWID`` table; nothing here runs there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

DAY_S = 86_400
DEFAULT_PARTITION = "readings_default"
_NAME = re.compile(r"^readings_p(\d{8})$")
# DDL on the parent waits at most this long for ingest's locks, then gives up until the next
# run: a queued ACCESS EXCLUSIVE request would otherwise hold up every insert behind it.
LOCK_TIMEOUT = "2s"
# Day partitions split out of the DEFAULT partition per run: bounds one run's work.
MAX_SPLITS_PER_RUN = 31


@dataclass(frozen=True)
class Partition:
    name: str
    start: float  # epoch seconds, inclusive
    end: float  # exclusive


def day_start(ts: float) -> float:
    return float(int(ts // DAY_S) * DAY_S)


def partition_for(ts: float) -> Partition:
    start = day_start(ts)
    name = "readings_p" + datetime.fromtimestamp(start, UTC).strftime("%Y%m%d")
    return Partition(name, start, start + DAY_S)


def is_partition_name(name: str) -> bool:
    """True for the day partitions and the default one (not tables of the ORM)."""
    return name == DEFAULT_PARTITION or bool(_NAME.match(name))


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('readings')")).scalar()
    return kind == "p"


def day_partitions(conn: Connection) -> list[Partition]:
    """The existing day partitions, oldest first (the DEFAULT partition is not among them)."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('readings')"
        )
    ).scalars()
    out = []
    for name in names:
        match = _NAME.match(name)
        if match:
            day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).timestamp()
            out.append(Partition(name, day, day + DAY_S))
    return sorted(out, key=lambda p: p.start)


def partition_of(conn: Connection, tag_id: int, ts: float) -> str | None:
    """Which partition holds the reading (tag_id, ts); None when there is none."""
    return conn.execute(
        text("SELECT tableoid::regclass::text FROM readings WHERE tag_id = :t AND ts = :ts"), {"t": tag_id, "ts": ts}
    ).scalar()


def create_partition(conn: Connection, part: Partition) -> bool:
    """Create ``part`` (False if it exists), first moving its rows out of the DEFAULT partition.

    PostgreSQL refuses a new partition while the default one holds rows of its range, so those
    rows go into a plain table that is then attached: one transaction, nothing lost or doubled.
    """
    exists = conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": part.name}).scalar()
    if exists:
        return False
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    bounds = {"lo": part.start, "hi": part.end}
    waiting = conn.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi)"), bounds
    ).scalar()
    if not waiting:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {part.name} PARTITION OF readings "
                f"FOR VALUES FROM ({part.start!r}) TO ({part.end!r})"
            )
        )
        return True
    conn.execute(text(f"CREATE TABLE {part.name} (LIKE readings INCLUDING DEFAULTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi RETURNING *) "
            f"INSERT INTO {part.name} SELECT * FROM moved"
        ),
        bounds,
    )
    conn.execute(
        text(f"ALTER TABLE readings ATTACH PARTITION {part.name} FOR VALUES FROM ({part.start!r}) TO ({part.end!r})")
    )
    return True


def days_waiting_in_default(conn: Connection, *, after: float) -> list[float]:
    """Start of each day with rows in the DEFAULT partition that ends after ``after``."""
    rows = conn.execute(
        text(
            f"SELECT DISTINCT floor(ts / {DAY_S}) * {DAY_S} AS day FROM {DEFAULT_PARTITION} "
            f"WHERE ts >= :after ORDER BY day LIMIT {MAX_SPLITS_PER_RUN}"
        ),
        {"after": day_start(after)},
    ).scalars()
    return [float(d) for d in rows]


def wanted_partitions(*, now: float, ahead_days: int, raw_cutoff: float, waiting: list[float]) -> list[Partition]:
    """Yesterday to ``ahead_days`` ahead, plus each unexpired day that has rows waiting in DEFAULT."""
    days = {day_start(now) + k * DAY_S for k in range(-1, ahead_days + 1)}
    days |= {d for d in waiting if d + DAY_S > raw_cutoff}
    return [partition_for(d) for d in sorted(days)]


def expired_partitions(conn: Connection, *, raw_cutoff: float) -> list[Partition]:
    """Day partitions whose whole day is older than the raw horizon."""
    return [p for p in day_partitions(conn) if p.end <= raw_cutoff]
