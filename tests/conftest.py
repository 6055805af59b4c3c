"""Shared fixtures: real databases (SQLite file, PostgreSQL schema) and plant configs on free ports.

PostgreSQL tests read ``PDM_TEST_POSTGRES_URL``. Without it they skip; with it (as in CI)
they must run, and an unreachable server fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from pdm.config import PlantConfig
from pdm.storage.session import make_engine, normalise_url, session_factory, upgrade
from tests.helpers.pgcluster import PgCluster
from tests.helpers.plants import small_plant_config
from tests.helpers.servers import OpcUaTestServer

PG_ENV = "PDM_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _keep_main_module():
    # AppTest runs the app as ``__main__`` and leaves it there; a process pool started later
    # (spawn) would then re-run the Streamlit script in each child instead of importing pytest.
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _own_cli_sessions(tmp_path, monkeypatch):
    # `pdmctl login` writes a session file; a test's must be its own, never the user's ~/.config.
    monkeypatch.setenv("PDMCTL_SESSION_FILE", str(tmp_path / "pdmctl-sessions.json"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'pdm.sqlite3'}"


@pytest.fixture
def postgres_url():
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    base = normalise_url(base)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # CI sets the variable: an unreachable server is a failure there
        pytest.fail(f"PostgreSQL at {base} unreachable: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the test's own, which it may stop and start (runs where PostgreSQL tests do)."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} not set")
    cluster = PgCluster().init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> str:
    """A SQLite file migrated to head once per run; tests get a copy instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()  # the last connection closing checkpoints the WAL into the file: one file to copy
    return str(path)


@pytest.fixture
def engine(db_url, request):
    database = make_url(db_url).database
    if db_url.startswith("sqlite") and database and not os.path.exists(database):
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), database)
    eng = make_engine(db_url)
    upgrade(eng)  # a no-op on the migrated copy; migrates a PostgreSQL schema
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
def small_plant() -> PlantConfig:
    return small_plant_config()


@pytest.fixture
async def opcua_server():
    srv = await OpcUaTestServer().start()
    yield srv
    await srv.stop()
