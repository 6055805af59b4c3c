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
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from asyncua import Server, ua

from pdm.config import FaultConfig, PlantConfig
from pdm.errors import ConfigError
from pdm.simulator.physics import BENIGN_KINDS, SENSORS, AssetModel, asset_seed, check_fault, fault_severity

log = logging.getLogger(__name__)

SERVER_NAME = "PdM simulated plant"
APPLICATION_URI = "urn:pdm:simulated-plant"
_NODE_ID = re.compile(r"^(?:nsu=(?P<uri>[^;]+)|ns=(?P<index>\d+));s=(?P<ident>.+)$", re.DOTALL)
_MAX_CATCH_UP = 50  # ticks replayed one by one after a stall; beyond that, one long step


class FaultNotApplicable(ConfigError, ValueError):
    """A configured fault cannot happen on its asset's class (a ConfigError and a ValueError)."""


SERVER_STOP_S = 10.0


class SimClock:
    """Simulated epoch seconds: ``start`` plus ``speed`` times the wall time since creation."""

    def __init__(self, start: float, speed: float):
        self.start, self.speed = float(start), float(speed)
        self.t0 = time.monotonic()  # wall (monotonic) origin

    def elapsed(self) -> float:
        """Simulated seconds since ``start``."""
        return self.speed * (time.monotonic() - self.t0)

    def now(self) -> float:
        return self.start + self.elapsed()

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)


@dataclass
class _Endpoint:
    """One listening server: every config endpoint that shares this URL, across companies."""

    url: str
    nodes: list[tuple[str, str, str, str | int, str]] = field(default_factory=list)  # company, asset, tag, ns, id
    server: Server | None = None
    running: bool = False
    writes: list[tuple[ua.NodeId, tuple[str, str], str]] = field(default_factory=list)


def _as_utc(value: datetime) -> datetime:
    # A naive datetime in a plant file means UTC: the plant has no local time zone.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _parse_node_id(source: str, where: str, node_id: str) -> tuple[str | int, str]:
    match = _NODE_ID.match(node_id)
    if not match:
        raise ConfigError(source, where, node_id, "expected nsu=<namespace uri>;s=<id> or ns=<index>;s=<id>")
    if match["uri"] is not None:
        return match["uri"], match["ident"]
    if int(match["index"]) == 0:
        raise ConfigError(source, where, node_id, "namespace 0 is reserved for the OPC UA standard nodes")
    return int(match["index"]), match["ident"]


