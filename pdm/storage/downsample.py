"""Chart reads over long ranges: time buckets computed in the database, never every raw row.

A chart over 30 days of a 1 s tag would otherwise pull millions of rows into the page. Short
ranges stay raw (``asset_series``); longer ones are cut into at most ``MAX_BUCKETS`` buckets of
a round size (1 minute up to 1 day) per tag. Each bucket holds the min, mean and max of its Good
readings, computed by the database from the raw rows still kept and from the 1-minute
aggregates of the rows retention has folded: a reading is in exactly one of the two tables, so
a bucket straddling the retention boundary merges both without counting anything twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import Float, Integer, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from pdm.storage.readings import BAD_QUALITY, SERIES_COLUMNS, asset_series
from pdm.storage.tables import Reading, ReadingMinute, Tag

RAW_SPAN_S = 6 * 3600  # up to this range a chart shows every stored reading
MAX_BUCKETS = 720  # per tag: about one per pixel column of a wide chart
BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
_GOOD = (0, 1 << 30)  # OPC UA Good: top two bits 00, stored unsigned (as in pdm.storage.retention)


def bucket_seconds(span_s: float) -> int | None:
    """The bucket a chart over ``span_s`` seconds reads at; None: raw."""
    if span_s <= RAW_SPAN_S:
        return None
    for minutes in BUCKET_MINUTES:
        if span_s / (minutes * 60) <= MAX_BUCKETS:
            return minutes * 60
    return BUCKET_MINUTES[-1] * 60


def level_name(bucket_s: int) -> str:
    return f"{bucket_s // 3600}h" if bucket_s % 3600 == 0 else f"{bucket_s // 60}m"


def chart_series(
    session: Session, *, company_id: int, asset_id: int, start: float, end: float, tags: Iterable[str] | None = None
) -> pd.DataFrame:
    """What a chart of one asset shows over [start, end], columns ``SERIES_COLUMNS``.

    Short ranges: ``asset_series`` (level "raw", and "1m" where raw rows have expired). Long ranges:
    one row per tag and bucket, ``ts`` the bucket's start, ``value`` the mean of its Good readings
    with their ``min`` and ``max``, ``quality`` Bad when it holds no Good reading, ``level`` the
    bucket size ("15m", "1h", …).
    """
    tags = None if tags is None else list(tags)
    size = bucket_seconds(end - start)
    if size is None:
        return asset_series(session, company_id=company_id, asset_id=asset_id, start=start, end=end, tags=tags)
    lo = (start // size) * size  # whole buckets: the first one is not a partial mean
    dialect = session.get_bind().dialect.name
    parts = [
        pd.DataFrame(session.execute(stmt).all(), columns=["tag", "ts", "min", "total", "max", "count", "bad"])
        for stmt in (
            _raw_buckets(dialect, size, company_id, asset_id, lo, end, tags),
            _minute_buckets(dialect, size, company_id, asset_id, lo, end, tags),
        )
    ]
    both = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    if both.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    # PostgreSQL returns sums of integers as Decimal: one numeric type before merging.
    both = both.astype({"min": float, "total": float, "max": float, "count": int, "bad": int, "ts": float})
    merged = both.groupby(["tag", "ts"], as_index=False).agg(
        min=("min", "min"), total=("total", "sum"), max=("max", "max"), count=("count", "sum"), bad=("bad", "sum")
    )
    good = merged["count"] > 0
    merged["value"] = (merged["total"] / merged["count"]).where(good)
    merged["quality"] = (~good) * BAD_QUALITY
    merged["level"] = level_name(size)
    return merged[SERIES_COLUMNS].sort_values(["ts", "tag"], kind="stable", ignore_index=True)


def time_bucket(column, size: int, dialect: str):
    # An inline constant, not a parameter: PostgreSQL must see the same expression in GROUP BY.
    n = literal_column(str(int(size)))
    if dialect == "postgresql":
        return func.floor(column / n) * n
    return cast(cast(column / n, Integer) * n, Float)  # SQLite; timestamps are positive, so this is floor


def _scoped(stmt, table, company_id: int, asset_id: int, tags: list[str] | None):
    stmt = stmt.join(Tag, Tag.id == table.tag_id).where(Tag.company_id == company_id, Tag.asset_id == asset_id)
    return stmt if tags is None else stmt.where(Tag.name.in_(tags))


def _raw_buckets(dialect: str, size: int, company_id: int, asset_id: int, lo: float, hi: float, tags: list[str] | None):
    good = and_(Reading.quality >= _GOOD[0], Reading.quality < _GOOD[1])
    value = case((good, Reading.value))
    bucket = time_bucket(Reading.ts, size, dialect)
    stmt = select(
        Tag.name,
        bucket,
        func.min(value),
        func.sum(value),
        func.max(value),
        func.count(value),
        func.sum(case((good, 0), else_=1)),
    ).select_from(Reading)
    stmt = _scoped(stmt, Reading, company_id, asset_id, tags)
    return stmt.where(Reading.ts >= lo, Reading.ts <= hi).group_by(Tag.name, bucket)


def _minute_buckets(
    dialect: str, size: int, company_id: int, asset_id: int, lo: float, hi: float, tags: list[str] | None
):
    m = ReadingMinute
    bucket = time_bucket(m.minute, size, dialect)
    stmt = select(
        Tag.name,
        bucket,
        func.min(m.min),
        func.sum(m.mean * m.count),
        func.max(m.max),
        func.sum(m.count),
        func.sum(m.bad_count),
    ).select_from(m)
    stmt = _scoped(stmt, m, company_id, asset_id, tags)
    return stmt.where(m.minute >= lo, m.minute <= hi).group_by(Tag.name, bucket)


def latest_reading_ts(session: Session, *, company_id: int, asset_id: int) -> float | None:
    """The asset's newest stored reading (raw, else aggregated minute): charts end there, on the data's clock."""
    newest = None
    for ts, table in ((Reading.ts, Reading), (ReadingMinute.minute, ReadingMinute)):
        stmt = _scoped(select(func.max(ts)).select_from(table), table, company_id, asset_id, None)
        found = session.execute(stmt).scalar()
        if found is not None:
            newest = max(float(found), newest or float("-inf"))
    return newest
