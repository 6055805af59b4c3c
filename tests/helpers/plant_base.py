"""The valid base plant the bad-file corpus (tests.helpers.plant_corpus) is generated from, and the
helpers that write it and change one field of it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

NODE = "nsu=urn:pdm:simulator;s={company}/{asset}/{tag}"


def _nodes(company: str, asset: str, tags: list[str]) -> list[dict]:
    return [{"node_id": NODE.format(company=company, asset=asset, tag=t), "tag": t, "asset": asset} for t in tags]


def base_plant() -> dict:
    """A valid plant using most fields: two companies, three sites, a subscription endpoint with a
    username, notifications, costs, per-class and per-asset detection, and faults."""
    return {
        "companies": [
            {
                "id": "acme",
                "name": "Acme Pumps (Cléon)",
                "sites": [
                    {
                        "id": "north",
                        "name": "North hall",
                        "assets": [
                            {
                                "id": "P-1",
                                "name": "Pump 1",
                                "asset_class": "centrifugal_pump",
                                "criticality": 4,
                                "downtime_cost_per_hour": 1800,
                                "silent_period_min": 30,
                                "costs": {"planned_repair_cost": 600, "unplanned_downtime_h": {"bearing_wear": 8}},
                                "detection": {"detector": "mad", "debounce_rows": 3, "false_alerts_per_month": 2},
                            },
                            {"id": "P-2", "asset_class": "centrifugal_pump"},
                        ],
                        "endpoints": [
                            {
                                "name": "north-plc",
                                "endpoint_url": "opc.tcp://127.0.0.1:48401/pdm/acme",
                                "mode": "subscribe",
                                "poll_interval_s": 0.5,
                                "sampling_interval_s": 0.25,
                                "publishing_interval_s": 0.5,
                                "queue_size": 10,
                                "deadband": 0.01,
                                "max_nodes_per_read": 100,
                                "connect_timeout_s": 5,
                                "request_timeout_s": 5,
                                "reconnect_max_delay_s": 20,
                                "auth_method": "username",
                                "username": "reader",
                                "password_env": "ACME_PLC_PASSWORD",
                                "enabled": True,
                                "trust_server_certificate": False,
                                "nodes": _nodes("acme", "P-1", ["flow", "vibration", "bearing_temp"])
                                + _nodes("acme", "P-2", ["flow", "vibration"]),
                            }
                        ],
                    },
                    {
                        "id": "south",
                        "assets": [{"id": "C-1", "asset_class": "air_compressor", "downtime_cost_per_hour": 900}],
                        "endpoints": [
                            {
                                "name": "south-plc",
                                "endpoint_url": "opc.tcp://plc-south.example:4840",
                                "nodes": _nodes("acme", "C-1", ["load", "oil_temp"]),
                            }
                        ],
                    },
                ],
                "notifications": {
                    "smtp": {
                        "host": "smtp.example",
                        "port": 587,
                        "from_addr": "pdm@acme.example",
                        "username": "pdm",
                        "password_env": "SMTP_PASSWORD",
                        "timeout_s": 10,
                    },
                    "email": [{"to": ["maint@acme.example"], "min_severity": "high"}],
                    "webhooks": [{"url": "https://hooks.example/pdm", "min_severity": "medium", "timeout_s": 5}],
                },
            },
            {
                "id": "beta",
                "sites": [
                    {
                        "id": "main",
                        "assets": [{"id": "S-1", "asset_class": "cnc_spindle", "criticality": 2}],
                        "endpoints": [
                            {
                                "name": "beta-plc",
                                "endpoint_url": "opc.tcp://10.0.0.7:4840/beta",
                                "poll_interval_s": 1,
                                "nodes": [
                                    {"node_id": "ns=2;s=S-1.speed", "tag": "speed", "unit": "rpm", "asset": "S-1"},
                                    {"node_id": "ns=2;i=1001", "tag": "load", "unit": "%", "asset": "S-1"},
                                ],
                            }
                        ],
                    }
                ],
            },
        ],
        "simulation": {
            "seed": 7,
            "speed": 60,
            "tick_s": 0.1,
            "faults": [
                {"company": "acme", "asset": "P-1", "kind": "bearing_wear", "start_min": 65, "end_min": 180},
                {"company": "beta", "asset": "S-1", "kind": "cooling_failure", "start_min": 5, "end_min": 50},
            ],
        },
        "detection": {
            "detector": "pca",
            "train_min_rows": 60,
            "train_min_span_min": 60,
            "train_max_rows": 2000,
            "retrain_after_h": 168,
            "holdout_fraction": 0.2,
            "smooth_rows": 3,
            "false_alerts_per_month": 1,
            "debounce_rows": 4,
            "score_interval_s": 2,
            "train_interval_s": 5,
            "silent_period_min": 240,
            "max_workers": 2,
            "fleet": {"min_companies": 2, "min_assets": 3, "baseline_min": 30, "retrain_interval_s": 3600},
            "classes": {"cnc_spindle": {"detector": "rebase", "smooth_rows": 5, "silent_period_min": 10}},
        },
        "cost_defaults": {
            "centrifugal_pump": {
                "downtime_cost_per_hour": 1800,
                "unplanned_downtime_h": {"bearing_wear": 8, "cavitation": 4},
                "default_downtime_h": 4,
                "planned_repair_cost": 600,
                "emergency_repair_cost": 2400,
                "intervention_cost": 250,
                "false_alarm_inspection_cost": 120,
            }
        },
    }


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    field: str | None = None  # the exact field path the error must name
    fragment: str | None = None  # or a text the message must contain
    secret: str | None = None  # a text the message must never contain


def path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def mutated(path: tuple, value: Any, base: dict | None = None) -> dict:
    data = copy.deepcopy(base or BASE)
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = copy.deepcopy(value)
    return data


def removed(path: tuple) -> dict:
    data = copy.deepcopy(BASE)
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return data


BASE = base_plant()

C0, C1 = ("companies", 0), ("companies", 1)
S0, S1 = (*C0, "sites", 0), (*C0, "sites", 1)
B0 = (*C1, "sites", 0)
E0, E1, E2 = (*S0, "endpoints", 0), (*S1, "endpoints", 0), (*B0, "endpoints", 0)
A0 = (*S0, "assets", 0)
SMTP = (*C0, "notifications", "smtp")
DET = ("detection",)
SIM = ("simulation",)
BASE_TEXT = dump(BASE).decode()
