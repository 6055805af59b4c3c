"""Simulated plant: physically plausible assets with injectable faults, served over OPC UA."""

from pdm.simulator.physics import SENSORS, AssetModel
from pdm.simulator.server import SimClock, SimulatedPlant

__all__ = ["SENSORS", "AssetModel", "SimClock", "SimulatedPlant"]
