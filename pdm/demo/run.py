"""The demo: the simulated plant, the worker and (unless headless) Streamlit, on one machine.

``run_headless`` runs the plant and the worker in one event loop for a wall-clock duration
and returns a summary for machines and reviewers. ``run_interactive`` starts the three
parts as child processes and stops them all on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, func, select

from pdm.access import users
from pdm.alerts.rules import list_alerts
from pdm.config import PlantConfig, Settings
from pdm.demo.technician import close_demo_alerts
from pdm.errors import PdmError
from pdm.runtime.worker import Worker
from pdm.simulator import SimulatedPlant
from pdm.storage.catalog import apply_plants, list_companies
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Reading

STOP_S = 180.0  # the worker's own stop stages are bounded below this
PLANT_START_S = 60.0

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_free_ports(plants: PlantConfig) -> PlantConfig:
    """The same plants with every endpoint URL moved to a free local port."""
    ports: dict[str, int] = {}
    data = plants.model_dump(mode="json")
    for company in data["companies"]:
        for site in company["sites"]:
            for ep in site["endpoints"]:
                parts = urlsplit(ep["endpoint_url"])
                port = ports.setdefault(parts.netloc, free_port())
                ep["endpoint_url"] = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
    return PlantConfig.model_validate(data)


def endpoint_addresses(plants: PlantConfig) -> list[tuple[str, int]]:
    urls = [urlsplit(ep.endpoint_url) for _, _, ep in plants.iter_endpoints()]
    return sorted({(u.hostname or "127.0.0.1", u.port or 4840) for u in urls})


def wait_until_listening(
    addresses: list[tuple[str, int]], *, timeout_s: float, still_starting=lambda: True
) -> list[tuple[str, int]]:
    """Wait until every address accepts a TCP connection; returns those that never did.

    Starting the worker only then spares a new user's first screen a DOWN and "back up" per
    endpoint, logged while the simulated plant was still building its address space."""
    waiting, deadline = list(addresses), time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline and still_starting():
        for address in list(waiting):
            try:
                socket.create_connection(address, timeout=0.5).close()
                waiting.remove(address)
            except OSError:
                pass
        if waiting:
            time.sleep(0.2)
    return waiting


def remove_sqlite_file(url: str) -> None:
    """A demo restarts the simulated clock at now: older demo data would sit in its future."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise PdmError(f"--fresh only resets a SQLite demo database, not {parsed.render_as_string()}")
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def prepare_database(engine: Engine, plants: PlantConfig) -> None:
    upgrade(engine)
    with session_factory(engine).begin() as session:
        apply_plants(session, plants)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def summary(engine: Engine, plant: SimulatedPlant, closed: dict[str, int] | None = None) -> dict:
    with session_factory(engine)() as session:
        readings = session.execute(select(func.count()).select_from(Reading)).scalar_one()
        alerts = []
        for company in list_companies(session):
            for alert, asset in list_alerts(session, company_id=company.id):
                alerts.append(
                    {
                        "company": company.slug,
                        "asset": asset.slug,
                        "opened_at": _iso(alert.opened_at),
                        "last_seen_at": _iso(alert.last_seen_at),
                        "severity": alert.severity,
                        "status": alert.status,
                        "sensors": [s["tag"] for s in alert.sensors],
                        **({"false_alarm_reason": alert.false_alarm_reason} if alert.false_alarm_reason else {}),
                    }
                )
    scheduled = [
        {**f, "start": f["start"].isoformat(timespec="seconds"), "end": f["end"].isoformat(timespec="seconds")}
        for f in plant.faults
    ]
    alerts.sort(key=lambda a: a["opened_at"])
    # Faults and benign events (planned process changes) apart: only the faults should be confirmed.
    return {
        "readings": int(readings),
        "assets": plant.assets,
        "faults": [f for f in scheduled if not f["benign"]],
        "benign_events": [f for f in scheduled if f["benign"]],
        "alerts": alerts,
        "closed": closed or {},
    }


