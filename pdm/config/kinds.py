"""An endpoint of any kind: the plant file's ``kind`` picks its settings (``opcua`` when left out).

A pydantic discriminated union, so each kind validates only its own fields; its tags are
``Tag("kind=<kind>")`` so that ``pdm.config.base`` can leave them out of the field path an error
names (``endpoints[0].qos``, not ``endpoints[0].kind=mqtt.qos``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from pdm.config.base import validate_model
from pdm.config.endpoints import EndpointConfig
from pdm.config.mqtt import MqttEndpointConfig

KINDS: dict[str, type] = {"opcua": EndpointConfig, "mqtt": MqttEndpointConfig}


def _kind(value: Any) -> str:
    kind = value.get("kind", "opcua") if isinstance(value, dict) else getattr(value, "kind", "opcua")
    # An unknown kind goes to OPC UA's model, whose ``kind`` field then refuses it by name.
    return f"kind={kind}" if isinstance(kind, str) and kind in KINDS else "kind=opcua"


AnyEndpoint = Annotated[
    Annotated[EndpointConfig, Tag("kind=opcua")] | Annotated[MqttEndpointConfig, Tag("kind=mqtt")],
    Discriminator(_kind),
]


def endpoint_config(settings: dict, source: str) -> EndpointConfig | MqttEndpointConfig:
    """The endpoint's validated settings, of the model its ``kind`` names (stored settings carry it)."""
    kind = _kind(settings).removeprefix("kind=")
    return validate_model(KINDS[kind], settings, source)
