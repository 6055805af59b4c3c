"""OPC UA connector (asyncua): batched reads that keep status codes and timestamps.

Security: the policy and mode are looked up among the endpoints the server offers, the
server's certificate must be in our trust folder (``pdm.connectors.security``), and the
identity is anonymous, a user name with a password read from the environment variable
``password_env`` names or decrypted from ``password_encrypted`` only here, at connect time,
or an X.509 certificate (a user certificate, else our application certificate).

Reconnection is left to ``pdm.ingest.poller`` (bounded backoff, logged once down / once up):
asyncua's own auto-reconnect blocks every request while it retries, which would stall a
poll job, so it stays off here.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from asyncua import Client, ua

from pdm.access import crypto
from pdm.config import EndpointConfig
from pdm.connectors import history, quirks, security
from pdm.connectors.asyncua_logs import quiet_lost_connection_tracebacks
from pdm.connectors.base import ConnectorBase, Reading
from pdm.errors import EndpointRefused, EndpointUnavailable

MAX_NODES_PER_READ_NODE = ua.NodeId(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead)
DEFAULT_MAX_NODES_PER_READ = 100  # what many PLC servers allow when they do not say
UNLIMITED_CHUNK = 5000  # the server said 0 (no limit): still bound one request's size

_REFUSED = (ua.UaStatusCodeError,)
# What a person should check, by the status code the server refused the session with.
_REFUSAL_HINTS = {
    "BadUserAccessDenied": "credentials refused: check username and the password in ${password_env}",
    "BadIdentityTokenInvalid": "credentials refused: check username and the password in ${password_env}",
    "BadIdentityTokenRejected": "this identity (auth_method) is not accepted by the server",
    "BadCertificateUntrusted": "the server does not trust our client certificate: trust {cert} on the server",
    "BadSecurityChecksFailed": "the server refused our client certificate or security settings: "
    "trust {cert} on the server",
    "BadCertificateUriInvalid": "our certificate's application URI does not match application_uri",
}

# The session's identity was refused: with auth_method anonymous, that means anonymous is not allowed.
_IDENTITY_REFUSED = {"BadIdentityTokenRejected", "BadIdentityTokenInvalid", "BadUserAccessDenied"}


def _epoch(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def resolve_node_id(node_id: str, namespaces: list[str]) -> ua.NodeId:
    """Turn ``nsu=<uri>;s=...`` into the server's current namespace index.

    Namespace indexes can change when a server is reconfigured; URIs do not, which is
    why configs should prefer ``nsu=``.
    """
    if node_id.startswith("nsu="):
        uri, _, rest = node_id[4:].partition(";")
        try:
            idx = namespaces.index(uri)
        except ValueError:
            raise EndpointRefused(f"namespace {uri!r} of node {node_id!r} is not on this server") from None
        node_id = f"ns={idx};{rest}"
    try:
        return ua.NodeId.from_string(node_id)
    except Exception as exc:  # asyncua raises several types for malformed ids
        raise ValueError(f"node_id {node_id!r} is not a valid OPC UA node id: {exc}") from None


class OpcUaConnector(ConnectorBase):
    def __init__(self, endpoint: EndpointConfig, *, pki_dir: Path | None = None):
        security.hide_identity_tokens_in_logs()
        quiet_lost_connection_tracebacks()
        self.endpoint = endpoint
        self.pki = security.Pki(Path(pki_dir) if pki_dir else security.default_pki_dir())
        self._client: Client | None = None
        self._namespaces: list[str] = []
        self._resolved: dict[str, ua.NodeId] = {}
        self.max_nodes_per_read: int = endpoint.max_nodes_per_read or DEFAULT_MAX_NODES_PER_READ
        # Kept across reconnects: a quirk is said once per connector, and a stuck clock stays known.
        self._notes = quirks.Notes()
        self._times = quirks.TimestampPolicy(
            endpoint.timestamp_source,
            max_future_s=endpoint.timestamp_max_future_s,
            fallback=endpoint.timestamp_fallback,
            notes=self._notes,
        )

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: not connected")
        return self._client

    def _cert_paths(self) -> tuple[Path, Path]:
        ep = self.endpoint
        return (Path(ep.client_certificate or self.pki.own_cert), Path(ep.client_private_key or self.pki.own_key))

    async def _make_client(self) -> Client:
        ep = self.endpoint
        # asyncua probes the server every watchdog_intervall and, by default, gives up after 1 s:
        # a busy server (or a loaded worker) then looks lost and every endpoint flaps down and up.
        # Probing at the request timeout holds it to the same patience as our reads.
        client = Client(ep.endpoint_url, timeout=ep.request_timeout_s, watchdog_intervall=ep.request_timeout_s)
        client.name = client.description = "PdM cluster connector"
        client.application_uri = ep.application_uri or security.default_application_uri()
        if ep.auth_method == "username":
            client.set_user(ep.username or "")
            client.set_password(self._password())
        if ep.security_policy != "None":
            await self._secure(client)
        return client

    def _password(self) -> str:
        ep = self.endpoint
        if ep.password_encrypted:
            try:
                return crypto.decrypt(
                    ep.password_encrypted, var_dir=self.pki.var_dir, where=f"endpoint {ep.name}: password_encrypted"
                )
            except crypto.SecretError as exc:
                raise EndpointRefused(f"{ep.endpoint_url}: {exc}") from None
        password = os.environ.get(ep.password_env or "")
        if password is None:
            raise EndpointRefused(
                f"{ep.endpoint_url}: password_env {ep.password_env!r} is not set in the environment of this process"
            )
        return password

    async def _secure(self, client: Client) -> None:
        ep = self.endpoint
        policy = security.policy_class(ep.security_policy)
        mode = getattr(ua.MessageSecurityMode, ep.security_mode)
        offered = await asyncio.wait_for(client.connect_and_get_server_endpoints(), ep.connect_timeout_s)
        match = [e for e in offered if e.SecurityPolicyUri == policy.URI and e.SecurityMode == mode]
        if not match:
            names = sorted({f"{security.policy_name(e.SecurityPolicyUri)}/{e.SecurityMode.name}" for e in offered})
            raise EndpointRefused(
                f"{ep.endpoint_url}: security_policy {ep.security_policy} with security_mode "
                f"{ep.security_mode} is not offered; the server offers {', '.join(names)}"
            )
        der = _first_certificate(match[0].ServerCertificate)
        security.check_server_certificate(
            der,
            pki=self.pki,
            url=ep.endpoint_url,
            accept_unknown=ep.trust_server_certificate,
            pinned=ep.server_certificate,
        )
        cert, key = self._cert_paths()
        if not ep.client_certificate:
            await security.init_client_certificate(self.pki, client.application_uri)
        elif not cert.exists() or not key.exists():
            raise EndpointRefused(f"client_certificate {str(cert)!r} or client_private_key {str(key)!r} not found")
        password = security.private_key_password(key, var_dir=self.pki.var_dir)
        await client.set_security(
            policy, str(cert), str(key), private_key_password=password, server_certificate=der, mode=mode
        )
        if ep.auth_method == "certificate":
            await self._identity(client, cert, key, password)

    async def _identity(self, client: Client, cert: Path, key: Path, password: bytes | None) -> None:
        ep = self.endpoint
        if ep.user_certificate:
            cert, key = Path(ep.user_certificate), Path(ep.user_private_key or "")
            if not cert.exists():
                raise EndpointRefused(f"{ep.endpoint_url}: user_certificate {str(cert)!r} not found")
            password = security.private_key_password(key, var_dir=self.pki.var_dir, field="user_private_key")
        await client.load_client_certificate(str(cert))
        await client.load_private_key(key, password)

    async def connect(self) -> None:
        url = self.endpoint.endpoint_url
        client = None
        try:
            client = await self._make_client()
            await asyncio.wait_for(client.connect(), timeout=self.endpoint.connect_timeout_s)
            self._namespaces = await client.get_namespace_array()
            self.max_nodes_per_read = await self._read_limit(client)
        except EndpointRefused:
            await self._drop(client)
            raise
        except _REFUSED as exc:
            await self._drop(client)
            raise EndpointRefused(f"{url}: {self._refusal(exc)}") from None
        except (TimeoutError, OSError, ConnectionError) as exc:
            await self._drop(client)
            raise EndpointUnavailable(f"{url}: unreachable ({type(exc).__name__}: {exc})") from None
        except ua.UaError as exc:  # e.g. the server closed the channel during the handshake
            await self._drop(client)
            raise EndpointRefused(f"{url}: {type(exc).__name__}: {exc}") from None
        self._client = client
        self._resolved = {}

    def _refusal(self, exc: ua.UaStatusCodeError) -> str:
        name = type(exc).__name__
        if self.endpoint.auth_method == "anonymous" and name in _IDENTITY_REFUSED:
            return (
                f"{name}: anonymous refused: this server does not accept anonymous sessions; "
                "set auth_method to username or certificate"
            )
        hint = _REFUSAL_HINTS.get(name)
        if hint is None:
            return f"{name}: {exc}"
        where = "password_encrypted" if self.endpoint.password_encrypted else f"${self.endpoint.password_env}"
        return f"{name}: " + hint.replace("{cert}", str(self._cert_paths()[0])).replace("${password_env}", where)

    async def _read_limit(self, client: Client) -> int:
        if self.endpoint.max_nodes_per_read:
            return self.endpoint.max_nodes_per_read
        try:
            limit = await client.get_node(MAX_NODES_PER_READ_NODE).read_value()
        except Exception:  # servers without OperationLimits answer BadNodeIdUnknown
            return DEFAULT_MAX_NODES_PER_READ
        return int(limit) if limit else UNLIMITED_CHUNK

    async def _drop(self, client: Client | None) -> None:
        if client is None:
            return
        try:
            await asyncio.wait_for(client.disconnect(), timeout=2)
        except Exception:  # the session is already gone; what is left is the socket below
            pass
        finally:
            # A disconnect that timed out leaves the TCP connection open, and an asyncua server
            # then waits for it forever when it stops: always close our end.
            client.disconnect_socket()

    async def probe(self) -> dict:
        """Test-before-save (pdm.connectors.browse.check_endpoint)."""
        from pdm.connectors.browse import probe_opcua

        return await probe_opcua(self)

    async def browse(self, *, depth: int = 3, max_nodes: int = 2000):
        from pdm.connectors.browse import browse

        return await browse(self.client, depth=depth, max_nodes=max_nodes)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)

    def _node(self, node_id: str) -> ua.NodeId:
        nid = self._resolved.get(node_id)
        if nid is None:
            nid = self._resolved[node_id] = resolve_node_id(node_id, self._namespaces)
        return nid

    async def read(self, node_ids: Sequence[str]) -> list[Reading]:
        """Read every node once; a node the server refuses comes back with its Bad status."""
        if self._client is None:
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: not connected")
        out: list[Reading] = []
        step = self.max_nodes_per_read
        for start in range(0, len(node_ids), step):
            chunk = node_ids[start : start + step]
            # Both timestamps: read_attributes asks for the source one only (ReadParameters' default),
            # and the server one is what timestamp_source server, and a source clock gone wrong, fall back on.
            params = ua.ReadParameters(
                TimestampsToReturn=ua.TimestampsToReturn.Both,
                NodesToRead=[
                    ua.ReadValueId(NodeId=self._node_or_fake(n), AttributeId=ua.AttributeIds.Value) for n in chunk
                ],
            )
            try:
                values = await self._client.uaclient.read(params)
            except (TimeoutError, OSError, ConnectionError, ua.UaError) as exc:
                await self.close()
                raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: {type(exc).__name__}: {exc}") from None
            received = time.time()
            out.extend(self._to_reading(n, dv, received) for n, dv in zip(chunk, values))
        return out

    def _node_or_fake(self, node_id: str) -> ua.NodeId:
        # A node id we cannot resolve is read as an id the server will refuse, so that it
        # comes back Bad in its place instead of failing the whole batch.
        try:
            return self._node(node_id)
        except (ValueError, EndpointRefused):
            return ua.NodeId("pdm-unresolved", 0, ua.NodeIdType.String)

    def _to_reading(self, node_id: str, dv: ua.DataValue, received: float) -> Reading:
        """One value as stored: a non-number gets a Bad status with its reason, and a clock that
        cannot be believed is replaced per the endpoint's policy (``pdm.connectors.quirks``)."""
        status = int(dv.StatusCode.value) if dv.StatusCode is not None else 0
        raw = dv.Value.Value if dv.Value is not None else None
        value, quality = quirks.value_and_status(self._notes, node_id, raw, status)
        ts = self._times.choose(
            node_id,
            value,
            source_ts=_epoch(dv.SourceTimestamp),
            server_ts=_epoch(dv.ServerTimestamp),
            received=received,
        )
        return Reading(node_id=node_id, value=value, quality=quality, ts=ts, received_at=received)

    def take_notes(self) -> list[str]:
        """Quirks seen since the last call, each once per node and kind (empty when all is well).

        ``"node <node_id>: <what came>; <what was stored instead>"``, e.g.
        ``node ns=2;s=T1: a string where a number is mapped; stored as BadTypeMismatch`` or
        ``node ns=2;s=T1: source timestamp 1970-01-01 00:00:00 UTC is impossible (before 2000-01-01);
        using the server time``. The poller calls it after each read, logs each one and counts them.
        """
        return self._notes.take()

    async def _history_chunk(self) -> int:
        """Nodes per HistoryRead: the server's MaxNodesPerHistoryReadData when it says, and never more than a read."""
        limit = getattr(self, "_history_nodes", None)
        if limit is None:
            try:
                said = await self.client.get_node(history.MAX_NODES_PER_HISTORY_READ_NODE).read_value()
            except (TimeoutError, OSError, ConnectionError):
                raise
            except ua.UaError:  # no OperationLimits, or no such limit: the read limit applies
                said = 0
            limit = min(int(said), self.max_nodes_per_read) if said else self.max_nodes_per_read
            self._history_nodes: int | None = limit
        return limit

    async def historizing(self, node_ids: Sequence[str]) -> dict[str, bool]:
        """Per node id: may this session read its history (``pdm.connectors.history.historizing``)?"""
        client = self.client
        try:
            nodes = {n: self._node_or_fake(n) for n in node_ids}
            return await history.historizing(client, nodes, chunk=await self._history_chunk())
        except (TimeoutError, OSError, ConnectionError, ua.UaError) as exc:
            await self.close()
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: {type(exc).__name__}: {exc}") from None

    async def read_history(
        self, since: dict[str, float], until: float, *, max_values: int = history.DEFAULT_MAX_VALUES
    ) -> history.HistoryResult:
        """Raw history of each node id in ``since`` over ``(since[node], until]`` (``pdm.connectors.history.read_raw``).

        A node without history, or refused, is in the result's ``failed`` with the reason; a lost
        connection raises EndpointUnavailable, as ``read`` does.
        """
        client = self.client
        try:
            nodes = {n: self._node_or_fake(n) for n in since}
            return await history.read_raw(
                client, nodes, since, until, max_values=max_values, chunk=await self._history_chunk()
            )
        except (TimeoutError, OSError, ConnectionError, ua.UaError) as exc:
            await self.close()
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: {type(exc).__name__}: {exc}") from None


def _first_certificate(chain: bytes) -> bytes:
    """A server may send its chain; the first DER element is its own certificate."""
    if len(chain) > 4 and chain[0] == 0x30 and chain[1] == 0x82:
        return chain[: 4 + int.from_bytes(chain[2:4], "big")]
    return chain
