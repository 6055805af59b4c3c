"""Real asyncua servers on free ports for the connector, ingest, CLI and UI tests.

``OpcUaTestServer`` serves plain Double variables; ``LimitedServer`` enforces a read limit as a real PLC does;
``HistorizingServer`` keeps history for some of them (optionally only briefly); ``QuirkServer`` serves values
that are not numbers and clocks that cannot be believed; ``SecureServer`` has its own certificate, chosen
policies, users and client trust; ``Users`` and ``CertUsers`` are its user managers; ``InThread`` runs any of
them on its own loop for synchronous callers (AppTest, the CLI).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

from asyncua import ua
from asyncua.server.history import HistoryDict

from pdm.connectors.quirks import BAD_NO_VALUE, BAD_OUT_OF_RANGE, BAD_TYPE_MISMATCH


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


class HistorizingServer(OpcUaTestServer):
    """``OpcUaTestServer`` whose first ``historized`` variables keep history; ``page`` caps one answer
    (asyncua then hands out a continuation point), as a historian with a response limit does.
    ``keep_s`` (variable index -> seconds) makes a variable's history keep only that long: asyncua
    drops older values (by source time) whenever the variable changes."""

    def __init__(self, n: int = 4, historized: int = 3, page: int = 10_000, keep_s: dict[int, float] | None = None):
        super().__init__(n)
        self.historized, self.page, self.keep_s = historized, page, dict(keep_s or {})
        self.requests: list[int] = []  # nodes per HistoryRead request
        self.saved: dict[int, int] = {}  # variable index -> values the history was handed (kept or not)

    async def start(self):
        await super().start()
        manager = self.server.iserver.history_manager
        storage = HistoryDict(max_history_data_response_size=self.page)
        manager.set_storage(storage)
        index = {v.nodeid: i for i, v in enumerate(self.variables)}
        save = storage.save_node_value

        async def counting_save(node_id, datavalue):
            # Counted here, not from the stored list: a short history may drop a value as soon as it comes.
            self.saved[index[node_id]] = self.saved.get(index[node_id], 0) + 1
            await save(node_id, datavalue)

        storage.save_node_value = counting_save
        for i, var in enumerate(self.variables[: self.historized]):
            period = timedelta(seconds=self.keep_s[i]) if i in self.keep_s else timedelta(days=7)
            await self.server.historize_node_data_change(var, period=period, count=100_000)
        original = manager.read_history

        async def counting(params):
            self.requests.append(len(params.NodesToRead))
            return await original(params)

        manager.read_history = counting
        # The history starts with each variable's value at the time it was historized (stamped now).
        for _ in range(500):
            if all(self.saved.get(i) == 1 for i in range(self.historized)):
                break
            await asyncio.sleep(0.01)
        return self

    def stored(self, i: int) -> int:
        return len(self.server.iserver.history_manager.storage._datachanges.get(self.variables[i].nodeid, []))

    async def write(self, i: int, points: list[tuple[float, object]]) -> None:
        """Write ``(ts, value)`` pairs to variable ``i``; for a historized one, wait until history was handed them."""
        before = self.saved.get(i, 0)
        for ts, value in points:
            stamp = datetime.fromtimestamp(ts, tz=UTC)
            await self.server.write_attribute_value(
                self.variables[i].nodeid,
                ua.DataValue(ua.Variant(value), SourceTimestamp=stamp, ServerTimestamp=stamp),
            )
        if i < self.historized:
            for _ in range(500):
                if self.saved.get(i, 0) >= before + len(points):
                    break
                await asyncio.sleep(0.01)
            assert self.saved.get(i, 0) == before + len(points)

    async def store(self, i: int, points: list[tuple[float, object]]) -> None:
        """Put values straight into variable ``i``'s history, whatever their type (the address space would refuse)."""
        storage = self.server.iserver.history_manager.storage
        for ts, value in points:
            stamp = datetime.fromtimestamp(ts, tz=UTC)
            dv = ua.DataValue(ua.Variant(value), SourceTimestamp=stamp, ServerTimestamp=stamp)
            await storage.save_node_value(self.variables[i].nodeid, dv)


