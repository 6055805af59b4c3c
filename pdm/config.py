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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pdm.errors import ConfigError

# Fields whose value is never repeated in an error message.
SECRET_FIELDS = ("password_encrypted", "password")

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
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field("None", validate_default=True)
    auth_method: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = Field(None, validate_default=True)
    # The password as a Fernet token (``pdmctl secrets encrypt``, or typed in the endpoint form);
    # decrypted only when connecting, with the key of pdm.crypto (never in the database).
    password_encrypted: Annotated[str, Field(pattern=r"^gAAAAA[A-Za-z0-9_=-]{20,}$")] | None = Field(None, repr=False)
    # The name of an environment variable, never the secret itself.
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(None, validate_default=True)
    # Paths of the client's application instance certificate (DER/PEM) and key (PEM); when
    # unset, the pair `pdmctl certs init` makes under <var_dir>/pki/own is used.
    client_certificate: str | None = None
    client_private_key: str | None = None
    # The X.509 identity of auth_method certificate, when it is not the application certificate:
    # a user certificate (DER/PEM) and its key (PEM, in clear or encrypted by `pdmctl certs encrypt-key`).
    user_certificate: str | None = None
    user_private_key: str | None = Field(None, validate_default=True)
    # Pin one server certificate (path): trusted without looking at the trust folder.
    server_certificate: str | None = None
    application_uri: Annotated[str, Field(pattern=r"^\S+:\S+$")] | None = None
    # Accept a server certificate the trust folder does not know (tests, first commissioning).
    trust_server_certificate: bool = False
    connect_timeout_s: PositiveSeconds = 5.0
    request_timeout_s: PositiveSeconds = 5.0
    # The longest wait between reconnect attempts. 20 s keeps data back within 30 s of a server's
    # return (longest wait + one poll + one connect: see pdm.ingest.Backoff).
    reconnect_max_delay_s: PositiveSeconds = 20.0
    # poll: read every node each poll_interval_s. subscribe: the server reports changes
    # (sampled every sampling_interval_s, sent every publishing_interval_s); the worker still
    # stores what arrived every poll_interval_s.
    mode: Literal["poll", "subscribe"] = "poll"
    poll_interval_s: PositiveSeconds = 1.0
    sampling_interval_s: Annotated[float, Field(ge=0, le=86_400)] = 1.0  # explicit: asyncua's default is 50 ms
    publishing_interval_s: PositiveSeconds = 1.0
    queue_size: Annotated[int, Field(ge=0, le=10_000)] = 10
    deadband: Annotated[float, Field(ge=0)] | None = None  # absolute, in the node's unit
    max_nodes_per_read: Annotated[int, Field(ge=1, le=100_000)] | None = None
    timestamp_source: Literal["source", "server", "received"] = "source"
    enabled: bool = True
    nodes: list[NodeMap] = []

    # Cross-field rules as field validators (fields are checked in order, so the earlier ones
    # are in info.data): the error then names its field, and a form shows it next to it.
    @field_validator("security_mode")
    @classmethod
    def _mode_matches_policy(cls, mode: str, info: ValidationInfo) -> str:
        policy = info.data.get("security_policy", "None")
        if (policy == "None") != (mode == "None"):
            need = "None" if policy == "None" else "Sign or SignAndEncrypt"
            raise ValueError(f"security_policy {policy} needs security_mode {need}")
        return mode

    @field_validator("auth_method")
    @classmethod
    def _certificate_needs_secure_channel(cls, method: str, info: ValidationInfo) -> str:
        if method == "certificate" and info.data.get("security_policy", "None") == "None":
            raise ValueError("a certificate identity needs a security_policy other than None")
        return method

    @field_validator("username", "password_env")
    @classmethod
    def _required_for_username_auth(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.field_name == "password_env" and info.data.get("password_encrypted"):
            if value:
                raise ValueError("give either password_env or password_encrypted, not both")
            return value
        if info.data.get("auth_method") == "username" and not value:
            what = "the name of the environment variable holding the password, or password_encrypted" \
                if info.field_name == "password_env" else "the user name"
            raise ValueError(f"required when auth_method is username ({what})")
        return value

    @field_validator("user_private_key")
    @classmethod
    def _user_identity_pair(cls, key: str | None, info: ValidationInfo) -> str | None:
        cert = info.data.get("user_certificate")
        if (cert is None) != (key is None):
            raise ValueError("user_certificate and user_private_key go together")
        if cert is not None and info.data.get("auth_method") != "certificate":
            raise ValueError("a user certificate is only used when auth_method is certificate")
        return key


Money = Annotated[float, Field(ge=0, le=1e9)]
Hours = Annotated[float, Field(ge=0, le=8_760)]


class CostModel(_Strict):
    """What a failure and an alarm cost on one kind of asset (pdm.savings explains the formula).

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


class SiteConfig(_Strict):
    id: Slug
    name: str = ""
    assets: list[AssetConfig] = []
    endpoints: list[EndpointConfig] = []


Severity = Literal["low", "medium", "high", "critical"]


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
FaultKind = Literal["bearing_wear", "cavitation", "clogging_filter", "cooling_failure", "imbalance",
                    "process_change"]


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


class FleetConfig(_Strict):
    """Cold start: one model per asset class, trained across companies, scores assets without their own.

    Only detectors whose saved state is aggregates (means, medians, spreads, regression weights)
    may serve as a fleet model: one that keeps training rows (``mset``) would carry other
    companies' data. A fleet model needs members from ``min_companies`` companies (so it never
    reflects one company's machines alone) and ``min_assets`` assets in all.
    """

    enabled: bool = True
    detector: Literal["pca", "mad", "regression"] = "pca"
    min_companies: Annotated[int, Field(ge=2, le=1000)] = 2
    min_assets: Annotated[int, Field(ge=2, le=10_000)] = 3
    # A new asset's own location per sensor comes from its first ``baseline_min`` minutes; one
    # full duty cycle (24-30 min on the simulated plant) keeps a half-cycle from biasing it.
    baseline_min: Annotated[float, Field(gt=0, le=10_080)] = 30.0
    # A baseline value outside this prediction interval of the member assets' values is not
    # trusted (the asset may be faulty from its first minute): the class nominal is used instead.
    baseline_guard_coverage: Annotated[float, Field(gt=0.5, lt=1)] = 0.999
    retrain_interval_s: PositiveSeconds = 3600.0


class DetectionConfig(_Strict):
    detector: Slug = "pca"
    resample_s: PositiveSeconds | None = None
    train_min_rows: Annotated[int, Field(ge=10)] = 60
    # Normal operation has slow cycles (shifts, batches): a model trained on less than one
    # full cycle alarms whenever the load leaves the range it saw.
    train_min_span_min: Annotated[float, Field(ge=0)] = 60.0
    train_max_rows: Annotated[int, Field(ge=10)] = 2000
    # An active model older than this gets a challenger once enough new normal data exists.
    retrain_after_h: Annotated[float, Field(gt=0, le=87_600)] = 168.0
    # The latest share of a challenger's normal data, held out to compare it with the champion.
    holdout_fraction: Annotated[float, Field(ge=0.05, le=0.5)] = 0.2
    smooth_rows: Annotated[int, Field(ge=1, le=1000)] = 3
    debounce_rows: Annotated[int, Field(ge=1, le=1000)] = 4
    score_interval_s: PositiveSeconds = 2.0
    train_interval_s: PositiveSeconds = 5.0
    # Default quiet time after an alert closes; an asset's own silent_period_min wins.
    silent_period_min: Annotated[float, Field(ge=0, le=10_080)] = 30.0
    # Where retraining many assets runs: in the worker, on all local cores, or on a Dask cluster.
    executor: Literal["serial", "process", "dask"] = "serial"
    max_workers: Annotated[int, Field(ge=1, le=1024)] | None = None
    dask_scheduler: Annotated[str, Field(pattern=r"^(tcp|tls|inproc)://\S+$")] | None = None
    fleet: FleetConfig = FleetConfig()


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


class RetentionConfig(_Strict):
    """How long readings are kept: raw for ``raw_days``, then 1-minute aggregates for ``aggregate_days``.

    Training reads raw readings only, so a detector's training window can never reach further back
    than ``raw_days``: keep ``raw_days`` above the span training needs (``detection.train_min_span_min``).
    """

    raw_days: Annotated[float, Field(ge=1, le=3650)] = 30
    aggregate_days: Annotated[float, Field(ge=1, le=36500, validate_default=True)] = 730
    # Rows aggregated and deleted per transaction: small enough that ingest never waits long on it.
    batch_rows: Annotated[int, Field(ge=100, le=1_000_000)] = 50_000
    # PostgreSQL: daily partitions created this many days ahead of today.
    partition_ahead_days: Annotated[int, Field(ge=1, le=60)] = 3
    interval_s: Annotated[float, Field(ge=10, le=86_400)] = 3600

    @field_validator("aggregate_days")
    @classmethod
    def _aggregates_outlive_raw(cls, days: float, info: ValidationInfo) -> float:
        raw = info.data.get("raw_days")
        if raw is not None and days < raw:
            raise ValueError(f"must not be shorter than raw_days ({raw:g})")
        return days


class Settings(_Strict):
    """Service settings: where the database and the working files live."""

    database_url: str = "sqlite:///var/pdm.sqlite3"
    var_dir: Path = Path("var")
    spool_max_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    streamlit_port: Annotated[int, Field(ge=1, le=65535)] = 8501
    retention: RetentionConfig = RetentionConfig()
    # Several workers: an endpoint lease (and a worker's registration) not renewed for lease_ttl_s is
    # taken over; workers renew every lease_renew_s; a standby scheduler retries the lock every leader_retry_s.
    lease_ttl_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    lease_renew_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    leader_retry_s: Annotated[float, Field(gt=0, le=600)] = 5.0

    @field_validator("lease_renew_s")
    @classmethod
    def _renew_within_ttl(cls, value: float, info: ValidationInfo) -> float:
        ttl = info.data.get("lease_ttl_s")
        if ttl is not None and value >= ttl:
            raise ValueError(f"must be shorter than lease_ttl_s ({ttl:g}), or leases expire between renewals")
        return value


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
        if loc and loc[-1] in SECRET_FIELDS and value is not None:
            value = "(hidden)"  # a password pasted into the wrong field must not be echoed back
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
    for sub in RetentionConfig.model_fields:  # a [retention] key as PDM_RETENTION__<KEY>
        key = f"PDM_RETENTION__{sub.upper()}"
        if key in env:
            section = data.get("retention")
            data["retention"] = {**(section if isinstance(section, dict) else {}), sub: env[key]}
            source = f"{source} + ${key}" if path else f"${key}"
    return validate_model(Settings, data, source)
