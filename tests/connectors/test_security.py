"""Security against real asyncua servers: policies, trust folders on both sides, identities."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from pdm.config import EndpointConfig
from pdm.connectors import make_connector
from pdm.connectors.opcua import OpcUaConnector
from pdm.connectors.security import Pki, init_client_certificate, thumbprint, trust
from pdm.errors import EndpointRefused
from tests.helpers.servers import CertUsers, InThread, OpcUaTestServer, SecureServer, Users, user_certificate

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
    conn = _conn(
        secure_server,
        tmp_path,
        security_policy="Aes256_Sha256_RsaPss",
        security_mode="Sign",
        trust_server_certificate=True,
    )
    with pytest.raises(
        EndpointRefused,
        match="Aes256_Sha256_RsaPss with security_mode Sign is not offered; "
        "the server offers Basic256Sha256/SignAndEncrypt",
    ):
        await conn.connect()


@pytest.mark.parametrize("policy", ["Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"])
async def test_other_policies_sign_only(tmp_path, policy):
    srv = await SecureServer(tmp_path / "server", policies=(f"{policy.replace('_', '')}_Sign",)).start()
    try:
        async with _conn(
            srv, tmp_path, security_policy=policy, security_mode="Sign", trust_server_certificate=True
        ) as conn:
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
    base = dict(
        auth_method="username", username="op", password_env="PDM_TEST_OPC_PW", trust_server_certificate=True, **SECURE
    )
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

    cert, key, created = await init_client_certificate(Pki(tmp_path / "pki"), "urn:host:pdm:client")
    assert created and key.stat().st_mode & 0o077 == 0
    san = (
        x509.load_der_x509_certificate(cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert "urn:host:pdm:client" in san.get_values_for_type(x509.UniformResourceIdentifier)
    assert (await init_client_certificate(Pki(tmp_path / "pki"), "urn:host:pdm:client"))[2] is False  # kept, not remade


def test_make_connector_still_builds_from_config_only():
    conn = make_connector(EndpointConfig(name="p", endpoint_url="opc.tcp://h:4840"))
    assert not conn.connected


# ---- private keys at rest --------------------------------------------------------------------


async def test_new_private_key_is_encrypted_owner_only_and_opens_with_the_service_key(tmp_path):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from pdm.connectors.security import private_key_password

    pki = Pki(tmp_path / "pki")
    _, key, _ = await init_client_certificate(pki, "urn:host:pdm:client")
    data = key.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") and key.stat().st_mode & 0o077 == 0
    with pytest.raises(TypeError):  # useless without its passphrase
        load_pem_private_key(data, password=None)
    assert load_pem_private_key(data, password=private_key_password(key, var_dir=tmp_path))
    assert (tmp_path / "fernet.key").exists() and b"fernet" not in data


async def test_a_key_in_clear_keeps_working_and_certs_init_encrypts_it(secure_server, tmp_path, capsys, monkeypatch):
    import socket

    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from pdm.connectors.security import default_application_uri
    from tests.helpers.pdmctl import run_pdmctl

    pki = Pki(tmp_path / "pki")
    pki.own_cert.parent.mkdir(parents=True)
    await setup_self_signed_certificate(
        pki.own_key,
        pki.own_cert,
        default_application_uri(),
        socket.gethostname(),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        {},
    )  # as older releases wrote it
    assert pki.own_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    async with _conn(secure_server, tmp_path, trust_server_certificate=True, **SECURE) as conn:
        assert len(await conn.read(secure_server.node_ids)) == 5
    assert pki.own_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # kept as it was
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path))
    code, out, err = await asyncio.to_thread(run_pdmctl, capsys, monkeypatch, "certs", "init", "--encrypt-existing")
    assert code == 0 and "kept" in out and "encrypted" in out, err
    assert pki.own_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    async with _conn(secure_server, tmp_path, trust_server_certificate=True, **SECURE) as conn:
        assert len(await conn.read(secure_server.node_ids)) == 5


async def test_encrypted_key_without_the_service_key_is_a_clear_refusal(secure_server, tmp_path):
    await init_client_certificate(Pki(tmp_path / "pki"), "urn:x")
    (tmp_path / "fernet.key").unlink()
    with pytest.raises(
        EndpointRefused,
        match=r"client_private_key '.*key.pem' is encrypted and no encryption key: "
        r"set PDM_FERNET_KEY or restore .*fernet.key",
    ):
        await _conn(secure_server, tmp_path, trust_server_certificate=True, **SECURE).connect()


# ---- encrypted endpoint passwords ------------------------------------------------------------


async def test_password_encrypted_is_decrypted_at_connect_and_a_wrong_key_names_the_field(
    tmp_path, monkeypatch, caplog
):
    import logging

    from cryptography.fernet import Fernet

    from pdm.access import crypto

    caplog.set_level(logging.DEBUG)  # asyncua logs each request it sends at DEBUG: not this password
    caplog.set_level(logging.DEBUG, logger="asyncua")  # `pdmctl endpoint` quiets it for the process
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    srv = await SecureServer(tmp_path / "server", users=Users("op", "S3cret-at-rest")).start()
    token = crypto.encrypt("S3cret-at-rest", var_dir=tmp_path)
    base = dict(
        auth_method="username", username="op", password_encrypted=token, trust_server_certificate=True, **SECURE
    )
    try:
        async with _conn(srv, tmp_path, **base) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
        wrong = crypto.encrypt("wrong-pw", var_dir=tmp_path)
        with pytest.raises(EndpointRefused) as err:
            await _conn(srv, tmp_path, **{**base, "password_encrypted": wrong}).connect()
        assert "credentials refused" in str(err.value) and "password_encrypted" in str(err.value)
        monkeypatch.setenv(crypto.KEY_ENV, Fernet.generate_key().decode())
        with pytest.raises(EndpointRefused) as err:
            await _conn(srv, tmp_path, **base).connect()
        assert (
            f"{srv.url}: endpoint plc: password_encrypted cannot be decrypted with the key in $PDM_FERNET_KEY"
            in str(err.value)
        )
        assert "S3cret" not in str(err.value) and token not in str(err.value)
        assert "ActivateSessionRequest (identity token not logged)" in caplog.text
        assert "S3cret-at-rest" not in caplog.text and "wrong-pw" not in caplog.text
    finally:
        await srv.stop()


# ---- identities ------------------------------------------------------------------------------


async def test_user_certificate_identity_is_checked_by_the_server(tmp_path):
    from pdm.connectors.security import encrypt_key_file

    cert, key = user_certificate(tmp_path / "user")
    encrypt_key_file(key, var_dir=tmp_path)  # `pdmctl certs encrypt-key`: no user key in clear either
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    srv = await SecureServer(tmp_path / "server", users=CertUsers(cert.read_bytes())).start()
    base = dict(auth_method="certificate", trust_server_certificate=True, **SECURE)
    try:
        async with _conn(srv, tmp_path, user_certificate=str(cert), user_private_key=str(key), **base) as conn:
            assert len(await conn.read(srv.node_ids)) == 5
        with pytest.raises(EndpointRefused, match="BadUserAccessDenied"):  # the application certificate is not op
            await _conn(srv, tmp_path, **base).connect()
    finally:
        await srv.stop()


def test_user_certificate_fields_are_validated():
    from pdm.config import validate_model
    from pdm.errors import ConfigError

    base = {"name": "p", "endpoint_url": "opc.tcp://h:4840", **SECURE}
    with pytest.raises(ConfigError, match="user_private_key = None: .*user_certificate and user_private_key go"):
        validate_model(EndpointConfig, {**base, "auth_method": "certificate", "user_certificate": "u.der"}, "f")
    with pytest.raises(ConfigError, match="only used when auth_method is certificate"):
        validate_model(EndpointConfig, {**base, "user_certificate": "u.der", "user_private_key": "u.pem"}, "f")


class NoAnonymousServer:
    """A plain server that offers only the user-name identity token (anonymous sessions refused)."""

    def __init__(self):
        self.inner = OpcUaTestServer(n=3)
        self.url, self.node_ids = self.inner.url, self.inner.node_ids

    async def __aenter__(self):
        from asyncua import ua

        await self.inner.start()
        self.inner.server.set_identity_tokens([ua.UserNameIdentityToken])
        return self

    async def __aexit__(self, *exc):
        await self.inner.stop()


async def test_server_refusing_anonymous_says_so(tmp_path):
    async with NoAnonymousServer() as srv:
        with pytest.raises(EndpointRefused) as err:
            await _conn(srv, tmp_path).connect()
    assert "anonymous refused" in str(err.value) and "set auth_method to username or certificate" in str(err.value)


async def test_poller_reports_anonymous_refused(tmp_path, sessions):
    from pdm.config import parse_plants
    from pdm.ingest.poller import EndpointPoller
    from pdm.ingest.spool import Spool
    from pdm.storage.catalog import apply_plants
    from pdm.storage.tables import Endpoint as EndpointRow

    async with NoAnonymousServer() as srv:
        ep = {"name": "plc", "endpoint_url": srv.url, "nodes": []}
        with sessions.begin() as s:
            apply_plants(s, parse_plants({"companies": [{"id": "acme", "sites": [{"id": "s", "endpoints": [ep]}]}]}))
            ep_id = s.query(EndpointRow.id).scalar()
        poller = EndpointPoller(
            endpoint_id=ep_id,
            name="acme/plc",
            config=EndpointConfig(**ep),
            tags={},
            sessions=sessions,
            spool=Spool(tmp_path / "spool", max_bytes=1 << 20),
            connector_factory=lambda c: OpcUaConnector(c, pki_dir=tmp_path / "pki"),
        )
        assert await poller.poll_once() == 0
        await poller.close()
    with sessions() as s:
        state, error = s.query(EndpointRow.state, EndpointRow.last_error).one()
    assert state == "DOWN" and "anonymous refused" in error


def test_endpoint_test_command_says_anonymous_refused(tmp_path, capsys, monkeypatch):
    from tests.helpers.pdmctl import run_pdmctl

    class Inner(OpcUaTestServer):
        async def start(self):
            from asyncua import ua

            await super().start()
            self.server.set_identity_tokens([ua.UserNameIdentityToken])
            return self

    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path))
    with InThread(Inner(n=2)) as srv:
        code, out, err = run_pdmctl(capsys, monkeypatch, "endpoint", "test", srv.url)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "anonymous refused: this server does not accept anonymous sessions" in err
