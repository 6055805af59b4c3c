"""Connectors bring readings in. Each kind is registered by name here, in one place.

A kind is the plant file's endpoint ``kind`` (pdm.config.kinds); adding Modbus is one new module
implementing ``Connector`` (plus ``probe`` and ``browse`` for onboarding), one settings model and
one line below.
"""

from __future__ import annotations

from pdm.connectors.base import Connector, ConnectorRefused, Reading, Refusal, is_good, status_name
from pdm.connectors.mqtt import MqttConnector
from pdm.connectors.opcua import OpcUaConnector
from pdm.connectors.subscribe import OpcUaSubscriber

CONNECTORS: dict[str, type] = {
    "opcua": OpcUaConnector,
    "opcua-subscribe": OpcUaSubscriber,
    "mqtt": MqttConnector,
}


def make_connector(endpoint, kind: str | None = None, **options) -> Connector:
    """The connector of ``endpoint``'s kind (``options`` go to it, e.g. ``pki_dir``); OPC UA's
    ``mode: subscribe`` picks the subscriber."""
    kind = kind or str(getattr(endpoint, "kind", "opcua"))
    if kind == "opcua" and getattr(endpoint, "mode", "poll") == "subscribe":
        kind = "opcua-subscribe"
    try:
        cls = CONNECTORS[kind]
    except KeyError:
        raise ValueError(f"unknown connector {kind!r}; known: {', '.join(sorted(CONNECTORS))}") from None
    return cls(endpoint, **options)


__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorRefused",
    "Reading",
    "Refusal",
    "is_good",
    "make_connector",
    "status_name",
]
