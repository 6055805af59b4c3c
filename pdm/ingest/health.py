"""What a status page says about each endpoint: readings per second, errors in the last hour.

The poller owning an endpoint counts them in memory (``Health``); the worker holding the
endpoint writes a snapshot to ``endpoint_health`` at every lease renewal (``save_health``),
so ``pdmctl endpoint status`` and the engineer page on any host read the same figures
(``endpoint_health``).
"""

from __future__ import annotations

import time
from collections import deque

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.storage.session import dialect_insert
from pdm.storage.tables import EndpointHealth

HOUR = 3600.0


class Health:
    """Counters a status page needs, kept in memory by the poller that owns them.

    The worker holding the endpoint writes a snapshot to ``endpoint_health`` every lease
    renewal (``save_health``), so a status page on any host reads the same figures.
    """

    def __init__(self):
        self.errors: deque[float] = deque()
        self.last_error: str | None = None
        self.window: deque[tuple[float, int]] = deque()  # (time, readings) over the last minute

    def error(self, reason: str, now: float | None = None) -> None:
        now = now or time.time()
        self.errors.append(now)
        while self.errors[0] < now - HOUR:
            self.errors.popleft()
        self.last_error = reason

    def readings(self, count: int, now: float | None = None) -> None:
        now = now or time.time()
        self.window.append((now, count))
        while self.window[0][0] < now - 60:
            self.window.popleft()

    def snapshot(self, now: float | None = None) -> dict:
        now = now or time.time()
        window = [(t, c) for t, c in self.window if t >= now - 60]
        span = now - window[0][0] if len(window) > 1 else 0.0
        # The first entry opens the window; its readings came before it.
        rate = sum(c for _, c in window[1:]) / span if span > 0 else 0.0
        return {
            "updated_at": now,
            "readings_per_s": round(rate, 3),
            "errors_last_hour": sum(1 for t in self.errors if t >= now - HOUR),
            "last_error": self.last_error,
        }


def save_health(session: Session, rows: list[dict]) -> None:
    """Upsert ``endpoint_health`` rows (endpoint_id, company_id, worker_id and a ``Health.snapshot``)."""
    if not rows:
        return
    stmt = dialect_insert(session, EndpointHealth)
    columns = (
        "company_id",
        "worker_id",
        "updated_at",
        "readings_per_s",
        "errors_last_hour",
        "last_error",
        "spool_rows",
        "nodes",
        "history_nodes",
        "backfilled",
        "quirks",
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["endpoint_id"], set_={c: getattr(stmt.excluded, c) for c in columns}
        ),
        rows,
    )


def endpoint_health(session: Session, *, company_id: int, now: float | None = None) -> list[dict]:
    """One dict per endpoint of the company; shared with the engineer page so both say the same thing."""
    from pdm.ingest.leases import holders
    from pdm.storage.catalog import list_endpoints

    now = now or time.time()
    endpoints = list_endpoints(session, company_id=company_id)
    reported = {
        h.endpoint_id: h
        for h in session.execute(select(EndpointHealth).where(EndpointHealth.company_id == company_id)).scalars()
    }
    held_by = holders(session, now=now)
    rows = []
    for ep in endpoints:
        h = reported.get(ep.id)
        age = now - h.updated_at if h else HOUR
        rows.append(
            {
                "id": ep.id,
                "name": ep.name,
                "enabled": ep.enabled,
                "state": ep.state,
                "last_read_at": ep.last_read_at,
                "last_read": _age(ep.last_read_at, now),
                # Nobody renewing the figures (no worker holds the endpoint): nothing is read per second.
                "readings_per_s": h.readings_per_s if h and age < 120 else 0.0,
                "errors_last_hour": h.errors_last_hour if h and age < HOUR else 0,
                "spool_rows": h.spool_rows if h else 0,
                "history": _history(h),
                "backfilled": h.backfilled if h else 0,
                "quirks": h.quirks if h else 0,
                "worker": held_by.get(ep.id, ""),
                "last_error": ep.last_error or (h.last_error if h else None),
            }
        )
    return rows


def _history(h: EndpointHealth | None) -> str:
    """``18/20``: nodes whose history the server keeps, of those read; ``?`` until a worker has connected."""
    if h is None or h.nodes is None or h.history_nodes is None:
        return "?"
    return f"{h.history_nodes}/{h.nodes}"


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    seconds = max(0, now - ts)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