async def _headless(
    engine: Engine, settings: Settings, plants: PlantConfig, duration: float, speed: float | None, seed: int | None
) -> dict:
    stop = asyncio.Event()
    plant = SimulatedPlant(plants, speed=speed, seed=seed)
    await plant.start()
    try:
        worker = Worker(engine=engine, settings=settings, detection=plants.detection)
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait({task}, timeout=duration)
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_S)
        if done:
            task.result()  # re-raises a worker failure (e.g. another scheduler holds the database)
        else:
            log.warning("the worker did not stop within %.0f s; summarising what is stored", STOP_S)
        closed = close_demo_alerts(session_factory(engine), faults=plant.faults, leave_open=1)
        return summary(engine, plant, closed)
    finally:
        try:
            await asyncio.wait_for(plant.stop(), STOP_S)
        except TimeoutError:
            log.warning("the simulated plant did not stop within %.0f s", STOP_S)


def run_headless(
    engine: Engine,
    settings: Settings,
    plants: PlantConfig,
    *,
    duration: float,
    speed: float | None = None,
    seed: int | None = None,
) -> dict:
    plants = with_free_ports(plants)
    prepare_database(engine, plants)
    return asyncio.run(_headless(engine, settings, plants, duration, speed, seed))


DEMO_USER = "demo"
DEMO_TECHNICIAN_AFTER_MIN = 110  # simulated minutes: every default fault has been alerted by then


def seed_demo_user(engine: Engine) -> str:
    """An admin to log in with; a new random password each demo, printed with the URL."""
    password = secrets.token_urlsafe(9)
    with session_factory(engine).begin() as session:
        try:
            users.get_user(session, username=DEMO_USER)
            users.set_password(session, username=DEMO_USER, password=password)
        except PdmError:
            users.add_user(session, username=DEMO_USER, password=password, role="admin", company_id=None)
    return password


async def demo_technician(plant: SimulatedPlant, database_url: str, after_min: float) -> None:
    """Once the simulated clock passes ``after_min``, close the alerts as a technician would."""
    due = plant.clock.start + after_min * 60
    while plant.clock.now() < due:
        await asyncio.sleep(1)
    engine = make_engine(database_url)
    counts = await asyncio.to_thread(close_demo_alerts, session_factory(engine), faults=plant.faults, leave_open=1)
    print(
        f"demo technician: {counts['RESOLVED']} resolved, {counts['FALSE_ALARM']} false alarms, "
        f"{counts['open']} left open",
        flush=True,
    )
    engine.dispose()


def run_interactive(*, plants_path: Path, plants: PlantConfig, database_url: str, port: int, password: str) -> int:
    """Start simulate, worker and Streamlit as children; Ctrl-C (or any child exiting) stops all."""
    env = {**os.environ, "PDM_DATABASE_URL": database_url}
    pdmctl = [sys.executable, "-m", "pdm.cli"]
    children = [
        subprocess.Popen(
            [
                *pdmctl,
                "simulate",
                "--config",
                str(plants_path),
                "--demo-technician-after",
                str(DEMO_TECHNICIAN_AFTER_MIN),
            ],
            env=env,
        )
    ]
    late = wait_until_listening(
        endpoint_addresses(plants), timeout_s=PLANT_START_S, still_starting=lambda: children[0].poll() is None
    )
    if late and children[0].poll() is None:
        log.warning(
            "simulated plant not listening on %s after %.0f s; starting the worker anyway",
            ", ".join(f"{h}:{p}" for h, p in late),
            PLANT_START_S,
        )
    children += [
        subprocess.Popen([*pdmctl, "worker", "--config", str(plants_path)], env=env),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app_streamlit.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
            ],
            env=env,
        ),
    ]
    print(
        f"\nPdM demo running: open http://localhost:{port} and log in as {DEMO_USER!r} with password {password!r}\n"
        f"(Ctrl-C stops the plant, the worker and the app)\n",
        flush=True,
    )
    try:
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c for c in children if c.returncode not in (0, -signal.SIGINT, 130, None)]
    return 1 if failed else 0
