"""Plant configs for the tests: each asset class's sensor tags and ``plant_dict``, one endpoint per company."""

from __future__ import annotations

from tests.helpers.servers import free_port

SENSORS = {
    "centrifugal_pump": [
        "flow",
        "discharge_pressure",
        "suction_pressure",
        "motor_current",
        "vibration",
        "bearing_temp",
        "motor_temp",
    ],
    "air_compressor": [
        "load",
        "discharge_pressure",
        "airflow",
        "motor_current",
        "oil_temp",
        "discharge_temp",
        "vibration",
    ],
    "cnc_spindle": [
        "spindle_speed",
        "spindle_load",
        "motor_current",
        "vibration",
        "spindle_temp",
        "coolant_temp",
        "coolant_flow",
    ],
}


def plant_dict(
    companies: dict[str, list[tuple[str, str]]], *, faults=(), speed=60.0, poll_interval_s=0.2, **detection
) -> dict:
    """A plant config: {company: [(asset, class), ...]}, one endpoint per company on a free port."""
    out = []
    for company, assets in companies.items():
        nodes = [
            {"node_id": f"nsu=urn:pdm:simulator;s={company}/{a}/{t}", "tag": t, "asset": a}
            for a, cls in assets
            for t in SENSORS[cls]
        ]
        out.append(
            {
                "id": company,
                "sites": [
                    {
                        "id": "site",
                        "assets": [{"id": a, "asset_class": cls} for a, cls in assets],
                        "endpoints": [
                            {
                                "name": "plc",
                                "endpoint_url": f"opc.tcp://127.0.0.1:{free_port()}/pdm/{company}",
                                "poll_interval_s": poll_interval_s,
                                "nodes": nodes,
                            }
                        ],
                    }
                ],
            }
        )
    return {"companies": out, "simulation": {"seed": 7, "speed": speed, "faults": list(faults)}, "detection": detection}


def one_endpoint(url: str, nodes: list[dict], *, assets=("P-1",), **endpoint) -> dict:
    """A plant file of one company (acme), one site, pumps ``assets`` and one endpoint reading ``nodes``."""
    return {
        "companies": [
            {
                "id": "acme",
                "sites": [
                    {
                        "id": "s",
                        "assets": [{"id": a, "asset_class": "centrifugal_pump"} for a in assets],
                        "endpoints": [{"name": "plc", "endpoint_url": url, **endpoint, "nodes": nodes}],
                    }
                ],
            }
        ]
    }


def small_plant_config():
    """Two companies, three assets, one bearing fault on acme/P-1 (the ``small_plant`` fixture)."""
    from pdm.config import parse_plants

    return parse_plants(
        plant_dict(
            {"acme": [("P-1", "centrifugal_pump"), ("C-1", "air_compressor")], "beta": [("S-1", "cnc_spindle")]},
            faults=[
                {
                    "company": "acme",
                    "asset": "P-1",
                    "kind": "bearing_wear",
                    "start_min": 40,
                    "end_min": 200,
                    "ramp_min": 10,
                }
            ],
        )
    )
