"""The simulated plant behind real OPC UA servers: one asyncua server per endpoint URL.

The plant owns a simulated clock. Every ``tick_s`` wall seconds it advances every asset model by
``tick_s * speed`` simulated seconds and writes each value with its source timestamp on that
clock, so everything downstream (ingest, detection, alerts) runs in simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pdm.config import FaultConfig, PlantConfig
from pdm.simulator.clock import SimClock
from pdm.simulator.layout import FaultNotApplicable, check_endpoints, check_faults, simulated_classes
from pdm.simulator.opcua_host import SERVER_STOP_S, build_server, publish, stop_servers, write_server_time
from pdm.simulator.operation import check_operation, operated_assets
from pdm.simulator.physics import BENIGN_KINDS, fault_severity

__all__ = ["FaultNotApplicable", "SERVER_STOP_S", "SimClock", "SimulatedPlant"]

log = logging.getLogger(__name__)

_MAX_CATCH_UP = 50  # ticks replayed one by one after a stall; beyond that, one long step
# Wall seconds of values each served node keeps for HistoryRead (a client back from an outage reads
# what it missed): 120 s at the default 0.1 s tick is 1,200 values, about 0.3 MB per node.
DEFAULT_HISTORY_S = 120.0


def _as_utc(value: datetime) -> datetime:
    # A naive datetime in a plant file means UTC: the plant has no local time zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SimulatedPlant:
    """Simulated assets served over OPC UA. No I/O until ``start()``; use ``async with``."""

    def __init__(
        self,
        plants: PlantConfig,
        *,
        speed: float | None = None,
        seed: int | None = None,
        start: datetime | None = None,
        faults: list[FaultConfig] | None = None,
        source: str = "<plants>",
        history_s: float = DEFAULT_HISTORY_S,
    ):
        """``history_s``: each node's history covers that many wall seconds of ticks (0: no history)."""
        sim = plants.simulation
        self._speed = float(sim.speed if speed is None else speed)
        if not 0 < self._speed <= 10_000:
            raise ValueError(f"speed must be in (0, 10000], got {self._speed}")
        self._seed = sim.seed if seed is None else int(seed)
        self._tick_s = sim.tick_s
        if history_s < 0:
            raise ValueError(f"history_s must be >= 0, got {history_s}")
        self._history_values = math.ceil(history_s / self._tick_s) if history_s else 0
        self._start = _as_utc(start or sim.start or datetime.now(UTC).replace(microsecond=0))
        self._classes = simulated_classes(plants)
        check_operation(plants, self._classes, source)
        self._operation = sim.operation
        self._reset_models()
        self._endpoints = check_endpoints(plants, source)
        where = "simulation.faults" if faults is None else "faults"
        self._faults = check_faults(self._classes, sim.faults if faults is None else faults, source, where)
        self._faults_by_asset: dict[tuple[str, str], list[FaultConfig]] = {}
        for f in self._faults:
            self._faults_by_asset.setdefault((f.company, f.asset), []).append(f)
        self._clock = SimClock(self._start.timestamp(), self._speed)
        self._task: asyncio.Task | None = None
        self._latest: dict[tuple[str, str], dict[str, float]] = {}

    def _reset_models(self) -> None:
        # Fresh models on every start: a restarted plant replays the same values from its start.
        self._models = operated_assets(self._classes, self._operation, self._seed, self._start.timestamp())

    @property
    def clock(self) -> SimClock:
        return self._clock

    @property
    def history_values(self) -> int:
        """Values each served node keeps for HistoryRead (0: none)."""
        return self._history_values

    @property
    def urls(self) -> list[str]:
        return list(self._endpoints)

    @property
    def assets(self) -> list[dict[str, str]]:
        return [{"company": c, "asset": a, "class": cls} for (c, a), cls in self._classes.items()]

    @property
    def faults(self) -> list[dict]:
        at = lambda minutes: self._start + timedelta(minutes=minutes)  # noqa: E731
        return [
            {
                "company": f.company,
                "asset": f.asset,
                "kind": f.kind,
                "start": at(f.start_min),
                "end": at(f.end_min),
                "benign": f.kind in BENIGN_KINDS,
            }
            for f in self._faults
        ]

    def latest(self) -> dict[tuple[str, str], dict[str, float]]:
        """Last values written, by (company, asset): what a client reading now would see."""
        return {key: dict(values) for key, values in self._latest.items()}

    def _severities(self, key: tuple[str, str], sim_min: float) -> dict[str, float]:
        active: dict[str, float] = {}
        for f in self._faults_by_asset.get(key, ()):
            # Two faults of one kind on one asset (e.g. a relapse) combine by the worse of the two.
            active[f.kind] = max(active.get(f.kind, 0.0), fault_severity(sim_min, f.start_min, f.end_min, f.ramp_min))
        return active

    def _advance(self, sim_t: float, dt: float) -> None:
        for key, model in self._models.items():
            self._latest[key] = model.step(sim_t, dt, self._severities(key, sim_t / 60.0))

    async def _publish(self, sim_t: float) -> None:
        stamp = datetime.fromtimestamp(self._clock.start + sim_t, tz=UTC)
        await publish(self._endpoints.values(), self._latest, stamp)

    def _catch_up(self, done: int, due: int, step_s: float) -> None:
        # Replay missed ticks one by one, so a briefly stalled loop yields the same values as an
        # unloaded one; when hopelessly late, cover the gap with one long (still stable) step.
        if due - done > _MAX_CATCH_UP:
            skip_to = due - _MAX_CATCH_UP
            self._advance(skip_to * step_s, (skip_to - done) * step_s)
            done = skip_to
        for k in range(done + 1, due + 1):
            self._advance(k * step_s, step_s)

    async def _tick_loop(self) -> None:
        step_s = self._tick_s * self._speed
        done = 0  # tick k is stamped at k * step_s simulated seconds after start
        next_server_time = time.monotonic()
        while True:
            try:
                due = math.floor((time.monotonic() - self._clock.t0) / self._tick_s)
                if due > done:
                    self._catch_up(done, due, step_s)
                    done = due
                    await self._publish(done * step_s)
                if time.monotonic() >= next_server_time:
                    next_server_time += 1.0
                    await write_server_time(self._endpoints.values())
            except Exception:  # a bad tick must not silently freeze the plant: log, keep ticking
                log.exception("simulated plant tick failed")
                done = max(done, due)
            await asyncio.sleep(max(0.0, self._clock.t0 + (done + 1) * self._tick_s - time.monotonic()))

    async def start(self) -> None:
        """Build and start every server, then run the tick task. Fails whole: nothing left running."""
        if self._task is not None:
            raise RuntimeError("simulated plant already started")
        self._reset_models()
        self._advance(0.0, 0.0)  # variables exist with a real value before the first tick
        try:
            for ep in self._endpoints.values():
                await build_server(ep, self._latest, history_values=self._history_values)
                await ep.server.start()
                ep.running = True
        except BaseException:
            await self._stop_servers()
            raise
        # The clock starts when the servers are live, so the first values are stamped at ``start``.
        self._clock = SimClock(self._start.timestamp(), self._speed)
        await self._publish(0.0)
        self._task = asyncio.create_task(self._tick_loop(), name="pdm-simulated-plant-tick")
        log.info("simulated plant serving %d assets on %s", len(self._models), ", ".join(self._endpoints))

    async def _stop_servers(self) -> None:
        await stop_servers(self._endpoints.values())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_servers()

    async def __aenter__(self) -> SimulatedPlant:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[SimulatedPlant]:
        """Run the plant in its own event loop on a daemon thread (for sync code and the CLI)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            started.set()
            try:
                if not failure:
                    loop.run_forever()
                    loop.run_until_complete(self.stop())
            except Exception:
                log.exception("stopping the simulated plant failed")
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="pdm-simulated-plant", daemon=True)
        thread.start()
        started.wait()
        if failure:
            thread.join()
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
