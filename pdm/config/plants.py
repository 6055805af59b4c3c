"""The plant file (YAML): companies, sites, assets, endpoints, costs, notifications, simulation;
loaded and checked across fields (references, duplicates) after pydantic's field checks."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from pdm.config.base import PathText, PositiveSeconds, Real, Slug, Text, Whole, _Strict, validate_model
from pdm.config.checks import check_references
from pdm.config.detection import AssetDetection, DetectionConfig
from pdm.config.endpoints import env_name
from pdm.config.kinds import AnyEndpoint
from pdm.config.operation import OperationConfig
from pdm.config.yaml_loader import load_yaml_file
from pdm.errors import ConfigError

Money = Annotated[Real, Field(ge=0, le=1e9)]
Hours = Annotated[Real, Field(ge=0, le=8_760)]
# Simulated minutes: at most ten years.
Minutes = Annotated[Real, Field(ge=0, le=5_256_000)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]


def _port_in_range(url: str) -> str:
    try:
        port = urlsplit(url).port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    return url


def _a_date_not_a_number(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        raise ValueError("expected a date and time such as 2026-01-05T06:00:00Z")
    return value


def _plausible_year(value: datetime) -> datetime:
    if not 1970 <= value.year <= 2200:
        raise ValueError("expected a year from 1970 to 2200")
    return value


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
    name: Text = ""
    asset_class: Slug
    criticality: Annotated[Whole, Field(ge=1, le=5)] = 3
    downtime_cost_per_hour: Money = 0.0
    # After an alert closes, no new alert opens on this asset for this long (None: detection default).
    silent_period_min: Annotated[Real, Field(ge=0, le=10_080)] | None = None
    # Overrides of the asset class's cost_defaults, field by field.
    costs: CostModel | None = None
    # Overrides of the detection settings (its class's, else the plant file's), field by field.
    detection: AssetDetection | None = None


def _iana_zone(value: str) -> str:
    """An IANA time zone name such as Europe/Paris (the site's times are shown in it)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: an absolute path or "..", refused by zoneinfo
        raise ValueError("expected an IANA time zone such as Europe/Paris or UTC") from None
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_iana_zone)]
# The languages the app has catalogues for (pdm/locale); the CLI stays English.
Locale = Literal["en", "fr"]


class SiteConfig(_Strict):
    id: Slug
    name: Text = ""
    # Times of this site's readings and alerts are shown in its zone.
    timezone: TimeZone = "UTC"
    assets: list[AssetConfig] = []
    endpoints: list[AnyEndpoint] = []


Severity = Literal["low", "medium", "high", "critical"]
# The one severity order, lowest first: alerts rank by it, notification routes filter by it.
SEVERITIES: tuple[str, ...] = get_args(Severity)


def severity_rank(severity: str) -> int:
    """0 for "low" up to 3 for "critical"; an unknown value ranks lowest."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class SmtpConfig(_Strict):
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[Whole, Field(ge=1, le=65535)] = 587
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: Text | None = None
    # The name of the environment variable holding the SMTP password, never the password (the
    # plant file has no encrypted form for it: password_encrypted is for OPC UA endpoints).
    password_env: (
        Annotated[str, env_name("put the SMTP password in an environment variable and give its name here")] | None
    ) = None
    from_addr: Email
    timeout_s: PositiveSeconds = 10.0
    # A CA bundle for a mail server with a private certificate authority (else the system's).
    ca_file: PathText | None = None


class EmailRoute(_Strict):
    to: Annotated[list[Email], Field(min_length=1, max_length=1000)]
    min_severity: Severity = "high"


def _webhook_url(url: str) -> str:
    """``http(s)://host[:port]/...``; a reason never quotes the URL (its path or query often holds the token)."""
    if len(url) > 2048:
        raise ValueError("longer than 2048 characters")
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise ValueError("expected an http:// or https:// URL")
    if re.search(r"\s", url):
        raise ValueError("a URL has no spaces or line breaks")
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # an unclosed [ of an IPv6 address
        raise ValueError("the host in brackets is not an IPv6 address") from None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"(?!-)[A-Za-z0-9_-]{1,63}(?:\.(?!-)[A-Za-z0-9_-]{1,63})*\.?", host):
            raise ValueError("expected an http:// or https:// URL with a host name or address") from None
    return _port_in_range(url)


class WebhookRoute(_Strict):
    url: Annotated[str, AfterValidator(_webhook_url)]
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
    name: Text = ""
    # The app's language for the company's users until each picks one (None: English).
    locale: Locale | None = None
    sites: list[SiteConfig] = []
    notifications: NotificationsConfig = NotificationsConfig()


# process_change is a benign event (a planned lower operating point), not a fault.
FaultKind = Literal["bearing_wear", "cavitation", "clogging_filter", "cooling_failure", "imbalance", "process_change"]


class FaultConfig(_Strict):
    """A fault injected by the simulated plant, in simulated minutes from its start."""

    company: Slug
    asset: Slug
    kind: FaultKind
    start_min: Minutes
    end_min: Annotated[Minutes, Field(gt=0)]
    ramp_min: Minutes = 10.0


class SimulationConfig(_Strict):
    seed: Annotated[Whole, Field(ge=0, le=2**32 - 1)] = 7  # numpy's seeds are 32-bit
    speed: Annotated[Real, Field(gt=0, le=10_000)] = 1.0
    start: Annotated[datetime, BeforeValidator(_a_date_not_a_number), AfterValidator(_plausible_year)] | None = None
    tick_s: Annotated[Real, Field(ge=0.01, le=10)] = 0.1
    faults: list[FaultConfig] = []
    # Shifts, ambient cycle, products, drift, sensor failures, maintenance (None: runs flat out).
    operation: OperationConfig | None = None


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


def parse_plants(data: Any, source: str = "<plants>") -> PlantConfig:
    cfg = validate_model(PlantConfig, data, source)
    check_references(cfg, source)
    return cfg


def load_plants(path: str | Path) -> PlantConfig:
    path = Path(path)
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(root)", type(data).__name__, "expected a mapping with 'companies'")
    return parse_plants(data, str(path))
