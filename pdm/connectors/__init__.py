"""Connectors bring readings in. Each kind is registered by name here, in one place.

Adding MQTT or Modbus is one new module implementing ``Connector`` and one line below.
"""

from __future__ import annotations

from pdm.config import EndpointConfig
from pdm.connectors.base import Connector, Reading, is_good
from pdm.connectors.opcua import OpcUaConnector

CONNECTORS: dict[str, type] = {
    "opcua": OpcUaConnector,
}


def make_connector(endpoint: EndpointConfig, kind: str = "opcua") -> Connector:
    try:
        cls = CONNECTORS[kind]
    except KeyError:
        raise ValueError(f"unknown connector {kind!r}; known: {', '.join(sorted(CONNECTORS))}") from None
    return cls(endpoint)


__all__ = ["CONNECTORS", "Connector", "Reading", "is_good", "make_connector"]
