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
