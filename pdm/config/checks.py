"""Cross-field rules of the plant file that pydantic cannot express field by field: references,
duplicates (named at both places) and the order of paired figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdm.config.base import redacted_url
from pdm.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pdm.config.endpoints import NodeMap
    from pdm.config.mqtt import MqttTagMap
    from pdm.config.plants import NotificationsConfig, PlantConfig


class _Seen:
    """Remembers where each key was first seen; a second sighting is a ``ConfigError`` naming both."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason
        self.first: dict[object, str] = {}

    def add(self, key: object, where: str, shown: object = None) -> None:
        if key in self.first:
            shown = key if shown is None else shown
            raise ConfigError(self.source, where, shown, f"{self.reason} (also at {self.first[key]})")
        self.first[key] = where


class _TagMaps:
    """Where each tag of one site is mapped. A tag is read from one endpoint of its site (the catalog
    keeps one endpoint per tag, so a second mapping would silently replace the first): a second
    mapping, on the same endpoint or another, is a ``ConfigError`` naming both places."""

    def __init__(self, source: str, site: str):
        self.source, self.site = source, site
        self.first: dict[tuple[str, str], tuple[str, str]] = {}

    def add(self, asset: str, tag: str, endpoint: str, where: str) -> None:
        if (asset, tag) not in self.first:
            self.first[(asset, tag)] = (endpoint, where)
            return
        first_endpoint, first_where = self.first[(asset, tag)]
        if first_endpoint == endpoint:  # endpoint names are unique in a company (checked before the nodes)
            raise ConfigError(self.source, where, tag, f"tag mapped twice for this asset (also at {first_where})")
        raise ConfigError(
            self.source,
            where,
            tag,
            f"{self.site}/{asset}/{tag} is mapped on two endpoints of this site, {first_endpoint} and {endpoint} "
            f"(also at {first_where}): a tag is read from one endpoint",
        )


def _check_routes(notifications: NotificationsConfig, where: str, source: str) -> None:
    """One route per webhook URL and per recipient list: the catalog keeps one channel for each, so
    a second route would silently replace the first one's severity."""
    hooks = _Seen(source, "this company already has a webhook with this URL")
    for hi, hook in enumerate(notifications.webhooks):
        hooks.add(hook.url, f"{where}.webhooks[{hi}].url", redacted_url(hook.url, keep_path=False))
    emails = _Seen(source, "this company already has an e-mail route to the same recipients")
    for ri, route in enumerate(notifications.email):
        emails.add(frozenset(route.to), f"{where}.email[{ri}].to", ", ".join(route.to))


def check_references(cfg: PlantConfig, source: str) -> None:
    company_ids = _Seen(source, "duplicate company id")
    for ci, company in enumerate(cfg.companies):
        where = f"companies[{ci}]"
        company_ids.add(company.id, f"{where}.id")
        site_ids = _Seen(source, "duplicate site id in this company")
        asset_ids = _Seen(source, "duplicate asset id in this company")
        for si, site in enumerate(company.sites):
            site_ids.add(site.id, f"{where}.sites[{si}].id")
            for ai, asset in enumerate(site.assets):
                asset_ids.add(asset.id, f"{where}.sites[{si}].assets[{ai}].id")
        endpoint_names = _Seen(source, "duplicate endpoint name in this company")
        endpoint_urls = _Seen(source, "this company already has an endpoint with this URL")
        for si, site in enumerate(company.sites):
            site_assets = {a.id for a in site.assets}
            tags = _TagMaps(source, f"{company.id}/{site.id}")
            for ei, ep in enumerate(site.endpoints):
                ewhere = f"{where}.sites[{si}].endpoints[{ei}]"
                endpoint_names.add(ep.name, f"{ewhere}.name")
                endpoint_urls.add(ep.endpoint_url, f"{ewhere}.endpoint_url")
                if getattr(ep, "auth_method", None) == "username" and not ep.username:
                    raise ConfigError(
                        source, f"{ewhere}.username", ep.username, "required when auth_method is username"
                    )
                maps: Sequence[NodeMap | MqttTagMap] = ep.nodes
                for ni, node in enumerate(maps):
                    if node.asset not in site_assets:
                        raise ConfigError(
                            source, f"{ewhere}.nodes[{ni}].asset", node.asset, "no such asset on this site"
                        )
                    tags.add(node.asset, node.tag, ep.name, f"{ewhere}.nodes[{ni}].tag")
        _check_routes(company.notifications, f"{where}.notifications", source)
    if cfg.detection.executor == "dask" and not cfg.detection.dask_scheduler:
        raise ConfigError(source, "detection.dask_scheduler", None, "required when executor is dask")
    known = {(c.id, a.id): a for c, _, a in cfg.iter_assets()}
    for fi, fault in enumerate(cfg.simulation.faults):
        fwhere = f"simulation.faults[{fi}]"
        if (fault.company, fault.asset) not in known:
            raise ConfigError(source, f"{fwhere}.asset", f"{fault.company}/{fault.asset}", "no such asset")
        if fault.end_min <= fault.start_min:
            raise ConfigError(source, f"{fwhere}.end_min", fault.end_min, "must be after start_min")
