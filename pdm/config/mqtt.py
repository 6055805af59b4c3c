"""An MQTT endpoint (a broker) as declared in a plant file, and its topic / Sparkplug B metric → tag map.

A tag is either a plain topic (its payload a bare number, or JSON with ``json_path`` naming the
number) or one Sparkplug B metric (``group`` / ``edge_node`` / optional ``device`` / ``metric``).
Each becomes one ``node_id`` string, so the catalog, the poller and the spool handle MQTT tags
exactly as OPC UA nodes: ``mqtt:<topic>[#<json_path>]`` or ``spb:<group>/<edge_node>/<device>/<metric>``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from pdm.config.base import BackfillHours, Flag, PathText, PositiveSeconds, Real, Slug, Text, Whole, _Strict
from pdm.config.endpoints import EnvName

_MQTT_URL = re.compile(r"^mqtts?://(?P<host>\[[^\]\s/]*\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?/?$")
_JSON_PATH = re.compile(r"^[A-Za-z0-9_$-]+(\[[0-9]{1,6}\])*(\.[A-Za-z0-9_$-]+(\[[0-9]{1,6}\])*)*$")
SPARKPLUG_PREFIX = "spBv1.0/"
PLAIN, SPARKPLUG = "mqtt:", "spb:"


def _mqtt_url(url: str) -> str:
    m = _MQTT_URL.match(url) if len(url) <= 2048 else None
    if m is None:
        raise ValueError("expected mqtt://host[:port] or mqtts://host[:port] (no user name, password or path in it)")
    if m["port"] is not None and not 1 <= int(m["port"]) <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    return url


def _topic(topic: str) -> str:
    """A topic to subscribe to as it is: one tag, one topic, so no wildcard."""
    if not 1 <= len(topic) <= 1024:
        raise ValueError("a topic has from 1 to 1024 characters")
    if "+" in topic or "#" in topic:
        raise ValueError("a tag's topic takes no wildcard (+ or #): map each topic to its tag")
    if "\x00" in topic or topic.startswith("$"):
        raise ValueError("not a topic this service may subscribe to (NUL, or a $SYS-like topic)")
    if topic.startswith(SPARKPLUG_PREFIX):
        raise ValueError("a Sparkplug B topic: give group, edge_node, device and metric instead of topic")
    return topic


def _json_path(path: str) -> str:
    if len(path) > 256 or not _JSON_PATH.match(path):
        raise ValueError("expected keys joined by dots, with [n] for a list item (e.g. data.temp or values[0])")
    return path


def _sparkplug_id(value: str) -> str:
    if not 1 <= len(value) <= 255 or any(c in value for c in "/+#"):
        raise ValueError("a Sparkplug B id has from 1 to 255 characters and no /, + or #")
    return value


Topic = Annotated[str, AfterValidator(_topic)]
JsonPath = Annotated[str, AfterValidator(_json_path)]
SparkplugId = Annotated[str, AfterValidator(_sparkplug_id)]
MetricName = Annotated[str, Field(min_length=1, max_length=400)]


class MqttTagMap(_Strict):
    """One plain topic, or one Sparkplug B metric, mapped to one tag of one asset."""

    tag: Slug
    unit: Annotated[str, Field(max_length=32)] = ""
    asset: Slug
    topic: Topic | None = None
    json_path: JsonPath | None = Field(None, validate_default=True)
    group: SparkplugId | None = Field(None, validate_default=True)
    edge_node: SparkplugId | None = Field(None, validate_default=True)
    device: SparkplugId | None = None
    metric: MetricName | None = Field(None, validate_default=True)

    @field_validator("json_path")
    @classmethod
    def _path_needs_topic(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("topic") is None:
            raise ValueError("json_path reads a plain topic's JSON payload: give topic too")
        return value

    # Each Sparkplug field is checked against topic where it stands, so the error names it.
    @field_validator("group", "edge_node", "metric")
    @classmethod
    def _plain_or_sparkplug(cls, value: str | None, info: ValidationInfo) -> str | None:
        plain = info.data.get("topic") is not None or "topic" not in info.data  # a bad topic was reported already
        if plain and value is not None:
            raise ValueError("a plain topic tag takes no Sparkplug B group, edge_node, device or metric")
        if not plain and value is None:
            raise ValueError("required for a Sparkplug B metric (or give topic, for a plain MQTT topic)")
        return value

    @property
    def node_id(self) -> str:
        if self.topic is not None:
            return PLAIN + self.topic + (f"#{self.json_path}" if self.json_path else "")
        return f"{SPARKPLUG}{self.group}/{self.edge_node}/{self.device or ''}/{self.metric}"


class MqttEndpointConfig(_Strict):
    kind: Literal["mqtt"]
    name: Slug
    endpoint_url: Annotated[str, AfterValidator(_mqtt_url)]
    # Fixed, so the broker keeps this endpoint's session (and its QoS 1 messages) across a restart
    # of the worker; unset: ``pdm-<name>``.
    client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    username: Text | None = None
    # As for OPC UA: a Fernet token (``pdmctl secrets encrypt``) or the name of an environment variable.
    password_encrypted: Annotated[str, Field(pattern=r"^gAAAAA[A-Za-z0-9_=-]{20,}$")] | None = Field(None, repr=False)
    password_env: EnvName | None = Field(None, validate_default=True)
    # The CA bundle (PEM) that signed the broker's certificate, for mqtts:// (else the system's).
    ca_file: PathText | None = Field(None, validate_default=True)
    qos: Annotated[Whole, Field(ge=0, le=2)] = 1  # Whole: strict, so true is not QoS 1
    # How long the broker keeps the session of a worker that went away (MQTT 5 session expiry).
    session_expiry_s: Annotated[Whole, Field(ge=0, le=4_294_967_295)] = 86_400
    keepalive_s: Annotated[Whole, Field(ge=5, le=3600)] = 30
    connect_timeout_s: PositiveSeconds = 5.0
    reconnect_max_delay_s: PositiveSeconds = 20.0
    # What arrived is stored every poll_interval_s (the broker pushes; nothing is polled).
    poll_interval_s: PositiveSeconds = 1.0
    # Where a plain JSON payload carries its source time (epoch s or ms, or ISO 8601); else receive time.
    timestamp_path: JsonPath | None = None
    timestamp_max_future_s: Annotated[Real, Field(ge=1, le=86_400)] = 300.0
    # A broker keeps no history to read back: after a take-over, a tag stored within this many hours
    # has the stretch nobody read recorded as a gap (an older one gets none).
    backfill_max_h: BackfillHours = 24.0
    enabled: Flag = True
    nodes: list[MqttTagMap] = []

    @field_validator("password_env")
    @classmethod
    def _one_password(cls, value: str | None, info: ValidationInfo) -> str | None:
        has_secret = value is not None or info.data.get("password_encrypted") is not None
        if value is not None and info.data.get("password_encrypted") is not None:
            raise ValueError("give either password_env or password_encrypted, not both")
        if has_secret and not info.data.get("username"):
            raise ValueError("a password needs a username")
        return value

    @field_validator("ca_file")
    @classmethod
    def _tls_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not str(info.data.get("endpoint_url", "mqtts:")).startswith("mqtts:"):
            raise ValueError("a CA file is used with mqtts:// only")
        return value

    @property
    def session_client_id(self) -> str:
        return self.client_id or f"pdm-{self.name}"
