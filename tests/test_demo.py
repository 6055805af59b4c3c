"""The interactive demo's set-up: a login that works, a new password each run."""

import pytest

from pdm import users
from pdm.demo import DEMO_USER, remove_sqlite_file, seed_demo_user
from pdm.errors import PdmError
from pdm.storage.session import make_engine, session_factory, upgrade


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
    from pdm.demo_feedback import BENIGN_REASONS, close_demo_alerts
    from pdm.storage.catalog import apply_plants
    from pdm.storage.tables import Alert
    from tests.savings_fixtures import H, T0, _alert, plants

    with sessions.begin() as s:
        apply_plants(s, parse_plants(plants(2)))
        ids = [_alert(s, "alpha", "pump-a", T0).id, _alert(s, "alpha", "pump-b", T0 + H).id,
               _alert(s, "beta", "fan-x", T0 + 2 * H).id]
    events = [{"company": "alpha", "asset": "pump-a", "kind": "bearing_wear", "start": T0 - H, "end": T0 + 5 * H,
               "benign": False},
              {"company": "alpha", "asset": "pump-b", "kind": "process_change", "start": T0, "end": T0 + 2 * H,
               "benign": True}]
    assert close_demo_alerts(sessions, faults=events, leave_open=1) == {"RESOLVED": 1, "FALSE_ALARM": 1, "open": 1}
    with sessions() as s:
        fault, benign, newest = (s.get(Alert, i) for i in ids)
        assert (fault.status, fault.failure_mode) == ("RESOLVED", "bearing_wear")
        assert (benign.status, benign.false_alarm_reason) == ("FALSE_ALARM", BENIGN_REASONS["process_change"])
        assert newest.status == "OPEN"
