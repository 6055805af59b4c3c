"""Shared fixtures: real databases (SQLite file, PostgreSQL schema) and plant configs on free ports.

PostgreSQL tests read ``PDM_TEST_POSTGRES_URL``. Without it they skip; with it (as in CI)
they must run, and an unreachable server fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from pdm.config import PlantConfig, parse_plants
from pdm.storage.session import make_engine, normalise_url, session_factory, upgrade

PG_ENV = "PDM_TEST_POSTGRES_URL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _keep_main_module():
    # AppTest runs the app as ``__main__`` and leaves it there; a process pool started later
    # (spawn) would then re-run the Streamlit script in each child instead of importing pytest.
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


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


SENSORS = {
    "centrifugal_pump": [
        "flow",
        "discharge_pressure",
        "suction_pressure",
        "motor_current",
        "vibration",
        "bearing_temp",
        "motor_temp",
    ],
    "air_compressor": [
        "load",
        "discharge_pressure",
        "airflow",
        "motor_current",
        "oil_temp",
        "discharge_temp",
        "vibration",
    ],
    "cnc_spindle": [
        "spindle_speed",
        "spindle_load",
        "motor_current",
        "vibration",
        "spindle_temp",
        "coolant_temp",
        "coolant_flow",
    ],
}


def plant_dict(
    companies: dict[str, list[tuple[str, str]]], *, faults=(), speed=60.0, poll_interval_s=0.2, **detection
) -> dict:
    """A plant config: {company: [(asset, class), ...]}, one endpoint per company on a free port."""
    out = []
    for company, assets in companies.items():
        nodes = [
            {"node_id": f"nsu=urn:pdm:simulator;s={company}/{a}/{t}", "tag": t, "asset": a}
            for a, cls in assets
            for t in SENSORS[cls]
        ]
        out.append(
            {
                "id": company,
                "sites": [
                    {
                        "id": "site",
                        "assets": [{"id": a, "asset_class": cls} for a, cls in assets],
                        "endpoints": [
                            {
                                "name": "plc",
                                "endpoint_url": f"opc.tcp://127.0.0.1:{free_port()}/pdm/{company}",
                                "poll_interval_s": poll_interval_s,
                                "nodes": nodes,
                            }
                        ],
                    }
                ],
            }
        )
    return {"companies": out, "simulation": {"seed": 7, "speed": speed, "faults": list(faults)}, "detection": detection}


@pytest.fixture
def small_plant() -> PlantConfig:
    """Two companies, three assets, one bearing fault on acme/P-1."""
    return parse_plants(
        plant_dict(
            {"acme": [("P-1", "centrifugal_pump"), ("C-1", "air_compressor")], "beta": [("S-1", "cnc_spindle")]},
            faults=[
                {
                    "company": "acme",
                    "asset": "P-1",
                    "kind": "bearing_wear",
                    "start_min": 40,
                    "end_min": 200,
                    "ramp_min": 10,
                }
            ],
        )
    )


class OpcUaTestServer:
    """A real asyncua server on a free port with ``n`` Double variables spread over objects."""

    NS = "urn:pdm:test"

    def __init__(self, n: int = 20, per_object: int = 100, port: int | None = None):
        self.n, self.per_object = n, per_object
        self.port = port or free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/test"
        self.node_ids = [f"nsu={self.NS};s=v{i}" for i in range(n)]
        self.server = None
        self.variables = []

    async def start(self):
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        # The clock task only refreshes ServerStatus.CurrentTime, which nothing here reads, and it
        # makes every stop() wait up to a second for its next tick.
        server.disable_clock()
        idx = await server.register_namespace(self.NS)
        self.variables = []
        for start in range(0, self.n, self.per_object):
            obj = await server.nodes.objects.add_object(ua.NodeId(f"o{start}", idx), f"o{start}")
            for i in range(start, min(start + self.per_object, self.n)):
                var = await obj.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", float(i))
                self.variables.append(var)
        await server.start()
        self.server = server
        return self

    async def stop(self):
        if self.server is not None:
            await self.server.stop()
            self.server = None


@pytest.fixture
async def opcua_server():
    srv = await OpcUaTestServer().start()
    yield srv
    await srv.stop()
