"""Data coverage: the share of expected readings an endpoint delivered, over all time or a period.

Readings are counted where they are stored: raw while kept, then in the 1-minute aggregates
retention folds them into (``pdm.storage.readings.stored_counts``), so an old period keeps its
figure after its raw rows are gone.

Gaps (``pdm.storage.gaps``: stretches an outage took that backfill could not read back) are
counted beside it, per endpoint: how many were recorded in the period and for how long any of
the endpoint's tags was missing. They do not change readings, expected or coverage: a gap is
already missing from the readings, and this says where and why.
"""

from __future__ import annotations

import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.savings.periods import parse_period
from pdm.storage.gaps import gap_time
from pdm.storage.readings import first_stored, stored_counts
from pdm.storage.tables import Endpoint, Tag


def _coverage(session: Session, company_id: int | None, period: str | None = None) -> list[dict]:
    start, end, _ = parse_period(period)
    stmt = (
        select(Endpoint, func.count(Tag.id))
        .outerjoin(Tag, Tag.endpoint_id == Endpoint.id)
        .group_by(Endpoint.id)
        .order_by(Endpoint.company_id, Endpoint.name)
    )
    if company_id is not None:
        stmt = stmt.where(Endpoint.company_id == company_id)
    in_period = (
        stored_counts(session, by="endpoint", company_id=company_id, start=start, end=end) if start is not None else {}
    )
    oldest = first_stored(session, company_id=company_id)
    gaps = gap_time(session, company_id=company_id, start=start, end=end)
    rows = []
    for ep, tags in session.execute(stmt):
        poll = float((ep.settings or {}).get("poll_interval_s") or 1.0)
        window = _window(oldest.get(ep.id), ep.last_read_at, start, end)
        span = None if window is None else window[1] - window[0]
        cut = window is not None and window[1] == end
        expected = tags * _polls(span, poll, end_excluded=cut) if span is not None else 0
        # All time: the endpoint's own counter (it survives retention); a period: the readings stored in it.
        received = ep.readings_total if start is None else in_period.get(ep.id, 0)
        rows.append(
            {
                "company_id": ep.company_id,
                "endpoint": ep.name,
                "tags": tags,
                "poll_interval_s": poll,
                "span_s": span,
                "readings": received,
                "expected": expected,
                "coverage": min(1.0, received / expected) if expected else None,
                "gaps": gaps.get(ep.id, (0, 0.0))[0],
                "gap_s": gaps.get(ep.id, (0, 0.0))[1],
            }
        )
    return rows


def _window(
    first: float | None, last: float | None, start: float | None, end: float | None
) -> tuple[float, float] | None:
    """The stretch the endpoint was expected to deliver: its first reading → last read, cut to the period."""
    if first is None or not last:
        return None
    lo, hi = (first, last) if start is None else (max(first, start), min(last, end))
    return (lo, hi) if hi >= lo else None


def _polls(span: float, poll: float, *, end_excluded: bool) -> int:
    """Polls due in a span: both ends count, except a period's end, which belongs to the next one."""
    return math.ceil(span / poll) if end_excluded else int(span // poll) + 1


def coverage(session: Session, *, company_id: int, period: str | None = None) -> list[dict]:
    """Per endpoint: readings / expected, expected = tags × (⌊span / poll_interval_s⌋ + 1).

    The span runs from the endpoint's oldest stored reading (the start of its minute once
    aggregated) to its ``last_read_at``, cut to the period when one is given; readings are then
    those stored with a timestamp in the period, raw or aggregated, and for all time the
    endpoint's received counter. A value can only count once, so coverage is capped at 100 %;
    in subscribe mode unchanged values are not sent, and a low figure there means a quiet
    process as much as lost data. An endpoint with no data in the period has none.

    ``gaps`` and ``gap_s``: the gaps recorded for the endpoint that overlap the period, and the
    seconds of the period in which any of its tags was recorded as missing (overlaps counted once).
    """
    return _coverage(session, company_id, period)


def cluster_coverage(session: Session, *, period: str | None = None) -> dict[int, float | None]:
    """Cross-company: each company's readings received / expected over all its endpoints (and the period)."""
    got: dict[int, list[int]] = {}
    for row in _coverage(session, None, period):
        acc = got.setdefault(row["company_id"], [0, 0])
        acc[0] += row["readings"] if row["expected"] else 0
        acc[1] += row["expected"]
    return {cid: min(1.0, r / e) if e else None for cid, (r, e) in got.items()}
