"""Security against real asyncua servers: policies, trust folders on both sides, identities."""

from __future__ import annotations

import shutil

import pytest

from pdm.config import EndpointConfig
from pdm.connectors import make_connector
from pdm.connectors.opcua import OpcUaConnector
from pdm.connectors.security import Pki, init_client_certificate, thumbprint, trust
from pdm.errors import EndpointRefused

from tests.connectors.conftest import SecureServer, Users

SECURE = {"security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt"}


def _conn(server, tmp_path, **kw) -> OpcUaConnector:
    cfg = EndpointConfig(name="plc", endpoint_url=server.url, **kw)
    return OpcUaConnector(cfg, pki_dir=tmp_path / "pki")


@pytest.fixture
async def secure_server(tmp_path):
    srv = await SecureServer(tmp_path / "server").start()
    yield srv
    await srv.stop()


async def test_unknown_server_certificate_is_refused_with_how_to_trust_it(secure_server, tmp_path):
    conn = _conn(secure_server, tmp_path, **SECURE)
    with pytest.raises(EndpointRefused) as err:
        await conn.connect()
    thumb = thumbprint(secure_server.cert.read_bytes())
    rejected = tmp_path / "pki" / "rejected" / f"{thumb}.der"
    assert rejected.exists()
    assert "not trusted" in str(err.value) and f"pdmctl certs trust {rejected}" in str(err.value)
    assert "trust_server_certificate: true" in str(err.value)
    assert not conn.connected


async def test_trusted_server_certificate_connects_and_reads_encrypted(secure_server, tmp_path):
    pki = Pki(tmp_path / "pki")
    with pytest.raises(EndpointRefused):
        await _conn(secure_server, tmp_path, **SECURE).connect()
    trust(pki.rejected / f"{thumbprint(secure_server.cert.read_bytes())}.der", pki)
    async with _conn(secure_server, tmp_path, **SECURE) as conn:
        readings = await conn.read(secure_server.node_ids)
        assert conn.client.security_policy.Mode.name == "SignAndEncrypt"
    assert [r.value for r in readings] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert pki.own_cert.exists() and pki.own_key.exists()  # made on first use
    assert not list(pki.rejected.iterdir())  # trusting moved it out of rejected/


async def test_trust_server_certificate_flag_accepts_unknown(secure_server, tmp_path):
    async with _conn(secure_server, tmp_path, trust_server_certificate=True, **SECURE) as conn:
        assert len(await conn.read(secure_server.node_ids)) == 5


async def test_pinned_server_certificate(secure_server, tmp_path):
    async with _conn(secure_server, tmp_path, server_certificate=str(secure_server.cert), **SECURE) as conn:
        assert len(await conn.read(secure_server.node_ids)) == 5
    other = tmp_path / "other.der"
    await init_client_certificate(Pki(tmp_path / "otherpki"), "urn:x")
    shutil.copy(tmp_path / "otherpki" / "own" / "cert.der", other)
    with pytest.raises(EndpointRefused, match="not the one pinned"):
        await _conn(secure_server, tmp_path, server_certificate=str(other), **SECURE).connect()


async def test_policy_not_offered_names_what_is(secure_server, tmp_path):
    conn = _conn(secure_server, tmp_path, security_policy="Aes256_Sha256_RsaPss", security_mode="Sign",
                 trust_server_certificate=True)
    with pytest.raises(EndpointRefused, match="Aes256_Sha256_RsaPss with security_mode Sign is not offered; "
                                              "the server offers Basic256Sha256/SignAndEncrypt"):
        await conn.connect()


@pytest.mark.parametrize("policy", ["Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"])
async def test_other_policies_sign_only(tmp_path, policy):
    srv = await SecureServer(tmp_path / "server", policies=(f"{policy.replace('_', '')}_Sign",)).start()
    try:
        async with _conn(srv, tmp_path, security_policy=policy, security_mode="Sign",
                         trust_server_certificate=True) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
    finally:
        await srv.stop()


async def test_server_refuses_our_untrusted_client_certificate_then_accepts_it(tmp_path):
    trusted_clients = tmp_path / "server-trusts"
    trusted_clients.mkdir()
    # asyncua refuses an empty trust store: give it someone else's certificate.
    await init_client_certificate(Pki(tmp_path / "stranger"), "urn:stranger")
    shutil.copy(tmp_path / "stranger" / "own" / "cert.der", trusted_clients / "stranger.der")
    srv = await SecureServer(tmp_path / "server", trusted_clients=trusted_clients).start()
    try:
        conn = _conn(srv, tmp_path, trust_server_certificate=True, **SECURE)
        with pytest.raises(EndpointRefused, match="trust .*cert.der on the server"):
            await conn.connect()
    finally:
        await srv.stop()
    shutil.copy(tmp_path / "pki" / "own" / "cert.der", trusted_clients / "pdm.der")
    srv = await SecureServer(tmp_path / "server", trusted_clients=trusted_clients).start()
    try:
        async with _conn(srv, tmp_path, trust_server_certificate=True, **SECURE) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
    finally:
        await srv.stop()


async def test_username_password_right_and_wrong(tmp_path, monkeypatch):
    srv = await SecureServer(tmp_path / "server", users=Users("op", "s3cret")).start()
    base = dict(auth_method="username", username="op", password_env="PDM_TEST_OPC_PW",
                trust_server_certificate=True, **SECURE)
    try:
        monkeypatch.setenv("PDM_TEST_OPC_PW", "s3cret")
        async with _conn(srv, tmp_path, **base) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
        monkeypatch.setenv("PDM_TEST_OPC_PW", "wrong-pw")
        with pytest.raises(EndpointRefused) as err:
            await _conn(srv, tmp_path, **base).connect()
        assert "credentials refused" in str(err.value) and "$PDM_TEST_OPC_PW" in str(err.value)
        assert "wrong-pw" not in str(err.value)
        monkeypatch.delenv("PDM_TEST_OPC_PW")
        with pytest.raises(EndpointRefused, match="password_env 'PDM_TEST_OPC_PW' is not set"):
            await _conn(srv, tmp_path, **base).connect()
    finally:
        await srv.stop()


async def test_certificate_identity(tmp_path):
    srv = await SecureServer(tmp_path / "server", users=Users("op", "x")).start()
    try:
        async with _conn(srv, tmp_path, auth_method="certificate", trust_server_certificate=True, **SECURE) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
    finally:
        await srv.stop()


async def test_client_certificate_carries_the_application_uri(tmp_path):
    from cryptography import x509

    cert, key, created = await init_client_certificate(Pki(tmp_path), "urn:host:pdm:client")
    assert created and key.stat().st_mode & 0o077 == 0
    san = x509.load_der_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "urn:host:pdm:client" in san.get_values_for_type(x509.UniformResourceIdentifier)
    assert (await init_client_certificate(Pki(tmp_path), "urn:host:pdm:client"))[2] is False  # kept, not remade


def test_make_connector_still_builds_from_config_only():
    conn = make_connector(EndpointConfig(name="p", endpoint_url="opc.tcp://h:4840"))
    assert not conn.connected
