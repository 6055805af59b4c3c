"""Configuration, declared once: the plant file (YAML) and the service settings (TOML/env).

Every file and every UI form goes through these pydantic models. ``load_plants`` and
``load_settings`` turn any validation failure into a ``ConfigError`` that names the file,
the field path and the bad value, so the CLI can print one line and exit with code 2.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pdm.errors import ConfigError

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeMap(_Strict):
    """One OPC UA variable mapped to one tag of one asset."""

    node_id: Annotated[str, Field(min_length=3)]
    tag: Slug
    unit: str = ""
    asset: Slug


class EndpointConfig(_Strict):
    name: Slug
    endpoint_url: Annotated[str, Field(pattern=r"^opc\.tcp://[^\s/:]+(:\d{1,5})?(/\S*)?$")]
    security_policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = "None"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    auth_method: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = None
    password_env: str | None = None
    connect_timeout_s: PositiveSeconds = 5.0
    request_timeout_s: PositiveSeconds = 5.0
    reconnect_max_delay_s: PositiveSeconds = 30.0
    mode: Literal["poll"] = "poll"
    poll_interval_s: PositiveSeconds = 1.0
    max_nodes_per_read: Annotated[int, Field(ge=1, le=100_000)] | None = None
    timestamp_source: Literal["source", "server", "received"] = "source"
    enabled: bool = True
    nodes: list[NodeMap] = []


class AssetConfig(_Strict):
    id: Slug
    name: str = ""
    asset_class: Slug
    criticality: Annotated[int, Field(ge=1, le=5)] = 3
    downtime_cost_per_hour: Annotated[float, Field(ge=0)] = 0.0


class SiteConfig(_Strict):
    id: Slug
    name: str = ""
    assets: list[AssetConfig] = []
    endpoints: list[EndpointConfig] = []


class CompanyConfig(_Strict):
    id: Slug
    name: str = ""
    sites: list[SiteConfig] = []


FaultKind = Literal["bearing_wear", "cavitation", "clogging_filter", "cooling_failure", "imbalance"]


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


class DetectionConfig(_Strict):
    detector: Slug = "pca"
    resample_s: PositiveSeconds | None = None
    train_min_rows: Annotated[int, Field(ge=10)] = 60
    # Normal operation has slow cycles (shifts, batches): a model trained on less than one
    # full cycle alarms whenever the load leaves the range it saw.
    train_min_span_min: Annotated[float, Field(ge=0)] = 60.0
    train_max_rows: Annotated[int, Field(ge=10)] = 2000
    smooth_rows: Annotated[int, Field(ge=1, le=1000)] = 3
    debounce_rows: Annotated[int, Field(ge=1, le=1000)] = 4
    score_interval_s: PositiveSeconds = 2.0
    train_interval_s: PositiveSeconds = 5.0
    # Where retraining many assets runs: in the worker, on all local cores, or on a Dask cluster.
    executor: Literal["serial", "process", "dask"] = "serial"
    max_workers: Annotated[int, Field(ge=1, le=1024)] | None = None
    dask_scheduler: Annotated[str, Field(pattern=r"^(tcp|tls|inproc)://\S+$")] | None = None


class PlantConfig(_Strict):
    companies: list[CompanyConfig]
    simulation: SimulationConfig = SimulationConfig()
    detection: DetectionConfig = DetectionConfig()

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


class Settings(_Strict):
    """Service settings: where the database and the working files live."""

    database_url: str = "sqlite:///var/pdm.sqlite3"
    var_dir: Path = Path("var")
    spool_max_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    streamlit_port: Annotated[int, Field(ge=1, le=65535)] = 8501


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def validate_model(model: type[BaseModel], data: Any, source: str) -> Any:
    """Validate ``data`` into ``model``; the first problem becomes a ``ConfigError``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        value = err.get("input") if err["type"] != "missing" else None
        if err["type"] == "extra_forbidden":
            value = _lookup(data, loc)
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(source, _field_path(loc), value, reason) from None


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
                    raise ConfigError(source, f"{where}.sites[{si}].assets[{ai}].id", asset.id,
                                      "duplicate asset id in this company")
                asset_ids.add(asset.id)
        for si, site in enumerate(company.sites):
            site_assets = {a.id for a in site.assets}
            for ei, ep in enumerate(site.endpoints):
                ewhere = f"{where}.sites[{si}].endpoints[{ei}]"
                if ep.name in endpoint_names:
                    raise ConfigError(source, f"{ewhere}.name", ep.name, "duplicate endpoint name in this company")
                if ep.endpoint_url in endpoint_urls:
                    raise ConfigError(source, f"{ewhere}.endpoint_url", ep.endpoint_url,
                                      "this company already has an endpoint with this URL")
                endpoint_names.add(ep.name)
                endpoint_urls.add(ep.endpoint_url)
                if ep.auth_method == "username" and not ep.username:
                    raise ConfigError(source, f"{ewhere}.username", ep.username, "required when auth_method is username")
                seen: set[tuple[str, str]] = set()
                for ni, node in enumerate(ep.nodes):
                    if node.asset not in site_assets:
                        raise ConfigError(source, f"{ewhere}.nodes[{ni}].asset", node.asset,
                                          "no such asset on this site")
                    if (node.asset, node.tag) in seen:
                        raise ConfigError(source, f"{ewhere}.nodes[{ni}].tag", node.tag,
                                          "tag mapped twice for this asset")
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


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from an optional TOML file, then ``PDM_*`` environment variables."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "<settings>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(source, "(file)", source, exc.strerror or str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "(toml)", None, str(exc)) from None
    for name in Settings.model_fields:
        key = f"PDM_{name.upper()}"
        if key in env:
            data[name] = env[key]
            source = f"{source} + ${key}" if path else f"${key}"
    return validate_model(Settings, data, source)
