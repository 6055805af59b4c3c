"""The simulated plant keeps a bounded history of every served node, read back with HistoryRead."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client, ua

from pdm.connectors import history
from pdm.simulator import SENSORS, SimulatedPlant
from pdm.simulator.server import DEFAULT_HISTORY_S
from tests.simulator.test_server import START, URI, free_port, one_pump_config

TICK_S, SPEED = 0.05, 60.0


async def _nodes(client) -> dict[str, ua.NodeId]:
    idx = await client.get_namespace_index(URI)
    return {tag: ua.NodeId(f"acme/P-1/{tag}", idx) for tag in SENSORS["centrifugal_pump"]}


def test_history_is_on_by_default_and_bounded_by_count():
    cfg = one_pump_config("opc.tcp://127.0.0.1:4841", tick_s=TICK_S)
    assert SimulatedPlant(cfg).history_values == round(DEFAULT_HISTORY_S / TICK_S)
    assert SimulatedPlant(cfg, history_s=1.0).history_values == 20
    assert SimulatedPlant(cfg, history_s=0).history_values == 0
    with pytest.raises(ValueError, match="history_s"):
        SimulatedPlant(cfg, history_s=-1)


async def test_each_node_keeps_its_last_values_stamped_on_the_sim_clock():
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    plant = SimulatedPlant(one_pump_config(url, tick_s=TICK_S, speed=SPEED), start=START, history_s=1.0)
    async with plant:
        await asyncio.sleep(2.0)  # about 40 ticks: twice what the history keeps
        async with Client(url, timeout=5) as client:
            nodes = await _nodes(client)
            assert await history.historizing(client, nodes) == dict.fromkeys(nodes, True)
            current = await client.uaclient.read_attributes(list(nodes.values()), ua.AttributeIds.Value)
            served = {(dv.SourceTimestamp.timestamp(), dv.Value.Value) for dv in current}
            for _ in range(25):  # the server files a value into history just after serving it
                got = await history.read_raw(
                    client, nodes, dict.fromkeys(nodes, START.timestamp() - 1), plant.clock.now() + 3600
                )
                if served <= {(r.ts, r.value) for rs in got.readings.values() for r in rs}:
                    break
                await asyncio.sleep(0.02)
    assert got.failed == {}
    step = TICK_S * SPEED  # simulated seconds between ticks
    for (tag, readings), dv in zip(got.readings.items(), current):
        # Every tick's value, the last 20 only (the oldest were dropped), up to the one served now.
        assert len(readings) == 20, tag
        # One value per tick published (a loaded loop publishes only the newest of the ticks it caught up).
        ticks = [(b.ts - a.ts) / step for a, b in zip(readings, readings[1:])]
        assert all(t >= 1 and abs(t - round(t)) < 1e-6 for t in ticks), tag
        assert readings[0].ts > START.timestamp()
        # The value read just before is in the history (the plant may have ticked since).
        assert (dv.SourceTimestamp.timestamp(), dv.Value.Value) in [(r.ts, r.value) for r in readings], tag


async def test_history_can_be_turned_off():
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    async with SimulatedPlant(one_pump_config(url, tick_s=TICK_S), start=START, history_s=0):
        async with Client(url, timeout=5) as client:
            nodes = await _nodes(client)
            assert await history.historizing(client, nodes) == dict.fromkeys(nodes, False)
            got = await history.read_raw(client, nodes, dict.fromkeys(nodes, START.timestamp() - 1), 4e9)
    assert got.failed == dict.fromkeys(nodes, "BadHistoryOperationUnsupported")
