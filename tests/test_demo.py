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
