"""The simulated plant behind real asyncua servers, read by a real asyncua client."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, ua

from pdm.config import FaultConfig, parse_plants
from pdm.errors import ConfigError
from pdm.simulator import SENSORS, SimClock, SimulatedPlant

URI = "urn:pdm:simulator"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SPEED = 60.0
PLC_PUMP_TAGS = [tag for tag in SENSORS["centrifugal_pump"] if tag != "flow"]  # flow comes from the SCADA


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nodes(company, asset, asset_class, tags=None):
    return [
        {"node_id": f"nsu={URI};s={company}/{asset}/{tag}", "tag": tag, "asset": asset, "unit": unit}
        for tag, unit in SENSORS[asset_class].items()
        if tags is None or tag in tags
    ]


def plant_config(shared_url, other_url, **simulation):
    """Two companies; both serve from ``shared_url``; the first also has ``other_url``, which serves
    P-101's flow (a tag is read from one endpoint of its site, so the PLC serves P-101's other tags)."""
    return parse_plants(
        {
            "companies": [
                {
                    "id": "cleon-moteurs",
                    "sites": [
                        {
                            "id": "usine",
                            "assets": [
                                {"id": "P-101", "asset_class": "centrifugal_pump"},
                                {"id": "C-201", "asset_class": "air_compressor"},
                            ],
                            "endpoints": [
                                {
                                    "name": "plc",
                                    "endpoint_url": shared_url,
                                    "nodes": nodes("cleon-moteurs", "P-101", "centrifugal_pump", PLC_PUMP_TAGS)
                                    + nodes("cleon-moteurs", "C-201", "air_compressor"),
                                },
                                {
                                    "name": "scada",
                                    "endpoint_url": other_url,
                                    "nodes": [{"node_id": "ns=2;s=P-101.flow", "tag": "flow", "asset": "P-101"}],
                                },
                            ],
                        }
                    ],
                },
                {
                    "id": "usinage-ouest",
                    "sites": [
                        {
                            "id": "atelier",
                            "assets": [{"id": "S-1", "asset_class": "cnc_spindle"}],
                            "endpoints": [
                                {
                                    "name": "cnc",
                                    "endpoint_url": shared_url,
                                    "nodes": nodes("usinage-ouest", "S-1", "cnc_spindle"),
                                }
                            ],
                        }
                    ],
                },
            ],
            "simulation": {"seed": 3, "speed": SPEED, "tick_s": 0.1, **simulation},
        }
    )


def one_pump_config(url, **simulation):
    return parse_plants(
        {
            "companies": [
                {
                    "id": "acme",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "P-1", "asset_class": "centrifugal_pump"}],
                            "endpoints": [
                                {"name": "e", "endpoint_url": url, "nodes": nodes("acme", "P-1", "centrifugal_pump")}
                            ],
                        }
                    ],
                }
            ],
            "simulation": simulation,
        }
    )


@pytest.fixture(scope="module")
def plant():
    shared, other = f"opc.tcp://127.0.0.1:{free_port()}", f"opc.tcp://localhost:{free_port()}"
    faults = [{"company": "cleon-moteurs", "asset": "P-101", "kind": "cavitation", "start_min": 60, "end_min": 90}]
    sim = SimulatedPlant(plant_config(shared, other, faults=faults), start=START)
    with sim.in_thread():
        yield sim


async def read_all(client, company, asset, asset_class, tags=None):
    idx = await client.get_namespace_index(URI)  # nsu= ids are resolved through the namespace array
    tags = SENSORS[asset_class] if tags is None else tags
    ids = [client.get_node(ua.NodeId(f"{company}/{asset}/{tag}", idx)) for tag in tags]
    return await client.read_attributes(ids)


# ---- validation: no I/O in the constructor --------------------------------------------------------


def test_unknown_tag_is_a_config_error_naming_the_field():
    cfg = plant_config("opc.tcp://127.0.0.1:4841", "opc.tcp://127.0.0.1:4842")
    data = cfg.model_dump()
    data["companies"][1]["sites"][0]["endpoints"][0]["nodes"][2]["tag"] = "flow"
    with pytest.raises(ConfigError) as err:
        SimulatedPlant(parse_plants(data), source="plants.yaml")
    assert err.value.source == "plants.yaml"
    assert err.value.field == "companies[1].sites[0].endpoints[0].nodes[2].tag"
    assert err.value.value == "flow"
    assert "not a sensor of cnc_spindle" in err.value.reason and "spindle_speed" in err.value.reason


@pytest.mark.parametrize("node_id", ["i=42", "ns=2;i=7", "s=P-1/flow", "ns=0;s=P-1/flow", "nsu=;s=x"])
def test_node_id_must_be_a_string_id_with_namespace(node_id):
    data = one_pump_config("opc.tcp://127.0.0.1:4841").model_dump()
    data["companies"][0]["sites"][0]["endpoints"][0]["nodes"][0]["node_id"] = node_id
    with pytest.raises(ConfigError) as err:
        SimulatedPlant(parse_plants(data))
    assert err.value.field == "companies[0].sites[0].endpoints[0].nodes[0].node_id"


def test_fault_on_wrong_class_is_refused_naming_class_and_kind():
    cfg = plant_config("opc.tcp://127.0.0.1:4841", "opc.tcp://127.0.0.1:4842")
    bad = FaultConfig(company="cleon-moteurs", asset="C-201", kind="cavitation", start_min=1, end_min=5)
    with pytest.raises(ValueError, match="cavitation.*air_compressor") as err:
        SimulatedPlant(cfg, faults=[bad])
    assert isinstance(err.value, ConfigError) and err.value.field == "faults[0].kind"
    with pytest.raises(ConfigError, match="simulation.faults"):
        SimulatedPlant(plant_config("opc.tcp://127.0.0.1:4841", "opc.tcp://127.0.0.1:4842", faults=[bad.model_dump()]))


def test_properties_before_start():
    sim = SimulatedPlant(
        plant_config("opc.tcp://127.0.0.1:4841", "opc.tcp://127.0.0.1:4842"),
        start=START,
        faults=[FaultConfig(company="usinage-ouest", asset="S-1", kind="imbalance", start_min=30, end_min=90)],
    )
    assert {"company": "usinage-ouest", "asset": "S-1", "class": "cnc_spindle"} in sim.assets
    assert len(sim.assets) == 3
    assert sim.faults == [
        {
            "company": "usinage-ouest",
            "asset": "S-1",
            "kind": "imbalance",
            "start": START + timedelta(minutes=30),
            "end": START + timedelta(minutes=90),
            "benign": False,
        }
    ]
    assert sim.clock.start == START.timestamp() and sim.clock.speed == SPEED
    assert sorted(sim.urls) == ["opc.tcp://127.0.0.1:4841", "opc.tcp://127.0.0.1:4842"]


def test_sim_clock_runs_speed_times_faster():
    clock = SimClock(1000.0, 100.0)
    time.sleep(0.05)
    assert 1000.0 + 4.0 < clock.now() < 1000.0 + 20.0
    assert clock.now_datetime().tzinfo is UTC


# ---- served values ------------------------------------------------------------------------------


async def test_client_reads_good_doubles_stamped_on_the_sim_clock(plant):
    url = plant.urls[0]
    async with Client(url, timeout=5) as client:
        values = await read_all(client, "cleon-moteurs", "P-101", "centrifugal_pump", PLC_PUMP_TAGS)
        values += await read_all(client, "cleon-moteurs", "C-201", "air_compressor")
        values += await read_all(client, "usinage-ouest", "S-1", "cnc_spindle")  # other company, same URL
        now = plant.clock.now_datetime()
    assert len(values) == 20
    for dv in values:
        assert dv.StatusCode.is_good()
        assert dv.Value.VariantType == ua.VariantType.Double
        assert START <= dv.SourceTimestamp <= now + timedelta(seconds=1)
        assert dv.SourceTimestamp == dv.ServerTimestamp
        assert now - dv.SourceTimestamp < timedelta(seconds=SPEED * 1.0)  # under a second of wall lag


async def test_timestamps_advance_speed_times_wall_time_and_values_change(plant):
    async with Client(plant.urls[0], timeout=5) as client:
        first = await read_all(client, "cleon-moteurs", "C-201", "air_compressor")
        t0 = time.monotonic()
        await asyncio.sleep(1.0)
        second = await read_all(client, "cleon-moteurs", "C-201", "air_compressor")
        wall = time.monotonic() - t0
    sim_elapsed = (second[0].SourceTimestamp - first[0].SourceTimestamp).total_seconds()
    assert sim_elapsed == pytest.approx(SPEED * wall, abs=2 * SPEED * 0.1 + 5)
    assert sum(a.Value.Value != b.Value.Value for a, b in zip(first, second)) >= 6


async def test_numeric_namespace_node_on_second_server(plant):
    url = next(u for u in plant.urls if "localhost" in u)
    async with Client(url, timeout=5) as client:
        dv = await client.get_node("ns=2;s=P-101.flow").read_data_value()
        endpoints = await client.get_endpoints()
    assert dv.StatusCode.is_good() and 20 < dv.Value.Value < 200
    assert {e.SecurityPolicyUri.rsplit("#", 1)[-1] for e in endpoints} == {"None"}
    assert {e.Server.ApplicationName.Text for e in endpoints} == {"PdM simulated plant"}


def test_latest_values_follow_the_asset_models(plant):
    latest = plant.latest()
    assert set(latest) == {("cleon-moteurs", "P-101"), ("cleon-moteurs", "C-201"), ("usinage-ouest", "S-1")}
    assert list(latest[("usinage-ouest", "S-1")]) == list(SENSORS["cnc_spindle"])


# ---- lifecycle ----------------------------------------------------------------------------------


async def test_async_with_serves_then_stops_quickly_and_frees_the_port():
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    sim = SimulatedPlant(one_pump_config(url, speed=10.0, seed=1))
    async with sim:
        client = Client(url, timeout=2)
        await client.connect()
        try:
            assert (await read_all(client, "acme", "P-1", "centrifugal_pump"))[0].StatusCode.is_good()
            t0 = time.monotonic()
            await sim.stop()
            assert time.monotonic() - t0 < 1.0
            with pytest.raises((OSError, asyncio.TimeoutError)):  # nothing listens any more
                await Client(url, timeout=1).connect()
        finally:
            await asyncio.wait_for(client.disconnect(), 2)  # tolerates the closed connection
    with socket.socket() as s:  # no listener left (TIME_WAIT remains, as for any server restart)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_in_thread_reraises_startup_errors():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        url = f"opc.tcp://127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(OSError):
            with SimulatedPlant(one_pump_config(url)).in_thread():
                pass
