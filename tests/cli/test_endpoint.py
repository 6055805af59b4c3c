"""`pdmctl endpoint` and `pdmctl certs` as a user runs them, against real asyncua servers.

The CLI runs in a child process so the test's event loop keeps serving OPC UA meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import sys

from pdm.connectors.security import Pki, thumbprint
from pdm.storage.session import make_engine, session_factory
from tests.helpers.servers import LimitedServer, OpcUaTestServer, SecureServer, Users, free_port

SECURE = ["--policy", "Basic256Sha256", "--mode", "SignAndEncrypt"]


async def pdmctl(tmp_path, *args, env=None) -> tuple[int, str, str]:
    environ = {**os.environ, "PDM_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "200", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pdm.cli",
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_test_shows_identity_limits_and_reads(tmp_path):
    srv = await LimitedServer(12, max_nodes_per_read=10).start()
    try:
        code, out, err = await pdmctl(
            tmp_path, "endpoint", "test", srv.url, "--node", srv.node_ids[3], "--node", "nsu=urn:pdm:test;s=missing"
        )
    finally:
        await srv.stop()
    assert "connected to" in out and "MaxNodesPerRead=10" in out and "split by 10" in out
    assert "urn:pdm:test" in out and "ProductName" in out
    assert f"{srv.node_ids[3]} = 3.0 (Good)" in out and "BadNodeIdUnknown" in out
    assert code == 1 and "Traceback" not in err  # a bad node is worth a non-zero exit


async def test_unreachable_says_so_in_one_line(tmp_path):
    code, out, err = await pdmctl(
        tmp_path, "endpoint", "test", f"opc.tcp://127.0.0.1:{free_port()}/x", "--timeout", "2"
    )
    assert code == 1 and err.startswith("error: ") and "unreachable" in err and len(err.strip().splitlines()) == 1


async def test_bad_option_names_the_field(tmp_path):
    code, _, err = await pdmctl(tmp_path, "endpoint", "test", "http://nope", "--timeout", "2")
    assert code == 2 and "endpoint_url = 'http://nope'" in err
    code, _, err = await pdmctl(
        tmp_path, "endpoint", "test", "opc.tcp://h:4840", "--policy", "Basic256Sha256", "--mode", "None"
    )
    assert code == 2 and "security_mode = 'None'" in err


async def test_untrusted_server_then_trusted_with_certs_trust(tmp_path):
    srv = await SecureServer(tmp_path / "server").start()
    try:
        code, out, err = await pdmctl(tmp_path, "endpoint", "test", srv.url, *SECURE)
        assert code == 1 and "is not trusted" in err and "pdmctl certs trust" in err
        rejected = Pki(tmp_path / "var" / "pki").rejected / f"{thumbprint(srv.cert.read_bytes())}.der"
        code, out, _ = await pdmctl(tmp_path, "certs", "trust", str(rejected))
        assert code == 0 and "trusted" in out
        code, out, err = await pdmctl(tmp_path, "endpoint", "test", srv.url, *SECURE, "--node", srv.node_ids[1])
        assert code == 0, err
        assert "Basic256Sha256/SignAndEncrypt" in out and "= 1.0 (Good)" in out
    finally:
        await srv.stop()


async def test_policy_not_offered_and_bad_credentials(tmp_path):
    srv = await SecureServer(tmp_path / "server", users=Users("op", "right")).start()
    try:
        code, _, err = await pdmctl(
            tmp_path, "endpoint", "test", srv.url, "--policy", "Aes256_Sha256_RsaPss", "--trust-server-certificate"
        )
        assert code == 1 and "is not offered; the server offers Basic256Sha256/SignAndEncrypt" in err
        args = [
            "endpoint",
            "test",
            srv.url,
            *SECURE,
            "--trust-server-certificate",
            "--auth",
            "username",
            "--username",
            "op",
            "--password-env",
            "OPC_PW",
        ]
        code, _, err = await pdmctl(tmp_path, *args, env={"OPC_PW": "wrong-secret"})
        assert code == 1 and "credentials refused" in err and "wrong-secret" not in err
        code, out, err = await pdmctl(tmp_path, *args, env={"OPC_PW": "right"})
        assert code == 0, err
    finally:
        await srv.stop()


async def test_server_refuses_our_certificate(tmp_path):
    trusted = tmp_path / "server-trusts"
    trusted.mkdir()
    code, out, _ = await pdmctl(tmp_path, "certs", "init", "--application-uri", "urn:test:pdm")
    assert code == 0 and "created" in out
    (trusted / "unrelated.der").write_bytes((tmp_path / "var" / "pki" / "own" / "cert.der").read_bytes())
    (tmp_path / "var" / "pki" / "own" / "cert.der").unlink()  # a new pair the server has never seen
    srv = await SecureServer(tmp_path / "server", trusted_clients=trusted).start()
    try:
        code, _, err = await pdmctl(tmp_path, "endpoint", "test", srv.url, *SECURE, "--trust-server-certificate")
    finally:
        await srv.stop()
    assert code == 1 and "on the server" in err and "cert.der" in err


async def test_browse_is_bounded_and_prints_portable_ids(tmp_path):
    srv = await OpcUaTestServer(n=30, per_object=10).start()
    try:
        code, out, err = await pdmctl(tmp_path, "endpoint", "browse", srv.url, "--depth", "2")
        assert code == 0, err
        assert "o10 [Object] nsu=urn:pdm:test;s=o10" in out
        assert "  v12 [Variable] nsu=urn:pdm:test;s=v12 Double = 12.0" in out
        code, out, _ = await pdmctl(tmp_path, "endpoint", "browse", srv.url, "--depth", "3", "--max-nodes", "5")
        assert code == 0 and "stopped after 5 nodes" in out and len(out.strip().splitlines()) == 6
    finally:
        await srv.stop()


async def test_status_shows_the_health_the_reading_worker_stored(tmp_path):
    """Health comes from the database, so it reads the same on any host; no worker: nothing per second."""
    import time

    from pdm.config import parse_plants
    from pdm.ingest import leases
    from pdm.ingest.health import save_health
    from pdm.storage.catalog import apply_plants
    from pdm.storage.session import upgrade

    url = f"sqlite:///{tmp_path / 'pdm.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(
            s,
            parse_plants(
                {
                    "companies": [
                        {
                            "id": "acme",
                            "sites": [
                                {
                                    "id": "s",
                                    "endpoints": [
                                        {"name": "plc", "endpoint_url": "opc.tcp://127.0.0.1:4840/x"},
                                        {"name": "idle", "endpoint_url": "opc.tcp://127.0.0.1:4841/x"},
                                    ],
                                }
                            ],
                        }
                    ]
                }
            ),
        )
        leases.acquire(s, endpoint_id=1, worker_id="hostb-42-abc", ttl=60)
        save_health(
            s,
            [
                {
                    "endpoint_id": 1,
                    "company_id": 1,
                    "worker_id": "hostb-42-abc",
                    "updated_at": time.time(),
                    "readings_per_s": 12.5,
                    "errors_last_hour": 2,
                    "last_error": "node x: BadNodeIdUnknown",
                    "spool_rows": 7,
                }
            ],
        )
    engine.dispose()
    code, out, err = await pdmctl(
        tmp_path, "--local-admin", "endpoint", "status", "--company", "acme", "--database", url
    )
    assert code == 0, err
    line = next(row for row in out.splitlines() if "plc" in row)
    assert "NEW" in line and "never" in line and " 12.5 " in line and " 2 " in line and " 7 " in line
    assert "hostb-42-abc" in line and "BadNodeIdUnknown" in line
    idle = next(row for row in out.splitlines() if "idle" in row)
    assert " none " in idle and " 0 " in idle
