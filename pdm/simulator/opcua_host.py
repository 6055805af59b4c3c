"""The asyncua servers behind the simulated plant: build one per endpoint URL with its address
space, write values with source timestamps, keep a bounded history of them (so that a client
that missed some can read them back with HistoryRead), and stop them without hanging on
vanished clients."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlparse

from asyncua import Server, ua

from pdm.simulator.layout import Endpoint

log = logging.getLogger(__name__)

SERVER_NAME = "PdM simulated plant"
APPLICATION_URI = "urn:pdm:simulated-plant"
SERVER_STOP_S = 10.0

Latest = dict[tuple[str, str], dict[str, float]]


async def build_server(ep: Endpoint, latest: Latest, *, history_values: int = 0) -> None:
    """A server for ``ep`` (not started); with ``history_values``, each variable keeps its last that many values."""
    server = Server()
    await server.init()
    server.set_endpoint(ep.url)
    server.set_server_name(SERVER_NAME)
    await server.set_application_uri(APPLICATION_URI)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    server.set_identity_tokens([ua.AnonymousIdentityToken])
    server.disable_clock()
    parsed = urlparse(ep.url)
    host = "127.0.0.1" if parsed.hostname in ("127.0.0.1", "localhost") else "0.0.0.0"
    server.socket_address = (host, parsed.port or 4840)
    ep.server = server
    await _build_address_space(ep, latest)
    if history_values > 0:
        await historize(server, [nodeid for nodeid, *_ in ep.writes], history_values)


async def historize(server: Server, nodeids: list[ua.NodeId], count: int) -> None:
    """Keep each node's last ``count`` values in asyncua's in-memory history, readable by HistoryRead.

    Bounded by count, not by age: asyncua ages values against the wall clock, and the plant stamps
    them on its simulated clock, which may run hours ahead of it or start in the past.
    """
    for nodeid in nodeids:
        await server.iserver.enable_history_data_change(server.get_node(nodeid), period=None, count=count)


async def _namespace_indexes(ep: Endpoint) -> dict[str | int, int]:
    server = ep.server
    # Numeric indexes are taken at face value: fill the gaps first so ns=<n> exists as written.
    wanted = sorted({ns for *_, ns, _ in ep.nodes if isinstance(ns, int)})
    for i in range(len(await server.get_namespace_array()), (wanted[-1] + 1) if wanted else 0):
        await server.register_namespace(f"urn:pdm:simulator:ns{i}")
    indexes: dict[str | int, int] = {i: i for i in wanted}
    for uri in dict.fromkeys(ns for *_, ns, _ in ep.nodes if isinstance(ns, str)):
        indexes[uri] = await server.register_namespace(uri)
    return indexes


async def _build_address_space(ep: Endpoint, latest: Latest) -> None:
    indexes = await _namespace_indexes(ep)
    objects = ep.server.nodes.objects
    folders: dict[str, object] = {}
    assets: dict[tuple[str, str], object] = {}
    for company, asset, tag, ns, ident in ep.nodes:
        idx = indexes[ns]
        # One object per asset: asyncua slows down sharply with many variables under one parent.
        if company not in folders:
            folders[company] = await objects.add_folder(idx, company)
        if (company, asset) not in assets:
            assets[(company, asset)] = await folders[company].add_object(idx, asset)
        nodeid = ua.NodeId(ident, idx)
        value = float(latest[(company, asset)][tag])
        await assets[(company, asset)].add_variable(
            nodeid, ua.QualifiedName(tag, idx), ua.Variant(value, ua.VariantType.Double)
        )
        ep.writes.append((nodeid, (company, asset), tag))


async def publish(endpoints: Iterable[Endpoint], latest: Latest, stamp: datetime) -> None:
    """Write every served value, stamped ``stamp`` (simulated time) at source and server."""
    good = ua.StatusCode(ua.StatusCodes.Good)
    # A sensor that dropped out (NaN from the simulator) is published as a field device does: no
    # number, with a Bad status, so a client stores no value for it.
    bad = ua.StatusCode(ua.UInt32(ua.StatusCodes.BadNoCommunication))
    for ep in endpoints:
        for nodeid, key, tag in ep.writes:
            number = float(latest[key][tag])
            value = ua.Variant(number, ua.VariantType.Double)
            status = bad if math.isnan(number) else good
            await ep.server.write_attribute_value(
                nodeid, ua.DataValue(value, StatusCode=status, SourceTimestamp=stamp, ServerTimestamp=stamp)
            )


async def write_server_time(endpoints: Iterable[Endpoint]) -> None:
    # The built-in clock task is disabled (it makes stop() wait up to 1 s): keep CurrentTime fresh.
    now = ua.DataValue(ua.Variant(datetime.now(UTC), ua.VariantType.DateTime))
    for ep in endpoints:
        await ep.server.write_attribute_value(ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime), now)


async def stop_servers(endpoints: Iterable[Endpoint]) -> None:
    endpoints = list(endpoints)
    stopping = {asyncio.ensure_future(ep.server.stop()): ep for ep in endpoints if ep.running}
    done, pending = await asyncio.wait(stopping, timeout=SERVER_STOP_S) if stopping else (set(), set())
    for task in pending:
        # asyncua waits for every client connection to close; a client that vanished without
        # closing its socket would hold the stop forever.
        log.warning("simulated server %s did not stop within %.0f s; abandoned", stopping[task].url, SERVER_STOP_S)
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.warning("stopping simulated server %s failed: %s", stopping[task].url, task.exception())
    for ep in endpoints:
        ep.server, ep.writes, ep.running = None, [], False
