"""The spool: order kept, nothing lost while the database is down, bounded on disk."""

import logging

import pytest

from pdm.ingest.spool import Spool


def _rows(start, n):
    return [
        {"tag_id": 1, "ts": float(t), "value": 1.0, "quality": 0, "received_at": 0.0} for t in range(start, start + n)
    ]


def test_drain_replays_batches_in_order_and_empties(tmp_path):
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=500)
    for i in range(10):
        spool.append(_rows(i * 5, 5))
    assert len(spool) == 50
    got = []
    assert spool.drain(got.extend) == 50
    assert [r["ts"] for r in got] == [float(t) for t in range(50)]
    assert len(spool) == 0 and spool.size_bytes() == 0


def test_failed_drain_keeps_everything_not_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=300)
    for i in range(6):
        spool.append(_rows(i * 4, 4))
    seen = []

    def flaky(rows):
        if seen:
            raise ConnectionError("database down again")
        seen.extend(rows)

    with pytest.raises(ConnectionError):
        spool.drain(flaky)
    rest = []
    spool.drain(rest.extend)
    assert [r["ts"] for r in seen + rest] == [float(t) for t in range(24)]


def test_bound_drops_oldest_with_a_counted_warning(tmp_path, caplog):
    spool = Spool(tmp_path, max_bytes=4000, segment_bytes=1000)
    with caplog.at_level(logging.WARNING):
        for i in range(100):
            spool.append(_rows(i * 5, 5))
    assert spool.size_bytes() <= 4000 + 1000
    assert spool.dropped_rows > 0
    assert len(spool) + spool.dropped_rows == 500
    assert "dropped" in caplog.text
    got = []
    spool.drain(got.extend)
    ts = [r["ts"] for r in got]
    assert ts == sorted(ts) and ts[-1] == 499.0  # the newest data survives
