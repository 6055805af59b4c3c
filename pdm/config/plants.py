"""The plant file (YAML): companies, sites, assets, endpoints, costs, notifications, simulation;
loaded and checked across fields (references, duplicates) after pydantic's field checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Field, model_validator

from pdm.config.base import PositiveSeconds, Slug, _Strict, validate_model
from pdm.config.detection import AssetDetection, DetectionConfig
from pdm.config.endpoints import EndpointConfig
from pdm.errors import ConfigError

Money = Annotated[float, Field(ge=0, le=1e9)]
Hours = Annotated[float, Field(ge=0, le=8_760)]


class CostModel(_Strict):
    """What a failure and an alarm cost on one kind of asset (pdm.savings.figures explains the formula).

    Every field may be left out (None): an asset's overrides then fall back to its class
    defaults, and a class default to zero. ``unplanned_downtime_h`` maps a failure-mode code
    to hours; ``default_downtime_h`` covers modes not listed.
    """

    downtime_cost_per_hour: Money | None = None
    unplanned_downtime_h: dict[Slug, Hours] = {}
    default_downtime_h: Hours | None = None
    planned_repair_cost: Money | None = None
    emergency_repair_cost: Money | None = None
    # Used when the technician reports no repair_cost for a resolved alert.
    intervention_cost: Money | None = None
    false_alarm_inspection_cost: Money | None = None


class AssetConfig(_Strict):
    id: Slug
    name: str = ""
    asset_class: Slug
    criticality: Annotated[int, Field(ge=1, le=5)] = 3
    downtime_cost_per_hour: Annotated[float, Field(ge=0)] = 0.0
    # After an alert closes, no new alert opens on this asset for this long (None: detection default).
    silent_period_min: Annotated[float, Field(ge=0, le=10_080)] | None = None
    # Overrides of the asset class's cost_defaults, field by field.
    costs: CostModel | None = None
    # Overrides of the detection settings (its class's, else the plant file's), field by field.
    detection: AssetDetection | None = None


class SiteConfig(_Strict):
    id: Slug
    name: str = ""
    assets: list[AssetConfig] = []
    endpoints: list[EndpointConfig] = []


Severity = Literal["low", "medium", "high", "critical"]
# The one severity order, lowest first: alerts rank by it, notification routes filter by it.
SEVERITIES: tuple[str, ...] = get_args(Severity)


def severity_rank(severity: str) -> int:
    """0 for "low" up to 3 for "critical"; an unknown value ranks lowest."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class SmtpConfig(_Strict):
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None  # a name, never the secret
    from_addr: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    timeout_s: PositiveSeconds = 10.0
    # A CA bundle for a mail server with a private certificate authority (else the system's).
    ca_file: str | None = None


class EmailRoute(_Strict):
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    min_severity: Severity = "high"


