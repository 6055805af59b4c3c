"""OPC UA connector (asyncua): batched reads that keep status codes and timestamps.

Reconnection is left to ``pdm.ingest`` (bounded backoff, logged once down / once up):
asyncua's own auto-reconnect blocks every request while it retries, which would stall a
poll job, so it stays off here.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import datetime

from asyncua import Client, ua

from pdm.config import EndpointConfig
from pdm.connectors.base import ConnectorBase, Reading
from pdm.errors import EndpointRefused, EndpointUnavailable

MAX_NODES_PER_READ_NODE = ua.NodeId(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead)
DEFAULT_MAX_NODES_PER_READ = 100  # what many PLC servers allow when they do not say
UNLIMITED_CHUNK = 5000  # the server said 0 (no limit): still bound one request's size

_REFUSED = (ua.UaStatusCodeError,)


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
    def __init__(self, endpoint: EndpointConfig):
        self.endpoint = endpoint
        self._client: Client | None = None
        self._namespaces: list[str] = []
        self._resolved: dict[str, ua.NodeId] = {}
        self.max_nodes_per_read: int = endpoint.max_nodes_per_read or DEFAULT_MAX_NODES_PER_READ

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _make_client(self) -> Client:
        ep = self.endpoint
        client = Client(ep.endpoint_url, timeout=ep.request_timeout_s)
        client.name = client.description = "PdM cluster connector"
        if ep.auth_method == "username":
            client.set_user(ep.username or "")
            password = os.environ.get(ep.password_env or "", "")
            client.set_password(password)
        return client

    async def connect(self) -> None:
        client = self._make_client()
        try:
            await asyncio.wait_for(client.connect(), timeout=self.endpoint.connect_timeout_s)
            self._namespaces = await client.get_namespace_array()
            self.max_nodes_per_read = await self._read_limit(client)
        except _REFUSED as exc:
            await self._drop(client)
            raise EndpointRefused(f"{self.endpoint.endpoint_url}: {exc}") from None
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            await self._drop(client)
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: {type(exc).__name__}: {exc}") from None
        self._client = client
        self._resolved = {}

    async def _read_limit(self, client: Client) -> int:
        if self.endpoint.max_nodes_per_read:
            return self.endpoint.max_nodes_per_read
        try:
            limit = await client.get_node(MAX_NODES_PER_READ_NODE).read_value()
        except Exception:  # servers without OperationLimits answer BadNodeIdUnknown
            return DEFAULT_MAX_NODES_PER_READ
        return int(limit) if limit else UNLIMITED_CHUNK

    async def _drop(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=2)
        except Exception:  # the connection is already gone; nothing to release
            pass

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
            chunk = node_ids[start:start + step]
            try:
                values = await self._client.uaclient.read_attributes([self._node_or_fake(n) for n in chunk],
                                                                    ua.AttributeIds.Value)
            except (OSError, ConnectionError, asyncio.TimeoutError, ua.UaError) as exc:
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
        quality = dv.StatusCode.value if dv.StatusCode is not None else 0
        value = dv.Value.Value if dv.Value is not None else None
        if isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, (int, float)):
            value = None
        source = self.endpoint.timestamp_source
        ts = None
        if source == "source":
            ts = _epoch(dv.SourceTimestamp) or _epoch(dv.ServerTimestamp)
        elif source == "server":
            ts = _epoch(dv.ServerTimestamp)
        return Reading(node_id=node_id, value=None if value is None else float(value),
                       quality=int(quality), ts=ts or received, received_at=received)
