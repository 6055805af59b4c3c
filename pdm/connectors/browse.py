"""What a server says about itself, and its address space: for onboarding, not for polling.

Node ids come back as ``nsu=<namespace uri>;…`` so that what an engineer maps survives the
server renumbering its namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncua import Client, ua

from pdm.connectors.base import ConnectorRefused, Refusal, is_good, status_name
from pdm.errors import EndpointRefused, EndpointUnavailable

LIMITS = ("MaxNodesPerRead", "MaxNodesPerBrowse", "MaxMonitoredItemsPerCall", "MaxNodesPerWrite")
DEFAULT_MAX_NODES = 2000  # a real plant has 100,000s of nodes: a browse must stay bounded


@dataclass(frozen=True)
class BrowsedNode:
    depth: int
    node_id: str
    name: str
    node_class: str  # Object, Variable, ...
    data_type: str = ""
    value: object = None


def portable_id(node_id: ua.NodeId, namespaces: list[str]) -> str:
    """``ns=2;s=x`` → ``nsu=urn:…;s=x``; namespace 0 (the standard's) stays as it is."""
    text = node_id.to_string()
    if node_id.NamespaceIndex == 0 or node_id.NamespaceIndex >= len(namespaces):
        return text
    _, _, rest = text.partition(";")
    return f"nsu={namespaces[node_id.NamespaceIndex]};{rest}"


async def server_info(client: Client) -> dict:
    """Identity and limits of the server this client is connected to."""
    info: dict = {"namespaces": await client.get_namespace_array()}
    status = client.get_node(ua.ObjectIds.Server_ServerStatus)
    try:
        build = await status.get_child("0:BuildInfo")
        for key in ("ProductName", "ManufacturerName", "SoftwareVersion", "ProductUri"):
            info[key] = await (await build.get_child(f"0:{key}")).read_value()
        info["State"] = ua.ServerState(await (await status.get_child("0:State")).read_value()).name
    except ua.UaError:  # some servers hide BuildInfo: identity is then what the endpoint says
        pass
    limits = client.get_node(ua.ObjectIds.Server_ServerCapabilities_OperationLimits)
    for name in LIMITS:
        try:
            info[name] = int(await (await limits.get_child(f"0:{name}")).read_value())
        except (ua.UaError, TypeError, ValueError):
            info[name] = None
    return info


async def browse(
    client: Client, *, root: ua.NodeId | None = None, depth: int = 2, max_nodes: int = DEFAULT_MAX_NODES
) -> tuple[list[BrowsedNode], bool]:
    """Nodes under ``root`` (Objects) in tree order, down to ``depth``; and whether it was cut short."""
    namespaces = await client.get_namespace_array()
    out: list[BrowsedNode] = []

    async def walk(node, level: int) -> bool:
        if level >= depth:
            return True
        try:
            children = await node.get_children_descriptions()
        except (OSError, ConnectionError) as exc:
            raise EndpointUnavailable(f"browse interrupted: {exc}") from None
        for ref in children:
            if len(out) >= max_nodes:
                return False
            out.append(await _describe(client, ref, level + 1, namespaces))
            if not await walk(client.get_node(ref.NodeId), level + 1):
                return False
        return True

    complete = await walk(client.get_node(root or ua.ObjectIds.ObjectsFolder), 0)
    return out, not complete


async def _describe(client: Client, ref: ua.ReferenceDescription, depth: int, namespaces: list[str]) -> BrowsedNode:
    nid = ua.NodeId(ref.NodeId.Identifier, ref.NodeId.NamespaceIndex, ref.NodeId.NodeIdType)
    name = ref.BrowseName.Name or ""
    node_class = ref.NodeClass.name
    if ref.NodeClass != ua.NodeClass.Variable:
        return BrowsedNode(depth, portable_id(nid, namespaces), name, node_class)
    node = client.get_node(nid)
    try:
        dv = await node.read_data_value(raise_on_bad_status=False)
        value = dv.Value.Value if dv.Value is not None else None
        data_type = dv.Value.VariantType.name if dv.Value is not None else ""
    except ua.UaError:
        value, data_type = None, ""
    return BrowsedNode(depth, portable_id(nid, namespaces), name, node_class, data_type, value)


# Onboarding (UI and CLI): synchronous wrappers that connect, do one thing, and close.
TEST_NODE = "i=2259"  # Server_ServerStatus_State: every server has it, so a first read needs no mapping


def error_field(message: str) -> str:
    """Which form field a refusal is about, so the page can show it next to that field."""
    text = message.lower()
    for needle, field in (
        ("password_encrypted", "password_encrypted"),
        ("anonymous refused", "auth_method"),
        ("password_env", "password_env"),
        ("credentials", "password_env"),
        ("identity", "auth_method"),
        ("not offered", "security_policy"),
        ("server certificate", "trust_server_certificate"),
        ("client certificate", "security_policy"),
        ("certificate", "trust_server_certificate"),
    ):
        if needle in text:
            return field
    return "endpoint_url"


def refusal(exc: Exception) -> Refusal:
    """A refusal typed by kind and field: a connector's own when it says them, else read from the
    OPC UA connector's text (whose messages predate the types)."""
    if isinstance(exc, ConnectorRefused):
        return Refusal(exc.kind, exc.field, str(exc))
    field = error_field(str(exc))
    if isinstance(exc, EndpointUnavailable):
        return Refusal("unavailable", field, str(exc))
    kind = {
        "password_env": "credentials",
        "password_encrypted": "secret",
        "auth_method": "credentials",
        "endpoint_url": "address",
    }
    return Refusal(kind.get(field, "certificate" if "certificate" in field else "security"), field, str(exc))


async def probe_opcua(conn) -> dict:
    """Read the server's state once (every server has it) and what it says about itself."""
    (reading,) = await conn.read([TEST_NODE])
    if not is_good(reading.quality):
        return {"endpoint_url": f"connected, but the test read returned {status_name(reading.quality)}"}
    return {"ok": await server_info(conn.client)}


def check_endpoint(config, pki_dir) -> dict:
    """Connect with the connector of the endpoint's kind and test it: ``{"ok": info}`` or ``{field: message}``."""
    import asyncio

    from pdm.connectors import make_connector

    async def run():
        conn: Any = make_connector(config, pki_dir=pki_dir)  # every registered kind has probe()
        async with conn:
            return await conn.probe()

    try:
        return asyncio.run(run())
    except (EndpointUnavailable, EndpointRefused) as exc:
        refused = refusal(exc)
        return {refused.field: refused.message}


def browse_endpoint(config, pki_dir, *, depth: int = 3, max_nodes: int = DEFAULT_MAX_NODES, **options):
    """What the endpoint offers to map: OPC UA's address space, MQTT's topics and metrics heard for a few
    seconds (``options``: a kind's own, e.g. MQTT's ``seconds``)."""
    import asyncio

    from pdm.connectors import make_connector

    async def run():
        conn: Any = make_connector(config, pki_dir=pki_dir)  # every registered kind has browse()
        async with conn:
            return await conn.browse(depth=depth, max_nodes=max_nodes, **options)

    return asyncio.run(run())
