"""Connectors bring readings in. Each kind is registered by name here, in one place.

Adding MQTT or Modbus is one new module implementing ``Connector`` and one line below.
"""

from __future__ import annotations

from pdm.config import EndpointConfig
from pdm.connectors.base import Connector, Reading, is_good, status_name
from pdm.connectors.opcua import OpcUaConnector
from pdm.connectors.subscribe import OpcUaSubscriber

CONNECTORS: dict[str, type] = {
    "opcua": OpcUaConnector,
    "opcua-subscribe": OpcUaSubscriber,
}


def make_connector(endpoint: EndpointConfig, kind: str = "opcua", **options) -> Connector:
    """``options`` go to the connector (e.g. ``pki_dir``); ``mode: subscribe`` picks the subscriber."""
    if kind == "opcua" and endpoint.mode == "subscribe":
        kind = "opcua-subscribe"
    try:
        cls = CONNECTORS[kind]
    except KeyError:
        raise ValueError(f"unknown connector {kind!r}; known: {', '.join(sorted(CONNECTORS))}") from None
    return cls(endpoint, **options)


__all__ = ["CONNECTORS", "Connector", "Reading", "is_good", "make_connector", "status_name"]
