"""Endpoint leases: each endpoint is read by exactly one ingest worker at a time.

A lease is one row per endpoint. It is taken with a single conditional statement (an
``INSERT ... ON CONFLICT DO NOTHING`` for a free endpoint, an ``UPDATE ... WHERE expires_at <
now`` for one whose holder stopped renewing), so two workers racing for an endpoint cannot
both win: the database serialises the two statements and the second matches no row. A worker
renews its leases every few seconds; one that stops (killed, hung, cut off) loses them after
``ttl`` seconds and the others take its endpoints over.

Live ingest workers register in ``ingest_workers`` with the same expiry, so each worker knows
how many share the endpoints and takes its fair share (see ``fair_share``). Times are the
workers' own clocks (epoch seconds): hosts must keep them in step (NTP), to well within ``ttl``.
"""

from __future__ import annotations

import os
import secrets
import socket
import time

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pdm.storage.session import dialect_insert
from pdm.storage.tables import EndpointLease, IngestWorker

FORGET_AFTER_S = 3600.0  # a worker expired this long ago is removed from the registry


def new_worker_id() -> str:
    """Unique across hosts and restarts; safe as a folder name (the worker's spool lives under it)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def heartbeat(session: Session, *, worker_id: str, ttl: float, now: float | None = None) -> None:
    """Say this ingest worker is alive for ``ttl`` more seconds (registering it the first time)."""
    now = time.time() if now is None else now
    values = {
        "worker_id": worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": now,
        "heartbeat_at": now,
        "expires_at": now + ttl,
    }
    stmt = dialect_insert(session, IngestWorker).values(values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"heartbeat_at": now, "expires_at": now + ttl})
    )
    session.execute(delete(IngestWorker).where(IngestWorker.expires_at < now - FORGET_AFTER_S))


def live_workers(session: Session, *, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    stmt = select(IngestWorker.worker_id).where(IngestWorker.expires_at >= now).order_by(IngestWorker.worker_id)
    return list(session.execute(stmt).scalars())


def leave(session: Session, *, worker_id: str) -> None:
    """A clean stop: give back every lease and leave the registry, so the others take over at once."""
    session.execute(delete(EndpointLease).where(EndpointLease.worker_id == worker_id))
    session.execute(delete(IngestWorker).where(IngestWorker.worker_id == worker_id))


def acquire(session: Session, *, endpoint_id: int, worker_id: str, ttl: float, now: float | None = None) -> bool:
    """Take the endpoint if it is free, expired or already ours; False when a live worker holds it."""
    now = time.time() if now is None else now
    values = {"worker_id": worker_id, "acquired_at": now, "heartbeat_at": now, "expires_at": now + ttl}
    got = session.execute(
        dialect_insert(session, EndpointLease)
        .values(endpoint_id=endpoint_id, **values)
        .on_conflict_do_nothing(index_elements=["endpoint_id"])
    ).rowcount
    if got == 1:
        return True
    # Re-checked by the database under the row lock: of two workers racing here, one matches.
    stmt = (
        update(EndpointLease)
        .where(EndpointLease.endpoint_id == endpoint_id)
        .where((EndpointLease.expires_at < now) | (EndpointLease.worker_id == worker_id))
        .values(values)
    )
    return session.execute(stmt, execution_options={"synchronize_session": False}).rowcount == 1


def take_over(session: Session, *, from_worker: str, worker_id: str, ttl: float, now: float | None = None) -> None:
    """Take every lease of a worker known to be dead (its spool folder's lock is free: see
    ``pdm.ingest.assignment``) at once, rather than waiting ``ttl`` for them to expire, and drop
    it from the registry so the fair shares are computed without it."""
    now = time.time() if now is None else now
    session.execute(
        update(EndpointLease)
        .where(EndpointLease.worker_id == from_worker)
        .values(worker_id=worker_id, acquired_at=now, heartbeat_at=now, expires_at=now + ttl),
        execution_options={"synchronize_session": False},
    )
    session.execute(delete(IngestWorker).where(IngestWorker.worker_id == from_worker))


def renew(session: Session, *, worker_id: str, ttl: float, now: float | None = None) -> set[int]:
    """Extend every lease this worker holds; returns the endpoints it still holds.

    A lease that expired but was not taken over is renewed too: nobody else read it meanwhile.
    """
    now = time.time() if now is None else now
    session.execute(
        update(EndpointLease)
        .where(EndpointLease.worker_id == worker_id)
        .values(heartbeat_at=now, expires_at=now + ttl),
        execution_options={"synchronize_session": False},
    )
    return held(session, worker_id=worker_id)


def held(session: Session, *, worker_id: str) -> set[int]:
    stmt = select(EndpointLease.endpoint_id).where(EndpointLease.worker_id == worker_id)
    return set(session.execute(stmt).scalars())


def release(session: Session, *, worker_id: str, endpoint_ids: list[int]) -> None:
    """Give endpoints back (only those this worker still holds)."""
    if endpoint_ids:
        session.execute(
            delete(EndpointLease).where(
                EndpointLease.worker_id == worker_id, EndpointLease.endpoint_id.in_(endpoint_ids)
            )
        )


def taken_by_others(session: Session, *, worker_id: str, now: float | None = None) -> set[int]:
    """Endpoints a live lease of another worker holds."""
    now = time.time() if now is None else now
    stmt = select(EndpointLease.endpoint_id).where(
        EndpointLease.worker_id != worker_id, EndpointLease.expires_at >= now
    )
    return set(session.execute(stmt).scalars())


def holders(session: Session, *, now: float | None = None) -> dict[int, str]:
    """Endpoint id → the worker whose lease on it is live."""
    now = time.time() if now is None else now
    stmt = select(EndpointLease.endpoint_id, EndpointLease.worker_id).where(EndpointLease.expires_at >= now)
    return dict(session.execute(stmt).all())


def fair_share(endpoints: int, workers: list[str], worker_id: str) -> int:
    """How many endpoints ``worker_id`` should hold: the shares of all live workers add up to ``endpoints``.

    ``endpoints // n`` each, one more for the first ``endpoints % n`` workers in id order, so
    every worker computes the same split without talking to the others.
    """
    everyone = sorted(set(workers) | {worker_id})
    base, extra = divmod(endpoints, len(everyone))
    return base + (1 if everyone.index(worker_id) < extra else 0)
