"""The readings hot path: bulk insert that ignores re-deliveries, and range reads.

Rows go through SQLAlchemy Core ``executemany`` (the fast path on SQLite); a (tag, ts)
already stored is skipped by the database, so a batch replayed from the spool after a
crash is never stored twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from pdm.storage.session import dialect_insert
from pdm.storage.tables import Reading, ReadingMinute, Tag


def insert_ignore(conn: Connection | Session, table, rows: Sequence[dict]) -> None:
    """Insert ``rows``; rows whose primary key already exists are skipped."""
    if not rows:
        return
    stmt = dialect_insert(conn, table).on_conflict_do_nothing()
    conn.execute(stmt, list(rows))


READING_COLUMNS = ("tag_id", "ts", "value", "quality", "received_at")
COPY_MIN_ROWS = 500  # below this a COPY's extra statements cost more than they save
_COLS = ", ".join(READING_COLUMNS)
# The hot path hands tuples straight to the driver's executemany: SQLAlchemy's per-row
# parameter processing cost as much as the OPC UA read itself (bench/ingest.py).
_INSERT_IGNORE = {
    "sqlite": f"INSERT OR IGNORE INTO readings ({_COLS}) VALUES (?, ?, ?, ?, ?)",
    "postgresql": f"INSERT INTO readings ({_COLS}) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
}


def insert_readings(conn: Connection | Session, rows: Sequence[dict]) -> None:
    """``rows``: dicts with tag_id, ts, value, quality, received_at."""
    insert_reading_tuples(conn, [tuple(r[c] for c in READING_COLUMNS) for r in rows])


def insert_reading_tuples(conn: Connection | Session, rows: Sequence[tuple]) -> None:
    """Rows as tuples in ``READING_COLUMNS`` order; a (tag, ts) already stored is skipped."""
    if not rows:
        return
    connection = conn.connection() if isinstance(conn, Session) else conn
    dialect, driver = connection.dialect.name, connection.dialect.driver
    if dialect == "postgresql" and driver == "psycopg" and len(rows) >= COPY_MIN_ROWS:
        copy_readings(connection, rows)
    elif dialect in _INSERT_IGNORE and driver in ("pysqlite", "psycopg"):
        connection.exec_driver_sql(_INSERT_IGNORE[dialect], list(rows))
    else:
        insert_ignore(connection, Reading.__table__, [dict(zip(READING_COLUMNS, r)) for r in rows])


def copy_readings(conn: Connection | Session, rows: Sequence[tuple]) -> None:
    """PostgreSQL bulk path: COPY into a temporary table, then insert what is new.

    COPY itself cannot skip duplicates, hence the staging table and ON CONFLICT.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    cursor = connection.connection.driver_connection.cursor()
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS readings_in "
        "(tag_id integer, ts double precision, value double precision, quality bigint, "
        "received_at double precision) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY readings_in ({', '.join(READING_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO readings ({', '.join(READING_COLUMNS)}) "
        f"SELECT {', '.join(READING_COLUMNS)} FROM readings_in ON CONFLICT DO NOTHING"
    )
    cursor.execute("TRUNCATE readings_in")


def count_readings(session: Session, *, company_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(Reading)
        .join(Tag, Tag.id == Reading.tag_id)
        .where(Tag.company_id == company_id)
    )
    return int(session.execute(stmt).scalar_one())


