"""OPC UA subscriptions behind the same ``read(node_ids)`` the poller calls.

``read`` returns what the server reported since the previous call, so ``EndpointPoller``
stores, spools, backs off and logs exactly as in poll mode: the worker's poll interval
becomes the store interval. Every interval is explicit (asyncua samples every 50 ms unless
told otherwise). Each notified value goes through the poll path's ``_to_reading`` (monitored
items carry both timestamps: asyncua asks for ``TimestampsToReturn.Both``), so a NaN, a string or
a stuck clock is stored, timed and noted (``take_notes``) exactly as when polled
(``pdm.connectors.quirks``).

A subscription can go silent without the connection failing (server restarted its
subscription service, a gateway dropped it): the server must answer at least a keep-alive
every ``KEEPALIVE_S``; a watchdog that sees nothing for ``WATCHDOG_KEEPALIVES`` of those
recreates the subscription and logs it once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from asyncua import ua
from asyncua.client.ua_client import UaClientState

from pdm.config import EndpointConfig
from pdm.connectors.base import Reading
from pdm.connectors.opcua import OpcUaConnector
from pdm.errors import EndpointUnavailable

log = logging.getLogger(__name__)
KEEPALIVE_S = 5.0
WATCHDOG_KEEPALIVES = 3
MAX_BUFFERED = 1_000_000  # readings held between two stores; the oldest go first beyond it
_LOST = (OSError, ConnectionError, asyncio.TimeoutError, ua.UaError)


class _Handler:
    """asyncua calls this for each notification; it only appends, never awaits."""

    def __init__(self, owner: OpcUaSubscriber):
        self.owner = owner

    def datachange_notification(self, node, val, data) -> None:
        # ``val`` is asyncua's Python value; the DataValue keeps the status and both timestamps.
        owner = self.owner
        name = owner._names.get(node.nodeid)
        if name is not None:
            owner._buffer.append(owner._to_reading(name, data.monitored_item.Value, time.time()))

    def status_change_notification(self, status) -> None:
        log.warning("endpoint %s: subscription status %s", self.owner.endpoint.endpoint_url, status)


class OpcUaSubscriber(OpcUaConnector):
    def __init__(
        self,
        endpoint: EndpointConfig,
        *,
        pki_dir: Path | None = None,
        watchdog_s: float | None = None,
        keepalive_s: float = KEEPALIVE_S,
    ):
        super().__init__(endpoint, pki_dir=pki_dir)
        publishing = endpoint.publishing_interval_s
        self.keepalive_count = max(1, math.ceil(keepalive_s / publishing))
        self.watchdog_s = watchdog_s or WATCHDOG_KEEPALIVES * max(keepalive_s, publishing)
        self._sub = None
        self._subscribed: tuple[str, ...] = ()
        self._names: dict[ua.NodeId, str] = {}
        self._buffer: deque[Reading] = deque(maxlen=MAX_BUFFERED)
        self._last_heard = 0.0
        self.recreated = 0

    async def connect(self) -> None:
        await super().connect()
        # asyncua (2.1+) runs a stale-subscription watchdog of its own, at 1.5 keep-alive periods;
        # two watchdogs race (one recreates what the other is about to), and asyncua's logs below
        # the level the service shows. Ours is the one: it logs once, with how long it was silent.
        if hasattr(self.client, "_stale_check_margin"):
            self.client._stale_check_margin = math.inf
        self._sub, self._subscribed = None, ()

    async def close(self) -> None:
        self._sub, self._subscribed = None, ()
        await super().close()

    async def read(self, node_ids: Sequence[str]) -> list[Reading]:
        client = self.client  # EndpointUnavailable when not connected
        url = self.endpoint.endpoint_url
        try:
            if client.uaclient.state is not UaClientState.CONNECTED:
                raise ConnectionError("connection lost")
            if self._sub is None or tuple(node_ids) != self._subscribed:
                await self._subscribe(node_ids)
            elif self._silent_for() > self.watchdog_s:
                log.warning("endpoint %s: subscription silent for %.0f s, recreating it", url, self._silent_for())
                await self._drop_subscription()
                await self._subscribe(node_ids)
                self.recreated += 1
        except _LOST as exc:
            await self.close()
            raise EndpointUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
        out = list(self._buffer)
        self._buffer.clear()
        return out

    def _silent_for(self) -> float:
        last = getattr(self._sub, "last_publish_at", None) or 0.0
        self._last_heard = max(self._last_heard, last)
        return time.monotonic() - self._last_heard

    async def _drop_subscription(self) -> None:
        sub, self._sub = self._sub, None
        try:
            await asyncio.wait_for(sub.delete(), self.endpoint.request_timeout_s)
        except Exception:  # it is silent because it is already gone on the server
            pass

    async def _subscribe(self, node_ids: Sequence[str]) -> None:
        ep = self.endpoint
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = ep.publishing_interval_s * 1000
        params.RequestedMaxKeepAliveCount = self.keepalive_count
        params.RequestedLifetimeCount = self.keepalive_count * 3 * WATCHDOG_KEEPALIVES
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        params.Priority = 0
        sub = await self.client.create_subscription(params, _Handler(self))
        self._names, now = {}, time.time()
        mfilter = None
        if ep.deadband is not None:
            mfilter = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValue,
                DeadbandType=ua.DeadbandType.Absolute,
                DeadbandValue=ep.deadband,
            )
        for start in range(0, len(node_ids), self.max_nodes_per_read):
            chunk = list(node_ids[start : start + self.max_nodes_per_read])
            nodes = [self.client.get_node(self._node_or_fake(n)) for n in chunk]
            self._names.update({node.nodeid: name for node, name in zip(nodes, chunk)})
            # _subscribe (not subscribe_data_change) because only it takes the deadband filter.
            results = await sub._subscribe(
                nodes,
                ua.AttributeIds.Value,
                mfilter=mfilter,
                queuesize=ep.queue_size,
                sampling_interval=ep.sampling_interval_s * 1000,
            )
            for name, result in zip(chunk, results):
                if isinstance(result, ua.StatusCode):  # refused node: report it by name, keep the others
                    self._buffer.append(Reading(name, None, int(result.value), now, now))
        self._sub, self._subscribed = sub, tuple(node_ids)
        self._last_heard = time.monotonic()
