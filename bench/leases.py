"""Cost of one lease renewal (heartbeat, renew, live workers, free endpoints) on SQLite and PostgreSQL.

    .venv/bin/python bench/leases.py --endpoints 1000 [--postgres postgresql://postgres@127.0.0.1:5432/test]

Two workers hold half of the endpoints each; prints the milliseconds one worker's renewal
transaction takes on each backend, measured in this one run, and their ratio. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

from sqlalchemy import text

from pdm.config import parse_plants
from pdm.ingest import leases
from pdm.storage.catalog import apply_plants, endpoints_to_poll
from pdm.storage.session import make_engine, normalise_url, session_factory, upgrade

TTL = 15.0


def prepare(url: str, endpoints: int):
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    cfg = parse_plants(
        {
            "companies": [
                {
                    "id": "bench",
                    "sites": [
                        {
                            "id": "s",
                            "endpoints": [
                                {"name": f"e{i}", "endpoint_url": f"opc.tcp://127.0.0.1:1/e{i}"}
                                for i in range(endpoints)
                            ],
                        }
                    ],
                }
            ]
        }
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        ids = [e.id for e in endpoints_to_poll(s)]
        for worker in ("a", "b"):
            leases.heartbeat(s, worker_id=worker, ttl=TTL)
        for i, endpoint_id in enumerate(ids):
            leases.acquire(s, endpoint_id=endpoint_id, worker_id="ab"[i % 2], ttl=TTL)
    return engine, sessions


def renewal_ms(sessions, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        with sessions.begin() as s:
            leases.heartbeat(s, worker_id="a", ttl=TTL)
            held = leases.renew(s, worker_id="a", ttl=TTL)
            wanted = endpoints_to_poll(s)
            leases.fair_share(len(wanted), leases.live_workers(s), "a")
            leases.taken_by_others(s, worker_id="a")
    assert held
    return (time.perf_counter() - start) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine, sessions = prepare(f"sqlite:///{tmp}/bench.sqlite3", args.endpoints)
        sqlite_ms = renewal_ms(sessions, args.rounds)
        engine.dispose()
    print(f"sqlite: {sqlite_ms:.1f} ms per renewal ({args.endpoints} endpoints, 2 workers)")
    if args.postgres:
        base = normalise_url(args.postgres)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base)
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            sep = "&" if "?" in base else "?"
            engine, sessions = prepare(f"{base}{sep}options=-csearch_path%3D{schema}", args.endpoints)
            pg_ms = renewal_ms(sessions, args.rounds)
            engine.dispose()
        finally:
            with admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        print(f"postgres: {pg_ms:.1f} ms per renewal")
        print(f"ratio={pg_ms / sqlite_ms:.2f} (postgres / sqlite)")


if __name__ == "__main__":
    main()