class SimulatedPlant:
    """Simulated assets served over OPC UA. No I/O until ``start()``; use ``async with``."""

    def __init__(self, plants: PlantConfig, *, speed: float | None = None, seed: int | None = None,
                 start: datetime | None = None, faults: list[FaultConfig] | None = None,
                 source: str = "<plants>"):
        sim = plants.simulation
        self._speed = float(sim.speed if speed is None else speed)
        if not 0 < self._speed <= 10_000:
            raise ValueError(f"speed must be in (0, 10000], got {self._speed}")
        self._seed = sim.seed if seed is None else int(seed)
        self._tick_s = sim.tick_s
        self._start = _as_utc(start or sim.start or datetime.now(timezone.utc).replace(microsecond=0))
        self._classes: dict[tuple[str, str], str] = {}
        self._check_assets(plants)
        self._endpoints = self._check_endpoints(plants, source)
        where = "simulation.faults" if faults is None else "faults"
        self._faults = self._check_faults(sim.faults if faults is None else faults, source, where)
        self._faults_by_asset: dict[tuple[str, str], list[FaultConfig]] = {}
        for f in self._faults:
            self._faults_by_asset.setdefault((f.company, f.asset), []).append(f)
        self._clock = SimClock(self._start.timestamp(), self._speed)
        self._task: asyncio.Task | None = None
        self._latest: dict[tuple[str, str], dict[str, float]] = {}

    def _check_assets(self, plants: PlantConfig) -> None:
        for company, _, asset in plants.iter_assets():
            # Classes without a model are real equipment served elsewhere: not simulated.
            if asset.asset_class in SENSORS:
                self._classes[(company.id, asset.id)] = asset.asset_class
        self._reset_models()

    def _reset_models(self) -> None:
        # Fresh models on every start: a restarted plant replays the same values from its start.
        self._models = {key: AssetModel(cls, asset_seed(self._seed, *key)) for key, cls in self._classes.items()}

    def _check_endpoints(self, plants: PlantConfig, source: str) -> dict[str, _Endpoint]:
        # One server per URL. Config validation already refuses a URL reused inside one company,
        # so endpoints sharing a URL belong to different companies and share that server.
        endpoints: dict[str, _Endpoint] = {}
        for ci, company in enumerate(plants.companies):
            for si, site in enumerate(company.sites):
                classes = {a.id: a.asset_class for a in site.assets}
                for ei, ep in enumerate(site.endpoints):
                    where = f"companies[{ci}].sites[{si}].endpoints[{ei}]"
                    target = endpoints.setdefault(ep.endpoint_url, _Endpoint(ep.endpoint_url))
                    for ni, node in enumerate(ep.nodes):
                        self._check_node(source, f"{where}.nodes[{ni}]", company.id, classes, node, target)
        return endpoints

    def _check_node(self, source, where, company, classes, node, target: _Endpoint) -> None:
        if node.asset not in classes:
            raise ConfigError(source, f"{where}.asset", node.asset, "no such asset on this site")
        cls = classes[node.asset]
        sensors = list(SENSORS.get(cls, {}))
        if node.tag not in sensors:
            hint = "" if sensors else f" (no simulator model for this class; known: {sorted(SENSORS)})"
            raise ConfigError(source, f"{where}.tag", node.tag, f"not a sensor of {cls}: {sensors}{hint}")
        ns, ident = _parse_node_id(source, f"{where}.node_id", node.node_id)
        if any((other[3], other[4]) == (ns, ident) for other in target.nodes):
            raise ConfigError(source, f"{where}.node_id", node.node_id,
                              f"already served by another endpoint at {target.url}")
        target.nodes.append((company, node.asset, node.tag, ns, ident))

    def _check_faults(self, faults: list[FaultConfig], source: str, where: str) -> list[FaultConfig]:
        for fi, fault in enumerate(faults):
            cls = self._classes.get((fault.company, fault.asset))
            if cls is None:
                raise ConfigError(source, f"{where}[{fi}].asset", f"{fault.company}/{fault.asset}",
                                  "no simulated asset with this id in this company")
            if fault.end_min <= fault.start_min:
                raise ConfigError(source, f"{where}[{fi}].end_min", fault.end_min, "must be after start_min")
            try:
                check_fault(cls, fault.kind)
            except ValueError as exc:
                raise FaultNotApplicable(source, f"{where}[{fi}].kind", fault.kind, str(exc)) from None
        return list(faults)

    @property
    def clock(self) -> SimClock:
        return self._clock

    @property
    def urls(self) -> list[str]:
        return list(self._endpoints)

    @property
    def assets(self) -> list[dict[str, str]]:
        return [{"company": c, "asset": a, "class": cls} for (c, a), cls in self._classes.items()]

    @property
    def faults(self) -> list[dict]:
        at = lambda minutes: self._start + timedelta(minutes=minutes)  # noqa: E731
        return [{"company": f.company, "asset": f.asset, "kind": f.kind, "start": at(f.start_min),
                 "end": at(f.end_min), "benign": f.kind in BENIGN_KINDS} for f in self._faults]

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
        stamp = datetime.fromtimestamp(self._clock.start + sim_t, tz=timezone.utc)
        good = ua.StatusCode(ua.StatusCodes.Good)
        for ep in self._endpoints.values():
            for nodeid, key, tag in ep.writes:
                value = ua.Variant(float(self._latest[key][tag]), ua.VariantType.Double)
                await ep.server.write_attribute_value(
                    nodeid, ua.DataValue(value, StatusCode=good, SourceTimestamp=stamp, ServerTimestamp=stamp))

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
                    await self._write_server_time()
            except Exception:  # a bad tick must not silently freeze the plant: log, keep ticking
                log.exception("simulated plant tick failed")
                done = max(done, due)
            await asyncio.sleep(max(0.0, self._clock.t0 + (done + 1) * self._tick_s - time.monotonic()))

    async def _write_server_time(self) -> None:
        # The built-in clock task is disabled (it makes stop() wait up to 1 s): keep CurrentTime fresh.
        now = ua.DataValue(ua.Variant(datetime.now(timezone.utc), ua.VariantType.DateTime))
        for ep in self._endpoints.values():
            await ep.server.write_attribute_value(ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime), now)

    async def _build_server(self, ep: _Endpoint) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(ep.url)
        server.set_server_name(SERVER_NAME)
        await server.set_application_uri(APPLICATION_URI)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
        server.disable_clock()
        parsed = urlparse(ep.url)
        host = "127.0.0.1" if parsed.hostname in ("127.0.0.1", "localhost") else "0.0.0.0"
        server.socket_address = (host, parsed.port or 4840)
        ep.server = server
        await self._build_address_space(ep)

    async def _namespace_indexes(self, ep: _Endpoint) -> dict[str | int, int]:
        server = ep.server
        # Numeric indexes are taken at face value: fill the gaps first so ns=<n> exists as written.
        wanted = sorted({ns for *_, ns, _ in ep.nodes if isinstance(ns, int)})
        for i in range(len(await server.get_namespace_array()), (wanted[-1] + 1) if wanted else 0):
            await server.register_namespace(f"urn:pdm:simulator:ns{i}")
        indexes: dict[str | int, int] = {i: i for i in wanted}
        for uri in dict.fromkeys(ns for *_, ns, _ in ep.nodes if isinstance(ns, str)):
            indexes[uri] = await server.register_namespace(uri)
        return indexes

    async def _build_address_space(self, ep: _Endpoint) -> None:
        indexes = await self._namespace_indexes(ep)
        objects = ep.server.nodes.objects
        folders: dict[str, object] = {}
        assets: dict[tuple[str, str], object] = {}
        for company, asset, tag, ns, ident in ep.nodes:
            idx = indexes[ns]
            # One object per asset: asyncua slows down sharply with many variables under one parent.
            if company not in folders:
                folders[company] = await objects.add_folder(idx, company)
            if (company, asset) not in assets:
                assets[(company, asset)] = await folders[company].add_object(idx, asset)
            nodeid = ua.NodeId(ident, idx)
            value = float(self._latest[(company, asset)][tag])
            await assets[(company, asset)].add_variable(
                nodeid, ua.QualifiedName(tag, idx), ua.Variant(value, ua.VariantType.Double))
            ep.writes.append((nodeid, (company, asset), tag))

    async def start(self) -> None:
        """Build and start every server, then run the tick task. Fails whole: nothing left running."""
        if self._task is not None:
            raise RuntimeError("simulated plant already started")
        self._reset_models()
        self._advance(0.0, 0.0)  # variables exist with a real value before the first tick
        try:
            for ep in self._endpoints.values():
                await self._build_server(ep)
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
        stopping = {asyncio.ensure_future(ep.server.stop()): ep for ep in self._endpoints.values() if ep.running}
        done, pending = await asyncio.wait(stopping, timeout=SERVER_STOP_S) if stopping else (set(), set())
        for task in pending:
            # asyncua waits for every client connection to close; a client that vanished without
            # closing its socket would hold the stop forever.
            log.warning("simulated server %s did not stop within %.0f s; abandoned", stopping[task].url, SERVER_STOP_S)
            task.cancel()
        for task in done:
            if task.exception() is not None:
                log.warning("stopping simulated server %s failed: %s", stopping[task].url, task.exception())
        for ep in self._endpoints.values():
            ep.server, ep.writes, ep.running = None, [], False

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
