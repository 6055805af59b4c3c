"""Gaps: what an endpoint's tags never stored (missed while unreachable and not backfilled), and why.

The poller records a gap when a backfill after an outage could not read some stretch back (the
server keeps no history for the node, or refused, or the history no longer reaches that far);
the asset chart shades them and data coverage counts them, so missing data is never silent.

A gap row names its endpoint and one tag, or no tag for every tag the endpoint feeds. Recording
the same gap again changes nothing; a gap that overlaps or touches one already recorded for the
same endpoint, tag and reason is merged into it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from pdm.storage.tables import Endpoint, Gap, Tag


@dataclass(frozen=True, slots=True)
class GapRow:
    id: int
    endpoint_id: int
    endpoint: str
    tag_id: int | None  # None: every tag of the endpoint (gaps_for_endpoint only)
    tag: str | None
    start_ts: float
    end_ts: float
    reason: str
    recorded_at: float

    @property
    def seconds(self) -> float:
        return self.end_ts - self.start_ts


def record_gaps(session: Session, rows: Iterable[Mapping]) -> int:
    """Store gaps: mappings with ``endpoint_id``, ``start_ts``, ``end_ts``, and optionally ``tag_id``
    (None: every tag of the endpoint), ``reason`` and ``recorded_at`` (default now).

    Returns how many gaps were added or widened: 0 when every one was already recorded. A gap of
    no length is ignored; one that ends before it starts, names an unknown endpoint or a tag of
    another company is refused with ValueError, before anything is written. The company is the
    endpoint's.
    """
    wanted = [_checked(r) for r in rows]
    wanted = [r for r in wanted if r["end_ts"] > r["start_ts"]]
    if not wanted:
        return 0
    owners = dict(
        session.execute(
            select(Endpoint.id, Endpoint.company_id).where(Endpoint.id.in_({r["endpoint_id"] for r in wanted}))
        ).all()
    )
    tag_ids = {r["tag_id"] for r in wanted if r["tag_id"] is not None}
    tag_owners: dict[int, int] = {}
    if tag_ids:
        tag_owners = dict(session.execute(select(Tag.id, Tag.company_id).where(Tag.id.in_(tag_ids))).all())
    for r in wanted:
        company = owners.get(r["endpoint_id"])
        if company is None:
            raise ValueError(f"gap for endpoint {r['endpoint_id']}: no such endpoint")
        if r["tag_id"] is not None and tag_owners.get(r["tag_id"]) != company:
            raise ValueError(f"gap for tag {r['tag_id']}: not a tag of endpoint {r['endpoint_id']}'s company")
        r["company_id"] = company
    changed = 0
    for r in wanted:
        changed += _merge_one(session, r)
    session.flush()
    return changed


def _checked(row: Mapping) -> dict[str, Any]:
    try:
        r: dict[str, Any] = {
            "endpoint_id": int(row["endpoint_id"]),
            "tag_id": None if row.get("tag_id") is None else int(row["tag_id"]),
            "start_ts": float(row["start_ts"]),
            "end_ts": float(row["end_ts"]),
            "reason": str(row.get("reason") or ""),
            "recorded_at": float(row.get("recorded_at") or time.time()),
        }
    except KeyError as exc:
        raise ValueError(f"gap {dict(row)!r}: {exc.args[0]} missing") from None
    if r["end_ts"] < r["start_ts"]:
        raise ValueError(f"gap {dict(row)!r}: end_ts is before start_ts")
    return r


def _merge_one(session: Session, r: dict[str, Any]) -> int:
    same_tag = Gap.tag_id.is_(None) if r["tag_id"] is None else Gap.tag_id == r["tag_id"]
    touching = (
        session.execute(
            select(Gap)
            .where(
                Gap.endpoint_id == r["endpoint_id"],
                same_tag,
                Gap.reason == r["reason"],
                Gap.start_ts <= r["end_ts"],
                Gap.end_ts >= r["start_ts"],
            )
            .order_by(Gap.start_ts, Gap.id)
        )
        .scalars()
        .all()
    )
    if not touching:
        session.add(Gap(**r))
        session.flush()
        return 1
    keep, others = touching[0], touching[1:]
    lo = min([r["start_ts"], *(g.start_ts for g in touching)])
    hi = max([r["end_ts"], *(g.end_ts for g in touching)])
    if not others and (keep.start_ts, keep.end_ts) == (lo, hi):
        return 0  # already recorded, or inside a recorded gap
    keep.start_ts, keep.end_ts = lo, hi
    keep.recorded_at = max(keep.recorded_at, r["recorded_at"])
    if others:
        session.execute(delete(Gap).where(Gap.id.in_([g.id for g in others])))
    session.flush()
    return 1


def _overlapping(start: float | None, end: float | None) -> list:
    where = []
    if start is not None:
        where.append(Gap.end_ts > start)
    if end is not None:
        where.append(Gap.start_ts < end)
    return where


def gaps_for_endpoint(
    session: Session, *, company_id: int, endpoint_id: int, start: float | None = None, end: float | None = None
) -> list[GapRow]:
    """The endpoint's gaps overlapping ``(start, end)`` (either end open), oldest first.

    A gap recorded for every tag of the endpoint has ``tag_id`` and ``tag`` None."""
    stmt = (
        select(Gap, Endpoint.name, Tag.name)
        .join(Endpoint, and_(Endpoint.id == Gap.endpoint_id, Endpoint.company_id == company_id))
        .outerjoin(Tag, and_(Tag.id == Gap.tag_id, Tag.company_id == company_id))
        .where(Gap.company_id == company_id, Gap.endpoint_id == endpoint_id, *_overlapping(start, end))
        .order_by(Gap.start_ts, Gap.id)
    )
    return [_row(g, ep, tag, g.tag_id) for g, ep, tag in session.execute(stmt)]


def gaps_for_asset(session: Session, *, company_id: int, asset_id: int, start: float, end: float) -> list[GapRow]:
    """The asset's gaps overlapping ``(start, end)``, one row per tag of the asset they cover, oldest first.

    A gap recorded for every tag of an endpoint is listed for each of the asset's tags that endpoint feeds.
    """
    covers = or_(Tag.id == Gap.tag_id, and_(Gap.tag_id.is_(None), Tag.endpoint_id == Gap.endpoint_id))
    stmt = (
        select(Gap, Endpoint.name, Tag.name, Tag.id)
        .join(Tag, covers)
        .join(Endpoint, Endpoint.id == Gap.endpoint_id)
        .where(
            Gap.company_id == company_id,
            Tag.company_id == company_id,
            Endpoint.company_id == company_id,
            Tag.asset_id == asset_id,
            *_overlapping(start, end),
        )
        .order_by(Gap.start_ts, Tag.name, Gap.id)
    )
    return [_row(g, ep, tag, tag_id) for g, ep, tag, tag_id in session.execute(stmt)]


def _row(g: Gap, endpoint: str, tag: str | None, tag_id: int | None) -> GapRow:
    return GapRow(
        id=g.id,
        endpoint_id=g.endpoint_id,
        endpoint=endpoint,
        tag_id=tag_id,
        tag=tag,
        start_ts=g.start_ts,
        end_ts=g.end_ts,
        reason=g.reason,
        recorded_at=g.recorded_at,
    )


def gap_time(
    session: Session, *, company_id: int | None, start: float | None = None, end: float | None = None
) -> dict[int, tuple[int, float]]:
    """Per endpoint id: (gaps, seconds) recorded in ``(start, end)``, the seconds being the time when any
    of its tags was missing (overlapping gaps counted once), cut to the period. ``company_id`` None: every
    company (the cluster figures)."""
    stmt = select(Gap.endpoint_id, Gap.start_ts, Gap.end_ts).where(*_overlapping(start, end))
    if company_id is not None:
        stmt = stmt.where(Gap.company_id == company_id)
    spans: dict[int, list[tuple[float, float]]] = {}
    for ep, lo, hi in session.execute(stmt.order_by(Gap.endpoint_id, Gap.start_ts)):
        lo = lo if start is None else max(lo, start)
        hi = hi if end is None else min(hi, end)
        spans.setdefault(ep, []).append((lo, hi))
    return {ep: (len(parts), _union_length(parts)) for ep, parts in spans.items()}


def _union_length(parts: list[tuple[float, float]]) -> float:
    total, reach = 0.0, None
    for lo, hi in sorted(parts):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total
