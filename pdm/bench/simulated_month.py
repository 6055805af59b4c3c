"""A simulated month of a plant through the service's own path.

The plant file gives the assets; a schedule file gives the month (``simulation:``: start, seed,
real operation, injected faults). Each asset's physics is stepped directly, without OPC UA or
real time, one row every ``step_s`` simulated seconds; its injected faults (not the benign events)
are its labelled windows. Then every asset is replayed by ``pdm.bench.replay`` (storage, the
worker's training with its alarm budget, the scheduled scoring, debounce, hysteresis, silent
period, alerts) and its alerts are counted against the windows: caught, missed, lead time, and
false alerts per 30 days against ``detection.false_alerts_per_month``.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from pdm.alerts import feedback
from pdm.bench.events import EventFigures
from pdm.bench.replay import replay
from pdm.bench.series import Series
from pdm.config import DetectionConfig, PlantConfig, SimulationConfig, load_plants, validate_model
from pdm.config.base import _Strict
from pdm.config.yaml_loader import load_yaml_file
from pdm.simulator.layout import check_faults, simulated_classes
from pdm.simulator.operation import check_operation, operated_assets
from pdm.simulator.physics import BENIGN_KINDS, fault_severity
from pdm.storage.tables import OPEN_STATUSES, Alert, Asset

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, so a month holds four full weeks
# A false alarm is closed once nothing abnormal was seen on it for this long (its run has ended).
QUIET_S = 1800.0


class Schedule(_Strict):
    """The schedule file: the month's ``simulation:`` and, optionally, the ``detection:`` to replay with."""

    simulation: SimulationConfig
    detection: DetectionConfig | None = None


@dataclass
class AssetMonth:
    name: str  # company/asset
    figures: EventFigures
    model: str
    false_at: list[float]  # opening times of the false alerts, epoch seconds


def load_month(plants_path: str | Path, schedule_path: str | Path) -> PlantConfig:
    """The plant file's assets with the schedule's simulation (and detection, if it has one)."""
    plants = load_plants(plants_path)
    schedule = validate_model(Schedule, load_yaml_file(Path(schedule_path)), str(schedule_path))
    update: dict = {"simulation": schedule.simulation}
    if schedule.detection is not None:
        update["detection"] = schedule.detection
    month = plants.model_copy(update=update)
    classes = simulated_classes(month)
    check_operation(month, classes, str(schedule_path))
    check_faults(classes, month.simulation.faults, str(schedule_path), "simulation.faults")
    return month


def simulate(plants: PlantConfig, *, days: float, step_s: float = 60.0) -> list[tuple[Series, list[str]]]:
    """One labelled series per simulated asset (``days`` of rows ``step_s`` apart), with the kind
    of fault of each window."""
    sim = plants.simulation
    start = sim.start or DEFAULT_START
    epoch0 = (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()  # naive: UTC, as the plant
    t = np.arange(int(days * 86_400 / step_s)) * step_s
    out = []
    models = operated_assets(simulated_classes(plants), sim.operation, sim.seed, epoch0)
    for key, model in models.items():
        faults = [f for f in sim.faults if (f.company, f.asset) == key]
        rows = np.empty((len(t), len(model.sensors)))
        for i, ti in enumerate(t):
            active = {f.kind: fault_severity(ti / 60.0, f.start_min, f.end_min, f.ramp_min) for f in faults}
            values = model.step(float(ti), step_s if i else 0.0, {k: v for k, v in active.items() if v > 0})
            rows[i] = [values[s] for s in model.sensors]
        frame = pd.DataFrame(rows, index=pd.Index(epoch0 + t, name="ts"), columns=list(model.sensors))
        real = [f for f in faults if f.kind not in BENIGN_KINDS]
        windows = [(epoch0 + f.start_min * 60, epoch0 + f.end_min * 60) for f in real]
        out.append((Series("/".join(key), frame, windows), [str(f.kind) for f in real]))
    return out


class Technician:
    """Closes alerts as the plant's technician would, in data time: an alert opened inside a fault
    window is RESOLVED when the fault is repaired (the window's end), so the service re-learns the
    machine after it; any other alert is a FALSE_ALARM once its run has ended. Without this, the
    first alert would stay open all month and no later one could open (one open alert per asset)."""

    def __init__(self, windows: list[tuple[float, float, str]]):
        self.windows = windows

    def __call__(self, sessions, now: float) -> None:
        with sessions.begin() as session:
            for alert in session.execute(select(Alert).where(Alert.status.in_(OPEN_STATUSES))).scalars().all():
                window = next((w for w in self.windows if w[0] <= alert.opened_at <= w[1]), None)
                ids = {"company_id": alert.company_id, "alert_id": alert.id, "user": "technician"}
                if window is not None and now >= window[1]:
                    codes = feedback.failure_mode_codes(
                        session, asset_class=session.get(Asset, alert.asset_id).asset_class
                    )
                    mode = window[2] if window[2] in codes else "other"
                    feedback.resolve(session, **ids, failure_mode=mode, action_taken="repaired", now=window[1])
                elif window is None and alert.last_seen_at <= now - QUIET_S:
                    feedback.mark_false_alarm(session, **ids, reason="nothing found: normal operation", now=now)


def replay_asset(args: tuple[Series, list[str], DetectionConfig, int, float]) -> AssetMonth:
    series, kinds, detection, train_rows, batch_s = args
    technician = Technician([(s, e, k) for (s, e), k in zip(series.windows, kinds)])
    result = replay(series, detection, train_rows=train_rows, batch_s=batch_s, after_batch=technician)
    figures = result.figures()
    inside = [any(s <= t <= e for s, e in series.windows) for t in result.openings]
    false_at = [t for t, hit in zip(result.openings, inside) if not hit]
    return AssetMonth(series.name, figures, result.model, false_at)


def run(
    plants: PlantConfig,
    *,
    days: float = 30.0,
    step_s: float = 60.0,
    train_days: float = 7.0,
    batch_s: float = 3600.0,
    workers: int = 2,
) -> list[AssetMonth]:
    """Simulate the month and replay every asset; each trains on its first ``train_days``."""
    series = simulate(plants, days=days, step_s=step_s)
    train_rows = int(train_days * 86_400 / step_s)
    jobs = [(s, kinds, plants.detection, train_rows, batch_s) for s, kinds in series]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(replay_asset, jobs))
    return [replay_asset(job) for job in jobs]


def table(results: list[AssetMonth], budget: float) -> str:
    head = (
        f"{'asset':26} {'faults':>6} {'caught':>6} {'missed':>6} {'lead med':>9} {'lead max':>9} "
        f"{'false':>5} {'false/30d':>9} {'budget':>6}"
    )
    lines = [head]
    for r in results:
        f = r.figures
        med = "-" if f.median_lead_s is None else f"{f.median_lead_s / 60:.0f} min"
        worst = "-" if f.worst_lead_s is None else f"{f.worst_lead_s / 60:.0f} min"
        held = "held" if f.false_per_month <= budget else "OVER"
        lines.append(
            f"{r.name:26} {f.faults:6d} {f.caught:6d} {f.missed:6d} {med:>9} {worst:>9} "
            f"{f.false_alerts:5d} {f.false_per_month:9.2f} {held:>6}"
        )
    return "\n".join(lines)


def false_alert_times(results: list[AssetMonth]) -> list[str]:
    """When each false alert opened (weekday and time), to tell a restart from a product change."""
    out = []
    for r in results:
        for t in r.false_at:
            out.append(f"{r.name}: false alert at {datetime.fromtimestamp(t, UTC):%a %Y-%m-%d %H:%M}")
    return out