def asset_readings(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    start: float | None = None,
    end: float | None = None,
    tags: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Long frame (ts, tag, value, quality) of one asset's raw readings in [start, end].

    Raw only, never the 1-minute aggregates: training and scoring need the real sampling, so a
    training window reaches back at most ``retention.raw_days``. Charts use ``asset_series``.
    """
    stmt = (
        select(Reading.ts, Tag.name.label("tag"), Reading.value, Reading.quality)
        .join(Tag, Tag.id == Reading.tag_id)
        .where(Tag.company_id == company_id, Tag.asset_id == asset_id)
    )
    if start is not None:
        stmt = stmt.where(Reading.ts >= start)
    if end is not None:
        stmt = stmt.where(Reading.ts <= end)
    if tags is not None:
        stmt = stmt.where(Tag.name.in_(list(tags)))
    rows = session.execute(stmt.order_by(Reading.ts)).all()
    return pd.DataFrame(rows, columns=["ts", "tag", "value", "quality"])


SERIES_COLUMNS = ["ts", "tag", "value", "quality", "min", "max", "level"]
BAD_QUALITY = 0x80000000  # a minute with no Good reading: its mean is unknown


def asset_series(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    start: float | None = None,
    end: float | None = None,
    tags: Iterable[str] | None = None,
) -> pd.DataFrame:
    """What a chart shows over [start, end]: raw readings where they are still kept, and each
    tag's 1-minute aggregates (value = mean, with min and max) before its oldest raw reading.

    Columns ``SERIES_COLUMNS``; ``level`` is "raw" or "1m". Retention aggregates exactly the raw
    rows it removes, so the two levels do not overlap.
    """
    tags = None if tags is None else list(tags)
    raw = asset_readings(session, company_id=company_id, asset_id=asset_id, start=start, end=end, tags=tags)
    raw = raw.assign(min=raw["value"], max=raw["value"], level="raw")
    stmt = (
        select(
            ReadingMinute.minute,
            Tag.name,
            ReadingMinute.mean,
            ReadingMinute.count,
            ReadingMinute.min,
            ReadingMinute.max,
        )
        .join(Tag, Tag.id == ReadingMinute.tag_id)
        .where(Tag.company_id == company_id, Tag.asset_id == asset_id)
    )
    if start is not None:
        stmt = stmt.where(ReadingMinute.minute >= (start // 60) * 60)  # the minute that holds ``start``
    if end is not None:
        stmt = stmt.where(ReadingMinute.minute <= end)
    if tags is not None:
        stmt = stmt.where(Tag.name.in_(tags))
    minutes = pd.DataFrame(session.execute(stmt).all(), columns=["ts", "tag", "value", "count", "min", "max"])
    first_raw = raw.groupby("tag")["ts"].min()
    minutes = minutes[minutes["ts"] < minutes["tag"].map(first_raw).fillna(float("inf"))]
    minutes = minutes.assign(quality=(minutes["count"] == 0) * BAD_QUALITY, level="1m")
    frames = [f[SERIES_COLUMNS] for f in (minutes, raw) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["ts", "tag"], kind="stable", ignore_index=True)


def stored_counts(
    session: Session, *, by: str, company_id: int | None, start: float | None = None, end: float | None = None
) -> dict[int, int]:
    """Readings stored per ``by`` ("endpoint" or "company") with a timestamp in [start, end).

    Raw rows plus those already folded into 1-minute aggregates (``count`` + ``bad_count``: every
    reading, Good or not, as a raw count would). Retention aggregates and deletes the same rows in
    one transaction, so a reading is in exactly one of the two tables and counts once. A minute
    counts when it starts in the range: exact for minute-aligned bounds such as periods.
    ``company_id`` None is the cluster-wide count (cross-company, numbers only).
    """
    key = {"endpoint": Tag.endpoint_id, "company": Tag.company_id}[by]
    raw = select(key, func.count()).select_from(Reading).join(Tag, Tag.id == Reading.tag_id)
    folded = (
        select(key, func.sum(ReadingMinute.count + ReadingMinute.bad_count))
        .select_from(ReadingMinute)
        .join(Tag, Tag.id == ReadingMinute.tag_id)
    )
    counts: dict[int, int] = {}
    for stmt, ts in ((raw, Reading.ts), (folded, ReadingMinute.minute)):
        stmt = stmt.where(key.is_not(None)).group_by(key)
        if company_id is not None:
            stmt = stmt.where(Tag.company_id == company_id)
        if start is not None:
            stmt = stmt.where(ts >= start)
        if end is not None:
            stmt = stmt.where(ts < end)
        for group, n in session.execute(stmt):
            counts[int(group)] = counts.get(int(group), 0) + int(n or 0)
    return counts


def first_stored(session: Session, *, company_id: int | None) -> dict[int, float]:
    """Per endpoint, the oldest stored reading's timestamp: raw, or the start of its oldest aggregated minute.

    ``company_id`` None: every company's endpoints (cluster view, numbers only). One index lookup per
    tag (both tables are keyed by tag, then time), not a scan of every reading.
    """
    first: dict[int, float] = {}
    for ts, table in ((Reading.ts, Reading), (ReadingMinute.minute, ReadingMinute)):
        oldest = select(func.min(ts)).where(table.tag_id == Tag.id).scalar_subquery()
        stmt = select(Tag.endpoint_id, oldest).where(Tag.endpoint_id.is_not(None))
        if company_id is not None:
            stmt = stmt.where(Tag.company_id == company_id)
        for endpoint_id, found in session.execute(stmt):
            if found is not None:
                first[int(endpoint_id)] = min(float(found), first.get(int(endpoint_id), float("inf")))
    return first
