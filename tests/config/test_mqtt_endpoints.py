"""MQTT endpoints in the plant file: accepted as written, refused in one line naming the field and value.

Each bad case goes through ``load_plants`` (what ``pdmctl config check`` calls) and is judged by the
corpora's helper: one line, the file, the field path (no union tag in it), no secret echoed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import yaml

from pdm.config import MqttEndpointConfig, load_plants
from pdm.errors import ConfigError
from tests.helpers.config_errors import refusal_problem

MQTT = {
    "kind": "mqtt",
    "name": "broker",
    "endpoint_url": "mqtts://broker.example:8883",
    "client_id": "pdm-acme",
    "username": "pdm",
    "password_env": "MQTT_PASSWORD",
    "ca_file": "/etc/pdm/broker-ca.pem",
    "timestamp_path": "ts",
    "nodes": [
        {"tag": "temp", "asset": "p1", "topic": "kit/p1/temp"},
        {"tag": "vib", "asset": "p1", "topic": "kit/p1/json", "json_path": "data.vib[0]"},
        {"tag": "force", "asset": "p1", "group": "plant", "edge_node": "gw1", "device": "press", "metric": "F/x"},
        {"tag": "uptime", "asset": "p1", "group": "plant", "edge_node": "gw1", "metric": "uptime"},
    ],
}
PLANT = {
    "companies": [
        {
            "id": "acme",
            "sites": [
                {
                    "id": "north",
                    "assets": [{"id": "p1", "asset_class": "pump"}],
                    "endpoints": [{"name": "plc", "endpoint_url": "opc.tcp://plc.example:4840"}, MQTT],
                }
            ],
        }
    ]
}
E = "companies[0].sites[0].endpoints[1]"


@dataclass
class Case:
    field: str | None
    fragment: str | None = None
    secret: str | None = None


def _plant(change) -> dict:
    data = copy.deepcopy(PLANT)
    change(data["companies"][0]["sites"][0]["endpoints"][1])
    return data


def _set(key, value):
    return lambda ep: ep.__setitem__(key, value)


def _node(i, key, value):
    return lambda ep: ep["nodes"][i].__setitem__(key, value)


def _drop(i, key):
    return lambda ep: ep["nodes"][i].pop(key)


BAD = [
    (_set("kind", "modbus"), Case(f"{E}.kind", "unknown endpoint kind: expected opcua or mqtt")),
    (_set("endpoint_url", "opc.tcp://b:1883"), Case(f"{E}.endpoint_url", "expected mqtt://host[:port]")),
    (_set("endpoint_url", "mqtt://user:pw@b:1883"), Case(f"{E}.endpoint_url", "no user name, password")),
    (_set("endpoint_url", "mqtt://b:70000"), Case(f"{E}.endpoint_url", "port must be from 1 to 65535")),
    (_set("qos", 3), Case(f"{E}.qos", "less than or equal to 2")),
    (_set("qos", True), Case(f"{E}.qos")),
    (_set("client_id", "has space"), Case(f"{E}.client_id", "has space")),
    (_set("password_env", "Tr0ub4dor&3"), Case(f"{E}.password_env", "looks like a password", "Tr0ub4dor&3")),
    (_set("endpoint_url", "mqtt://b:1883"), Case(f"{E}.ca_file", "mqtts:// only")),
    (lambda ep: ep.pop("username"), Case(f"{E}.password_env", "a password needs a username")),
    (_set("timestamp_path", "a..b"), Case(f"{E}.timestamp_path", "keys joined by dots")),
    (_node(0, "topic", "kit/+/temp"), Case(f"{E}.nodes[0].topic", "no wildcard")),
    (_node(0, "topic", "spBv1.0/plant/DDATA/gw1"), Case(f"{E}.nodes[0].topic", "give group, edge_node")),
    (_node(0, "metric", "x"), Case(f"{E}.nodes[0].metric", "a plain topic tag takes no Sparkplug B")),
    (_node(1, "json_path", "data[x]"), Case(f"{E}.nodes[1].json_path", "data[x]")),
    (_drop(2, "edge_node"), Case(f"{E}.nodes[2].edge_node", "required for a Sparkplug B metric")),
    (_node(2, "group", "a/b"), Case(f"{E}.nodes[2].group", "no /, + or #")),
    (_node(2, "json_path", "a"), Case(f"{E}.nodes[2].json_path", "give topic too")),
    (_node(3, "asset", "nope"), Case(f"{E}.nodes[3].asset", "no such asset on this site")),
    (_node(3, "tag", "temp"), Case(f"{E}.nodes[3].tag", "tag mapped twice")),
    (_set("nodes", [{"tag": "t", "asset": "p1"}]), Case(f"{E}.nodes[0].group", "or give topic")),
]


def test_an_mqtt_endpoint_is_accepted_beside_an_opc_ua_one(tmp_path):
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(PLANT))
    site = load_plants(path).companies[0].sites[0]
    opc, mqtt = site.endpoints
    assert (opc.kind, mqtt.kind) == ("opcua", "mqtt") and isinstance(mqtt, MqttEndpointConfig)
    assert [n.node_id for n in mqtt.nodes] == [
        "mqtt:kit/p1/temp",
        "mqtt:kit/p1/json#data.vib[0]",
        "spb:plant/gw1/press/F/x",
        "spb:plant/gw1//uptime",
    ]
    assert mqtt.session_client_id == "pdm-acme" and mqtt.qos == 1


@pytest.mark.parametrize("change,case", BAD, ids=[c.field or c.fragment for _, c in BAD])
def test_a_bad_mqtt_endpoint_is_refused_in_one_line_naming_its_field(tmp_path, change, case):
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(_plant(change)))
    with pytest.raises(ConfigError) as refused:
        load_plants(path)
    assert refusal_problem(refused.value, str(path), case, max_chars=600) is None
