"""Servers that behave like real PLCs: read limits enforced, nodes that disappear."""

from __future__ import annotations

import pytest
from asyncua import ua

from tests.conftest import OpcUaTestServer


class LimitedServer(OpcUaTestServer):
    """Advertises MaxNodesPerRead and refuses bigger reads, as an S7-1500 or KEPServer does.

    asyncua's server advertises 10,000 and serves any size, so without the refusal a
    connector that ignored the limit would still pass.
    """

    def __init__(self, n: int, max_nodes_per_read: int, **kw):
        super().__init__(n, **kw)
        self.limit = max_nodes_per_read
        self.batches: list[int] = []

    async def start(self):
        await super().start()
        limit_node = self.server.get_node(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead)
        await limit_node.write_value(ua.Variant(self.limit, ua.VariantType.UInt32))
        service = self.server.iserver.attribute_service
        original = service.read

        def read(params: ua.ReadParameters):
            size = len(params.NodesToRead)
            self.batches.append(size)
            if size > self.limit:
                raise ua.UaStatusCodeError(ua.StatusCodes.BadTooManyOperations)
            return original(params)

        service.read = read
        return self


@pytest.fixture
async def limited_server():
    srv = await LimitedServer(95, max_nodes_per_read=10, per_object=50).start()
    yield srv
    await srv.stop()


class Users:
    """A user manager with one account (and any certificate identity)."""

    def __init__(self, username: str, password: str, by_cert: bool = True):
        self.username, self.password, self.by_cert = username, password, by_cert

    def get_user(self, iserver, username=None, password=None, certificate=None):
        from asyncua.crypto.permission_rules import User, UserRole

        if username is not None:
            return (
                User(role=UserRole.User, name=username)
                if (username, password) == (self.username, self.password)
                else None
            )
        # asyncua passes the channel's certificate for anonymous sessions too: refuse those.
        return User(role=UserRole.User, name="cert") if certificate is not None and self.by_cert else None


class SecureServer(OpcUaTestServer):
    """An asyncua server with its own certificate, chosen policies, optional users and client trust.

    ``trusted_clients``: a folder of client certificates the server accepts (TrustStore); when
    None, asyncua's default applies: any client certificate is accepted.
    """

    def __init__(
        self,
        pki_dir,
        *,
        policies=("Basic256Sha256_SignAndEncrypt",),
        users: Users | None = None,
        trusted_clients=None,
        n: int = 5,
    ):
        super().__init__(n)
        self.pki_dir = pki_dir
        self.policies, self.users, self.trusted_clients = policies, users, trusted_clients
        self.cert = pki_dir / "server-cert.der"
        self.key = pki_dir / "server-key.pem"

    async def start(self):
        import socket

        from asyncua import Server
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from asyncua.crypto.truststore import TrustStore
        from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
        from cryptography.x509.oid import ExtendedKeyUsageOID

        self.pki_dir.mkdir(parents=True, exist_ok=True)
        uri = "urn:pdm:test-server"
        await setup_self_signed_certificate(
            self.key,
            self.cert,
            uri,
            socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            {},
        )
        server = Server(user_manager=self.users)
        await server.init()
        await server.set_application_uri(uri)
        server.set_endpoint(self.url)
        server.set_security_policy([getattr(ua.SecurityPolicyType, p) for p in self.policies])
        server.disable_clock()  # as in OpcUaTestServer: stop() then returns at once
        await server.load_certificate(str(self.cert))
        await server.load_private_key(str(self.key))
        if self.trusted_clients is not None:
            store = TrustStore([self.trusted_clients], [])
            await store.load()
            server.set_certificate_validator(
                CertificateValidator(
                    CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT, store
                )
            )
        idx = await server.register_namespace(self.NS)
        obj = await server.nodes.objects.add_object(ua.NodeId("o0", idx), "o0")
        self.variables = [await obj.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", float(i)) for i in range(self.n)]
        await server.start()
        self.server = server
        return self
