"""Configuration, declared once: the plant file (YAML) and the service settings (TOML/env).

Every file and every UI form goes through these pydantic models. ``load_plants`` and
``load_settings`` turn any validation failure into a ``ConfigError`` that names the file,
the field path and the bad value, so the CLI can print one line and exit with code 2.
"""

from pdm.config.base import SECRET_FIELDS, PositiveSeconds, Slug, validate_model
from pdm.config.detection import DETECTOR_NAMES, DetectionConfig, FleetConfig
from pdm.config.endpoints import EndpointConfig, NodeMap
from pdm.config.kinds import KINDS, AnyEndpoint, endpoint_config
from pdm.config.mqtt import MqttEndpointConfig, MqttTagMap
from pdm.config.plants import (
    SEVERITIES,
    AssetConfig,
    CompanyConfig,
    CostModel,
    EmailRoute,
    FaultConfig,
    FaultKind,
    Hours,
    Money,
    NotificationsConfig,
    PlantConfig,
    Severity,
    SimulationConfig,
    SiteConfig,
    SmtpConfig,
    WebhookRoute,
    load_plants,
    parse_plants,
    severity_rank,
)
from pdm.config.settings import RetentionConfig, Settings, load_settings

__all__ = [
    "SECRET_FIELDS",
    "PositiveSeconds",
    "Slug",
    "validate_model",
    "DETECTOR_NAMES",
    "DetectionConfig",
    "FleetConfig",
    "EndpointConfig",
    "AnyEndpoint",
    "KINDS",
    "endpoint_config",
    "MqttEndpointConfig",
    "MqttTagMap",
    "NodeMap",
    "AssetConfig",
    "CompanyConfig",
    "CostModel",
    "EmailRoute",
    "FaultConfig",
    "FaultKind",
    "Hours",
    "Money",
    "NotificationsConfig",
    "PlantConfig",
    "SEVERITIES",
    "Severity",
    "severity_rank",
    "SimulationConfig",
    "SiteConfig",
    "SmtpConfig",
    "WebhookRoute",
    "load_plants",
    "parse_plants",
    "RetentionConfig",
    "Settings",
    "load_settings",
]
