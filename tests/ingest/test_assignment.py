"""The last assignment kept beside a worker's spool, and its adoption by a worker started during an outage."""

import fcntl
import logging
import os

from pdm.ingest import assignment
from pdm.ingest.assignment import Assigned


def _item(endpoint_id, name="plc", tags=None):
    return Assigned(
        endpoint_id=endpoint_id,
        name=f"acme/{name}",
        company_id=1,
        settings={"name": name, "endpoint_url": "opc.tcp://h:4840", "poll_interval_s": 0.5},
        tags=tags or {"ns=2;i=2": [3, 4]},
    )


def test_saved_assignment_reads_back_with_the_same_signature(tmp_path):
    items = [_item(2), _item(1, "scada", {"ns=2;s=x": [7]})]
    assignment.save(tmp_path / "w1", items)
    back = assignment.load(tmp_path / "w1")
    assert [i.endpoint_id for i in back] == [1, 2]
    assert {i.endpoint_id: i.signature for i in back} == {i.endpoint_id: i.signature for i in items}
    assert not list((tmp_path / "w1").glob(".*.tmp"))  # written in one step


def test_dead_workers_are_adopted_live_and_unreadable_ones_are_not(tmp_path, caplog):
    root = tmp_path / "spool"
    assignment.save(root / "dead-old", [_item(1, "old"), _item(2)])
    os.utime(root / "dead-old" / assignment.FILE, (1, 1))
    assignment.save(root / "dead-new", [_item(1, "new")])
    assignment.save(root / "alive", [_item(3)])
    (root / "broken").mkdir()
    (root / "broken" / assignment.FILE).write_text("{not json")
    live = os.open(root / "alive" / assignment.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(live, fcntl.LOCK_EX)
    try:
        with caplog.at_level(logging.WARNING):
            adopted = assignment.adopt(root, "me")
        assert sorted(adopted.workers) == ["dead-new", "dead-old"]
        assert [(i.endpoint_id, i.name) for i in adopted.endpoints] == [(1, "acme/new"), (2, "acme/plc")]
        assert "does not read as an assignment" in caplog.text
        # Held: a second worker starting now adopts nothing twice.
        assert assignment.adopt(root, "other").endpoints == []
        adopted.release()
        again = assignment.adopt(root, "other")
        assert len(again.endpoints) == 2
        again.release()
    finally:
        os.close(live)