_GOOD = 0
_BROKEN = ua.StatusCodes.BadSensorFailure  # QuirkServer's node "broken": the server's own Bad


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class QuirkServer:
    """An asyncua server on a free port serving the values of ``VALUES`` and the clocks of ``CLOCKS``.

    Every DataValue is written whole, both timestamps included (the server is told not to restamp
    them), and a read answers only the timestamps it asked for, as the specification says (asyncua's
    server sends both whatever is asked: a client that never asks for the server's would pass).
    """

    NS = "urn:pdm:quirks"
    VALUES = {  # node -> what it serves, and what is stored: (value, quality)
        "number": (ua.Variant(21.5, ua.VariantType.Double), (21.5, _GOOD)),
        "flag": (ua.Variant(True, ua.VariantType.Boolean), (1.0, _GOOD)),
        "nan": (ua.Variant(math.nan, ua.VariantType.Double), (None, BAD_OUT_OF_RANGE)),
        "pinf": (ua.Variant(math.inf, ua.VariantType.Double), (None, BAD_OUT_OF_RANGE)),
        "ninf": (ua.Variant(-math.inf, ua.VariantType.Float), (None, BAD_OUT_OF_RANGE)),
        "text": (ua.Variant("ERR 42", ua.VariantType.String), (None, BAD_TYPE_MISMATCH)),
        "array": (ua.Variant([1.0, 2.0, 3.0], ua.VariantType.Double), (None, BAD_TYPE_MISMATCH)),
        "date": (ua.Variant(datetime(2026, 1, 1, tzinfo=UTC), ua.VariantType.DateTime), (None, BAD_TYPE_MISMATCH)),
        "bytes": (ua.Variant(b"\x01\x02", ua.VariantType.ByteString), (None, BAD_TYPE_MISMATCH)),
        "null": (ua.Variant(None, ua.VariantType.Null), (None, BAD_NO_VALUE)),
        "broken": (ua.Variant(None, ua.VariantType.Null), (None, _BROKEN)),  # the server's own Bad, kept
    }
    CLOCKS = ("epoch0", "ahead", "constant", "server_past", "sim_clock")

    def __init__(self):
        self.url = f"opc.tcp://127.0.0.1:{free_port()}/quirks"
        self.now = float(math.floor(time.time()))  # whole seconds, exact through OPC UA DateTime; never ahead
        self.vars: dict[str, object] = {}
        self.server = None

    def node_id(self, name: str) -> str:
        return f"nsu={self.NS};s={name}"

    async def write(self, name, variant, *, source, server, status=_GOOD):
        dv = ua.DataValue(
            variant,
            StatusCode=ua.StatusCode(status),
            SourceTimestamp=None if source is None else _stamp(source),
            ServerTimestamp=None if server is None else _stamp(server),
        )
        await self.server.iserver.aspace.write_attribute_value(self.vars[name].nodeid, ua.AttributeIds.Value, dv)

    async def start(self):
        from asyncua import Server

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.disable_clock()
        idx = await server.register_namespace(self.NS)
        obj = await server.nodes.objects.add_object(ua.NodeId("quirks", idx), "quirks")
        for name in [*self.VALUES, *self.CLOCKS]:  # each of its own data type, as a device's would be
            initial = self.VALUES[name][0] if name in self.VALUES and name != "broken" else 0.0
            self.vars[name] = await obj.add_variable(ua.NodeId(name, idx), name, initial)
        self.server = server
        for name, (variant, _) in self.VALUES.items():
            status = _BROKEN if name == "broken" else _GOOD
            await self.write(name, variant, source=self.now - 10, server=self.now - 9, status=status)
        double = ua.VariantType.Double
        await self.write("epoch0", ua.Variant(1.0, double), source=0.0, server=self.now - 8)
        await self.write("ahead", ua.Variant(2.0, double), source=self.now + 86_400, server=self.now - 7)
        await self.write("constant", ua.Variant(3.0, double), source=self.now - 100, server=self.now - 6)
        await self.write("server_past", ua.Variant(4.0, double), source=self.now - 1, server=self.now - 3600)
        # As the simulated plant stamps its values: both times on its own clock, an hour ahead.
        await self.write("sim_clock", ua.Variant(5.0, double), source=self.now + 3600, server=self.now + 3600)
        service = server.iserver.attribute_service
        original = service.read

        def read(params: ua.ReadParameters):
            asked = params.TimestampsToReturn
            keep_source = asked in (ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Both)
            keep_server = asked in (ua.TimestampsToReturn.Server, ua.TimestampsToReturn.Both)
            return [
                dataclasses.replace(
                    dv,
                    SourceTimestamp=dv.SourceTimestamp if keep_source else None,
                    ServerTimestamp=dv.ServerTimestamp if keep_server else None,
                )
                for dv in original(params)
            ]

        service.read = read
        await server.start()
        return self

    async def stop(self):
        if self.server is not None:
            await self.server.stop()
            self.server = None


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
