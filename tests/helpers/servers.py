"""Real asyncua servers on free ports for the connector, ingest, CLI and UI tests.

``OpcUaTestServer`` serves plain Double variables; ``LimitedServer`` enforces a read limit as a real PLC does;
``SecureServer`` has its own certificate, chosen policies, users and client trust; ``Users`` and ``CertUsers`` are
its user managers; ``InThread`` runs any of them on its own loop for synchronous callers (AppTest, the CLI).
"""

from __future__ import annotations

import asyncio
import socket
import threading

from asyncua import ua


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class CertUsers:
    """Accepts exactly one X.509 user certificate (as a server with a user certificate list does)."""

    def __init__(self, der: bytes):
        self.der = der

    def get_user(self, iserver, username=None, password=None, certificate=None):
        from asyncua.crypto import uacrypto
        from asyncua.crypto.permission_rules import User, UserRole

        # asyncua passes the X.509 token's certificate, or the channel's DER bytes for other tokens.
        der = certificate if isinstance(certificate, bytes) else uacrypto.der_from_x509(certificate)
        if der == self.der:
            return User(role=UserRole.User, name="op")
        return None


def user_certificate(folder) -> tuple:
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        "urn:pdm:user:op",
        {"commonName": "op"},
        [x509.UniformResourceIdentifier("urn:pdm:user:op")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    (folder / "user.der").write_bytes(cert.public_bytes(Encoding.DER))
    (folder / "user.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return folder / "user.der", folder / "user.pem"


class InThread:
    """Runs an OPC UA test server on its own loop in a daemon thread."""

    def __init__(self, server):
        self.server = server
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def __enter__(self):
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(60)
        return self.server

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