class WebhookRoute(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    min_severity: Severity = "medium"
    timeout_s: PositiveSeconds = 10.0


class NotificationsConfig(_Strict):
    smtp: SmtpConfig | None = None
    email: list[EmailRoute] = []
    webhooks: list[WebhookRoute] = []

    @model_validator(mode="after")
    def _email_needs_smtp(self):
        if self.email and self.smtp is None:
            raise ValueError("email routes need an smtp section")
        return self


class CompanyConfig(_Strict):
    id: Slug
    name: str = ""
    sites: list[SiteConfig] = []
    notifications: NotificationsConfig = NotificationsConfig()


# process_change is a benign event (a planned lower operating point), not a fault.
FaultKind = Literal["bearing_wear", "cavitation", "clogging_filter", "cooling_failure", "imbalance", "process_change"]


class FaultConfig(_Strict):
    """A fault injected by the simulated plant, in simulated minutes from its start."""

    company: Slug
    asset: Slug
    kind: FaultKind
    start_min: Annotated[float, Field(ge=0)]
    end_min: Annotated[float, Field(gt=0)]
    ramp_min: Annotated[float, Field(ge=0)] = 10.0


class SimulationConfig(_Strict):
    seed: int = 7
    speed: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    start: datetime | None = None
    tick_s: Annotated[float, Field(gt=0, le=10)] = 0.1
    faults: list[FaultConfig] = []


class PlantConfig(_Strict):
    companies: list[CompanyConfig]
    simulation: SimulationConfig = SimulationConfig()
    detection: DetectionConfig = DetectionConfig()
    # Cluster-wide cost model per asset class; an asset's ``costs`` override it.
    cost_defaults: dict[Slug, CostModel] = {}

    def iter_assets(self):
        for company in self.companies:
            for site in company.sites:
                for asset in site.assets:
                    yield company, site, asset

    def iter_endpoints(self):
        for company in self.companies:
            for site in company.sites:
                for endpoint in site.endpoints:
                    yield company, site, endpoint


def _check_references(cfg: PlantConfig, source: str) -> None:
    """Cross-field rules pydantic cannot express field by field."""
    company_ids: set[str] = set()
    for ci, company in enumerate(cfg.companies):
        where = f"companies[{ci}]"
        if company.id in company_ids:
            raise ConfigError(source, f"{where}.id", company.id, "duplicate company id")
        company_ids.add(company.id)
        asset_ids: set[str] = set()
        endpoint_names: set[str] = set()
        endpoint_urls: set[str] = set()
        for si, site in enumerate(company.sites):
            for ai, asset in enumerate(site.assets):
                if asset.id in asset_ids:
                    raise ConfigError(
                        source, f"{where}.sites[{si}].assets[{ai}].id", asset.id, "duplicate asset id in this company"
                    )
                asset_ids.add(asset.id)
        for si, site in enumerate(company.sites):
            site_assets = {a.id for a in site.assets}
            for ei, ep in enumerate(site.endpoints):
                ewhere = f"{where}.sites[{si}].endpoints[{ei}]"
                if ep.name in endpoint_names:
                    raise ConfigError(source, f"{ewhere}.name", ep.name, "duplicate endpoint name in this company")
                if ep.endpoint_url in endpoint_urls:
                    raise ConfigError(
                        source,
                        f"{ewhere}.endpoint_url",
                        ep.endpoint_url,
                        "this company already has an endpoint with this URL",
                    )
                endpoint_names.add(ep.name)
                endpoint_urls.add(ep.endpoint_url)
                if ep.auth_method == "username" and not ep.username:
                    raise ConfigError(
                        source, f"{ewhere}.username", ep.username, "required when auth_method is username"
                    )
                seen: set[tuple[str, str]] = set()
                for ni, node in enumerate(ep.nodes):
                    if node.asset not in site_assets:
                        raise ConfigError(
                            source, f"{ewhere}.nodes[{ni}].asset", node.asset, "no such asset on this site"
                        )
                    if (node.asset, node.tag) in seen:
                        raise ConfigError(
                            source, f"{ewhere}.nodes[{ni}].tag", node.tag, "tag mapped twice for this asset"
                        )
                    seen.add((node.asset, node.tag))
    if cfg.detection.executor == "dask" and not cfg.detection.dask_scheduler:
        raise ConfigError(source, "detection.dask_scheduler", None, "required when executor is dask")
    known = {(c.id, a.id): a for c, _, a in cfg.iter_assets()}
    for fi, fault in enumerate(cfg.simulation.faults):
        fwhere = f"simulation.faults[{fi}]"
        if (fault.company, fault.asset) not in known:
            raise ConfigError(source, f"{fwhere}.asset", f"{fault.company}/{fault.asset}", "no such asset")
        if fault.end_min <= fault.start_min:
            raise ConfigError(source, f"{fwhere}.end_min", fault.end_min, "must be after start_min")


def parse_plants(data: Any, source: str = "<plants>") -> PlantConfig:
    cfg = validate_model(PlantConfig, data, source)
    _check_references(cfg, source)
    return cfg


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", str(path), exc.strerror or str(exc)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "(yaml)"
        raise ConfigError(str(path), line, None, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load_plants(path: str | Path) -> PlantConfig:
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(root)", type(data).__name__, "expected a mapping with 'companies'")
    return parse_plants(data, str(path))
