"""The interactive demo's set-up: a login that works, a new password each run."""

from pathlib import Path

import pytest

from pdm.access import users
from pdm.demo.run import DEMO_USER, remove_sqlite_file, seed_demo_user
from pdm.errors import PdmError
from pdm.storage.session import make_engine, session_factory, upgrade

# Their subprocesses share the working directory's var/ (and the example plant's ports): with
# pytest-xdist they run on one worker, one after the other.
pytestmark = pytest.mark.xdist_group("shared-var")


def test_demo_user_can_log_in_and_each_run_gets_a_new_password(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    first = seed_demo_user(engine)
    second = seed_demo_user(engine)  # a demo restarted on the same database
    assert first != second
    with session_factory(engine).begin() as s:
        principal = users.authenticate(s, username=DEMO_USER, password=second)
        assert principal.role == "admin"
    with session_factory(engine).begin() as s, pytest.raises(PdmError):
        users.authenticate(s, username=DEMO_USER, password=first)


def test_fresh_only_resets_a_sqlite_file(tmp_path):
    db = tmp_path / "demo.sqlite3"
    db.write_text("x")
    remove_sqlite_file(f"sqlite:///{db}")
    assert not db.exists()
    with pytest.raises(PdmError, match="only resets a SQLite"):
        remove_sqlite_file("postgresql://postgres@127.0.0.1/test")


def test_demo_technician_closes_a_benign_events_alert_as_a_false_alarm_with_its_reason(sessions):
    from pdm.config import parse_plants
    from pdm.demo.technician import BENIGN_REASONS, close_demo_alerts
    from pdm.storage.catalog import apply_plants
    from pdm.storage.tables import Alert
    from tests.helpers.savings import T0, H, _alert, plants

    with sessions.begin() as s:
        apply_plants(s, parse_plants(plants(2)))
        ids = [
            _alert(s, "alpha", "pump-a", T0).id,
            _alert(s, "alpha", "pump-b", T0 + H).id,
            _alert(s, "beta", "fan-x", T0 + 2 * H).id,
        ]
    events = [
        {
            "company": "alpha",
            "asset": "pump-a",
            "kind": "bearing_wear",
            "start": T0 - H,
            "end": T0 + 5 * H,
            "benign": False,
        },
        {
            "company": "alpha",
            "asset": "pump-b",
            "kind": "process_change",
            "start": T0,
            "end": T0 + 2 * H,
            "benign": True,
        },
    ]
    assert close_demo_alerts(sessions, faults=events, leave_open=1) == {"RESOLVED": 1, "FALSE_ALARM": 1, "open": 1}
    with sessions() as s:
        fault, benign, newest = (s.get(Alert, i) for i in ids)
        assert (fault.status, fault.failure_mode) == ("RESOLVED", "bearing_wear")
        assert (benign.status, benign.false_alarm_reason) == ("FALSE_ALARM", BENIGN_REASONS["process_change"])
        assert newest.status == "OPEN"


def test_headless_demo_stops_quietly_with_jobs_running(tmp_path):
    """A stop lands in jobs under way: no traceback, a summary printed, the exit code 0.

    Polls every 0.02 s and leases renewed every 0.01 s keep jobs running nearly all the time, so
    the stop lands in some (APScheduler logs a job it cancels with its CancelledError's traceback)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config" / "plants.example.yaml"
    plants = tmp_path / "plants.yaml"
    plants.write_text(example.read_text().replace("poll_interval_s: 0.5", "poll_interval_s: 0.02"))
    env = {**os.environ, "PDM_LEASE_RENEW_S": "0.01", "PDM_LEASE_TTL_S": "2"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdm.cli",
            "demo",
            "--headless",
            "--duration",
            "4",
            "--speed",
            "60",
            "--json",
            "--config",
            str(plants),
            "--database",
            f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "CancelledError" not in proc.stderr, proc.stderr
    assert "Error running job" not in proc.stderr and "raised an exception" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["readings"] > 0


def test_demo_waits_for_the_plant_to_listen_and_names_what_never_did():
    import socket
    import threading

    from pdm.demo.run import free_port, wait_until_listening

    late, never = free_port(), free_port()
    server = socket.socket()
    opener = threading.Timer(0.6, lambda: (server.bind(("127.0.0.1", late)), server.listen()))
    opener.start()
    try:
        assert wait_until_listening([("127.0.0.1", late)], timeout_s=10) == []
        assert wait_until_listening([("127.0.0.1", late), ("127.0.0.1", never)], timeout_s=0.5) == [
            ("127.0.0.1", never)
        ]
        # The plant's process exited: no point waiting out the timeout.
        assert wait_until_listening([("127.0.0.1", never)], timeout_s=30, still_starting=lambda: False) == [
            ("127.0.0.1", never)
        ]
    finally:
        opener.join()
        server.close()


def test_demo_endpoint_addresses_come_from_the_plants_file():
    from pdm.config import load_plants
    from pdm.demo.run import endpoint_addresses

    addresses = endpoint_addresses(load_plants(Path("config/plants.example.yaml")))
    assert addresses and all(host == "127.0.0.1" and port > 0 for host, port in addresses)
