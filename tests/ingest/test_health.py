"""Endpoint health counted in memory: errors of the last hour, readings per second over a minute."""

from pdm.ingest.health import Health


def test_health_counts_errors_of_the_last_hour_only():
    health = Health()
    now = 10_000.0
    health.error("old", now=now - 4000)
    health.error("recent", now=now - 10)
    health.readings(100, now=now - 20)
    health.readings(100, now=now - 10)
    health.readings(100, now=now)
    snap = health.snapshot(now)
    assert snap["errors_last_hour"] == 1 and snap["last_error"] == "recent"
    assert snap["readings_per_s"] == 10.0  # 200 readings over the 20 s since the window opened


def test_readings_older_than_a_minute_leave_the_rate():
    health = Health()
    health.readings(600, now=1000.0)
    health.readings(600, now=1030.0)
    assert health.snapshot(1030.0)["readings_per_s"] == 20.0
    # A minute later nothing new came: the rate falls to nothing rather than keeping the old figure.
    assert health.snapshot(1100.0)["readings_per_s"] == 0.0


def test_status_says_how_many_nodes_keep_history_and_what_was_read_back(sessions):
    from pdm.config import parse_plants
    from pdm.ingest.health import endpoint_health, save_health
    from pdm.storage.catalog import apply_plants, list_endpoints

    endpoints = [{"name": n, "endpoint_url": f"opc.tcp://127.0.0.1:4840/{n}"} for n in ("plc", "scada")]
    cfg = parse_plants({"companies": [{"id": "acme", "sites": [{"id": "s", "endpoints": endpoints}]}]})
    base = {"company_id": 1, "worker_id": "w", "updated_at": 1000.0, "readings_per_s": 1.0, "errors_last_hour": 0}
    with sessions.begin() as s:
        apply_plants(s, cfg)
        ids = {e.name: e.id for e in list_endpoints(s, company_id=1)}
        save_health(
            s,
            [
                {
                    **base,
                    "endpoint_id": ids["plc"],
                    "last_error": None,
                    "spool_rows": 0,
                    "nodes": 4,
                    "history_nodes": 2,
                    "backfilled": 12,
                    "quirks": 3,
                },
                {
                    **base,
                    "endpoint_id": ids["scada"],
                    "last_error": None,
                    "spool_rows": 0,
                    "nodes": None,
                    "history_nodes": None,
                    "backfilled": 0,
                    "quirks": 0,
                },
            ],
        )
    with sessions() as s:
        rows = {r["name"]: r for r in endpoint_health(s, company_id=1, now=1010.0)}
    assert (rows["plc"]["history"], rows["plc"]["backfilled"], rows["plc"]["quirks"]) == ("2/4", 12, 3)
    assert rows["scada"]["history"] == "?"  # not connected yet: unknown, not "none"
