"""What the simulated plant serves, checked against the plant file: simulated assets, the nodes
each endpoint URL serves, and the faults to inject. Errors name the file, the field and the value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from asyncua import Server, ua

from pdm.config import FaultConfig, PlantConfig
from pdm.errors import ConfigError
from pdm.simulator.physics import SENSORS, check_fault

_NODE_ID = re.compile(r"^(?:nsu=(?P<uri>[^;]+)|ns=(?P<index>\d+));s=(?P<ident>.+)$", re.DOTALL)


class FaultNotApplicable(ConfigError, ValueError):
    """A configured fault cannot happen on its asset's class (a ConfigError and a ValueError)."""


@dataclass
class Endpoint:
    """One listening server: every config endpoint that shares this URL, across companies."""

    url: str
    nodes: list[tuple[str, str, str, str | int, str]] = field(default_factory=list)  # company, asset, tag, ns, id
    server: Server | None = None
    running: bool = False
    writes: list[tuple[ua.NodeId, tuple[str, str], str]] = field(default_factory=list)


def parse_node_id(source: str, where: str, node_id: str) -> tuple[str | int, str]:
    match = _NODE_ID.match(node_id)
    if not match:
        raise ConfigError(source, where, node_id, "expected nsu=<namespace uri>;s=<id> or ns=<index>;s=<id>")
    if match["uri"] is not None:
        return match["uri"], match["ident"]
    if int(match["index"]) == 0:
        raise ConfigError(source, where, node_id, "namespace 0 is reserved for the OPC UA standard nodes")
    return int(match["index"]), match["ident"]


def simulated_classes(plants: PlantConfig) -> dict[tuple[str, str], str]:
    """Asset class by (company, asset), for every asset the simulator has a model of."""
    # Classes without a model are real equipment served elsewhere: not simulated.
    return {
        (company.id, asset.id): asset.asset_class
        for company, _, asset in plants.iter_assets()
        if asset.asset_class in SENSORS
    }


def check_endpoints(plants: PlantConfig, source: str) -> dict[str, Endpoint]:
    # One server per URL. Config validation already refuses a URL reused inside one company,
    # so endpoints sharing a URL belong to different companies and share that server.
    endpoints: dict[str, Endpoint] = {}
    for ci, company in enumerate(plants.companies):
        for si, site in enumerate(company.sites):
            classes = {a.id: a.asset_class for a in site.assets}
            for ei, ep in enumerate(site.endpoints):
                where = f"companies[{ci}].sites[{si}].endpoints[{ei}]"
                target = endpoints.setdefault(ep.endpoint_url, Endpoint(ep.endpoint_url))
                for ni, node in enumerate(ep.nodes):
                    _check_node(source, f"{where}.nodes[{ni}]", company.id, classes, node, target)
    return endpoints


def _check_node(source, where, company, classes, node, target: Endpoint) -> None:
    if node.asset not in classes:
        raise ConfigError(source, f"{where}.asset", node.asset, "no such asset on this site")
    cls = classes[node.asset]
    sensors = list(SENSORS.get(cls, {}))
    if node.tag not in sensors:
        hint = "" if sensors else f" (no simulator model for this class; known: {sorted(SENSORS)})"
        raise ConfigError(source, f"{where}.tag", node.tag, f"not a sensor of {cls}: {sensors}{hint}")
    ns, ident = parse_node_id(source, f"{where}.node_id", node.node_id)
    if any((other[3], other[4]) == (ns, ident) for other in target.nodes):
        raise ConfigError(
            source, f"{where}.node_id", node.node_id, f"already served by another endpoint at {target.url}"
        )
    target.nodes.append((company, node.asset, node.tag, ns, ident))


def check_faults(
    classes: dict[tuple[str, str], str], faults: list[FaultConfig], source: str, where: str
) -> list[FaultConfig]:
    for fi, fault in enumerate(faults):
        cls = classes.get((fault.company, fault.asset))
        if cls is None:
            raise ConfigError(
                source,
                f"{where}[{fi}].asset",
                f"{fault.company}/{fault.asset}",
                "no simulated asset with this id in this company",
            )
        if fault.end_min <= fault.start_min:
            raise ConfigError(source, f"{where}[{fi}].end_min", fault.end_min, "must be after start_min")
        try:
            check_fault(cls, fault.kind)
        except ValueError as exc:
            raise FaultNotApplicable(source, f"{where}[{fi}].kind", fault.kind, str(exc)) from None
    return list(faults)
