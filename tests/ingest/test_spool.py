"""The spool: order kept, nothing lost while the database is down, bounded on disk."""

import json
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


def test_a_batch_leaves_the_spool_only_when_committed(tmp_path):
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=300)
    for i in range(6):
        spool.append(_rows(i * 4, 4))
    batch = spool.peek(max_rows=5)
    assert [r["ts"] for r in batch.rows] == [float(t) for t in range(8)]  # whole appended batches
    # The process dies before the database commits: a spool opened again still has everything.
    again = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=300)
    assert again.rows == 24
    spool.commit(batch)
    assert spool.rows == 16 and Spool(tmp_path, max_bytes=1_000_000).rows >= 16


def test_a_write_that_fails_inside_its_transaction_keeps_the_batch(tmp_path):
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(_rows(0, 10))

    def fails_before_commit(rows):
        raise ConnectionError("backend terminated before COMMIT")

    with pytest.raises(ConnectionError):
        spool.drain(fails_before_commit)
    got = []
    assert spool.drain(got.extend) == 10 and len(got) == 10


def test_counts_come_from_memory_and_survive_reopening(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=2_000)
    for i in range(40):
        spool.append(_rows(i * 7, 7))
    assert spool.rows == 280 and spool.size_bytes() == sum(p.stat().st_size for p in tmp_path.glob("*.jsonl"))
    for p in tmp_path.glob("*.jsonl"):  # the counts are not read from disk again
        p.chmod(0)
    try:
        assert spool.rows == 280 and len(spool) == 280
    finally:
        for p in tmp_path.glob("*.jsonl"):
            p.chmod(0o644)
    spool.commit(spool.peek(max_rows=10))
    assert spool.rows == 266
    reopened = Spool(tmp_path, max_bytes=10_000_000)
    assert reopened.rows == 280  # a partly replayed segment is replayed again whole: duplicates are ignored


def test_segments_written_before_counts_were_kept_are_read(tmp_path):
    (tmp_path / "0.jsonl").write_text(json.dumps(_rows(0, 3)) + "\n" + json.dumps(_rows(3, 2)) + "\n")
    spool = Spool(tmp_path, max_bytes=1_000_000)
    assert spool.rows == 5
    spool.append(_rows(5, 1))
    got = []
    assert spool.drain(got.extend) == 6 and [r["ts"] for r in got] == [float(t) for t in range(6)]


def test_an_append_cut_by_a_crash_is_trimmed_and_what_follows_is_kept(tmp_path, caplog):
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(_rows(0, 3))
    with (tmp_path / "0.jsonl").open("ab") as fh:
        fh.write(b'2\t[{"tag_id": 1, "ts"')  # the write a SIGKILL interrupted
    with caplog.at_level(logging.WARNING):
        reopened = Spool(tmp_path, max_bytes=1_000_000)
    reopened.append(_rows(10, 2))
    got = []
    reopened.drain(got.extend)
    assert [r["ts"] for r in got] == [0.0, 1.0, 2.0, 10.0, 11.0]
    assert reopened.damaged_lines == 1 and "a crash interrupted" in caplog.text
    assert reopened.rows == 0 and not list(tmp_path.glob("*.jsonl"))


def test_an_unreadable_line_inside_a_segment_is_skipped_and_counted(tmp_path, caplog):
    (tmp_path / "0.jsonl").write_bytes(b"3\tnot json\n" + b"1\t" + json.dumps(_rows(5, 1)).encode() + b"\n")
    spool = Spool(tmp_path, max_bytes=1_000_000)
    got = []
    with caplog.at_level(logging.WARNING):
        spool.drain(got.extend)
    assert [r["ts"] for r in got] == [5.0] and spool.damaged_lines == 1 and "unreadable line" in caplog.text
