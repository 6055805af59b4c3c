"""An alert's episodes: each excursion from its opening, or from becoming active again, to its
last anomalous row before it returned to normal (``pdm.alerts.rules`` records both as events)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.storage.tables import Alert, AlertEvent


def episodes(session: Session, *, company_id: int, alert: Alert) -> list[tuple[float, float]]:
    """(start, last seen) per episode on the data's clock, oldest first; the last may still be going on."""
    stmt = (
        select(AlertEvent.kind, AlertEvent.details)
        .where(
            AlertEvent.company_id == company_id,
            AlertEvent.alert_id == alert.id,
            AlertEvent.kind.in_(("returned_to_normal", "reactivated")),
        )
        .order_by(AlertEvent.id)
    )
    out: list[tuple[float, float]] = []
    start: float | None = alert.opened_at
    for kind, details in session.execute(stmt):
        if kind == "returned_to_normal" and start is not None:
            out.append((start, float(details.get("last_seen_at", start))))
            start = None
        elif kind == "reactivated":
            start = float(details["active_since"])
    if start is not None:
        out.append((start, max(start, alert.last_seen_at)))
    return out
