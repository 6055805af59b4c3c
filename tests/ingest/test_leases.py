"""Endpoint leases on SQLite and PostgreSQL: one holder per endpoint, expiry, take-over, fair shares."""

import threading

import pytest

from pdm.config import parse_plants
from pdm.ingest import leases
from pdm.storage.catalog import apply_plants
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Endpoint, IngestWorker

TTL = 10.0
NOW = 1_000_000.0


@pytest.fixture
def endpoint_ids(sessions):
    companies = [
        {
            "id": f"c{i}",
            "sites": [{"id": "s", "endpoints": [{"name": "plc", "endpoint_url": f"opc.tcp://127.0.0.1:4840/c{i}"}]}],
        }
        for i in range(4)
    ]
    with sessions.begin() as s:
        apply_plants(s, parse_plants({"companies": companies}))
        return sorted(e.id for e in s.query(Endpoint))


def _acquire(sessions, endpoint_id, worker, now=NOW):
    with sessions.begin() as s:
        return leases.acquire(s, endpoint_id=endpoint_id, worker_id=worker, ttl=TTL, now=now)


def test_a_held_endpoint_is_refused_until_its_lease_expires(sessions, endpoint_ids):
    ep = endpoint_ids[0]
    assert _acquire(sessions, ep, "a")
    assert not _acquire(sessions, ep, "b", now=NOW + TTL - 1)
    assert _acquire(sessions, ep, "a", now=NOW + 1)  # ours already: re-taking it renews it
    assert not _acquire(sessions, ep, "b", now=NOW + TTL)  # renewed at NOW + 1, so still live
    assert _acquire(sessions, ep, "b", now=NOW + 1 + TTL + 0.1)  # not renewed in time: taken over
    with sessions.begin() as s:
        assert leases.renew(s, worker_id="a", ttl=TTL, now=NOW + 20) == set()  # "a" learns it lost it
        assert leases.holders(s, now=NOW + 20) == {ep: "b"}


def test_renew_keeps_a_lease_alive_past_its_first_expiry(sessions, endpoint_ids):
    ep = endpoint_ids[0]
    assert _acquire(sessions, ep, "a")
    for step in range(1, 4):
        with sessions.begin() as s:
            assert leases.renew(s, worker_id="a", ttl=TTL, now=NOW + step * (TTL - 1)) == {ep}
    assert not _acquire(sessions, ep, "b", now=NOW + 3 * (TTL - 1) + TTL - 0.5)


def test_release_and_leave_free_endpoints_for_the_others(sessions, endpoint_ids):
    for ep in endpoint_ids:
        assert _acquire(sessions, ep, "a")
    with sessions.begin() as s:
        leases.release(s, worker_id="b", endpoint_ids=endpoint_ids)  # not b's to give: nothing happens
        leases.release(s, worker_id="a", endpoint_ids=endpoint_ids[:1])
    assert _acquire(sessions, endpoint_ids[0], "b")
    assert not _acquire(sessions, endpoint_ids[1], "b")
    with sessions.begin() as s:
        leases.heartbeat(s, worker_id="a", ttl=TTL, now=NOW)
        leases.leave(s, worker_id="a")
        assert leases.live_workers(s, now=NOW) == []
    assert all(_acquire(sessions, ep, "b") for ep in endpoint_ids[1:])


def test_registry_counts_only_workers_that_renewed_in_time(sessions):
    with sessions.begin() as s:
        leases.heartbeat(s, worker_id="a", ttl=TTL, now=NOW)
        leases.heartbeat(s, worker_id="b", ttl=TTL, now=NOW)
        leases.heartbeat(s, worker_id="a", ttl=TTL, now=NOW + 8)  # a renews, b dies
    with sessions() as s:
        assert leases.live_workers(s, now=NOW + 5) == ["a", "b"]
        assert leases.live_workers(s, now=NOW + 12) == ["a"]
    with sessions.begin() as s:  # long gone workers are forgotten
        leases.heartbeat(s, worker_id="a", ttl=TTL, now=NOW + leases.FORGET_AFTER_S + 20)
    with sessions() as s:
        assert leases.live_workers(s, now=NOW) == ["a"]
        assert s.query(IngestWorker).count() == 1


def test_racing_workers_never_both_win_an_endpoint(db_url, engine, endpoint_ids):
    """Eight workers with their own connections race for each endpoint at once: exactly one wins."""
    racers = 8
    engines = [make_engine(db_url) for _ in range(racers)]
    try:
        for ep in endpoint_ids:
            barrier, wins = threading.Barrier(racers), []

            def race(i, barrier=barrier, ep=ep, wins=wins):
                barrier.wait()
                with session_factory(engines[i]).begin() as s:
                    if leases.acquire(s, endpoint_id=ep, worker_id=f"w{i}", ttl=TTL, now=NOW):
                        wins.append(i)

            threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(wins) == 1, (ep, wins)
            with session_factory(engine)() as s:
                assert leases.holders(s, now=NOW)[ep] == f"w{wins[0]}"
    finally:
        for e in engines:
            e.dispose()


@pytest.mark.parametrize("endpoints", [0, 1, 2, 3, 7, 10])
@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_fair_shares_add_up_and_differ_by_at_most_one(endpoints, workers):
    ids = [f"w{i}" for i in range(workers)]
    shares = [leases.fair_share(endpoints, ids, w) for w in ids]
    assert sum(shares) == endpoints and max(shares) - min(shares) <= 1


def test_a_worker_not_yet_registered_counts_itself():
    assert leases.fair_share(4, ["a"], "b") == 2
    assert leases.fair_share(4, [], "a") == 4
