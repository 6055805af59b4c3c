"""Replay a labelled series through exactly what the worker does, and measure the alerts.

The series becomes one asset of a throw-away plant in a temporary SQLite database. Its first
part is stored and the worker's own training job runs; then the rest is stored batch by batch
(``batch_s`` of data time each), and after each batch the worker's training and scoring jobs
run, as they would on their schedule: the same features, detector, threshold, debounce,
hysteresis and silent period. The alerts the worker opened are then compared with the labels
(``pdm.bench.events``), beside an always-alarm and a never-alarm baseline.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from pdm.alerts.episodes import episodes
from pdm.bench.events import EventFigures, event_figures
from pdm.bench.series import Series, tag_slugs
from pdm.config import DetectionConfig, Settings, parse_plants
from pdm.errors import ConfigError
from pdm.models.lifecycle import shortage
from pdm.runtime.worker import Worker
from pdm.storage.catalog import apply_plants
from pdm.storage.readings import insert_reading_tuples
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, Asset, ModelVersion, Score, Tag

COMPANY, ASSET = "replay", "asset"
GOOD = 0


@dataclass
class Replay:
    series: Series
    train_rows: int
    scored_from: float
    scored_to: float
    openings: list[float]  # alert openings and returns from normal (episode starts), data time
    alerts: list[tuple[float, float]]  # (start, last seen, or closing) per episode
    model: str  # detector and the reason it was chosen and kept
    scores: np.ndarray | None = None  # (time, score, threshold) per scored row, for diagnosis

    def figures(self) -> EventFigures:
        return event_figures(self.openings, self.series.windows, self.scored_from, self.scored_to)

    def always(self) -> EventFigures:
        """An alarm on every scored row: every fault caught at once, and a false alert per normal row."""
        t = self.series.frame.index.to_numpy(dtype=float)
        return event_figures(list(t[self.train_rows :]), self.series.windows, self.scored_from, self.scored_to)

    def never(self) -> EventFigures:
        return event_figures([], self.series.windows, self.scored_from, self.scored_to)

    def flagged(self) -> np.ndarray:
        """0/1 per scored row: inside an alert the worker opened (for row-level protocols)."""
        t = self.series.frame.index.to_numpy(dtype=float)[self.train_rows :]
        out = np.zeros(len(t), dtype=np.int8)
        for opened, closed in self.alerts:
            out[(t >= opened) & (t <= closed)] = 1
        return out


def plant_for(series: Series, tags: dict[str, str]) -> dict:
    nodes = [{"node_id": f"ns=2;s={tag}", "tag": tag, "asset": ASSET} for tag in tags.values()]
    endpoint = {"name": "csv", "endpoint_url": "opc.tcp://127.0.0.1:4840/replay", "nodes": nodes}
    site = {"id": "bench", "assets": [{"id": ASSET, "asset_class": "replay"}], "endpoints": [endpoint]}
    return {"companies": [{"id": COMPANY, "name": series.name, "sites": [site]}]}


def train_rows_for(series: Series, train_fraction: float | None, train_rows: int | None) -> int:
    n = len(series.frame)
    rows = train_rows if train_rows is not None else math.ceil(n * (train_fraction or 0.3))
    if not 1 <= rows < n:
        raise ConfigError(series.name, "--train-rows", rows, f"must leave rows to score (the series has {n})")
    return rows


def replay(
    series: Series,
    detection: DetectionConfig,
    *,
    train_rows: int,
    batch_s: float = 300.0,
    workdir: str | Path | None = None,
    after_batch=None,
) -> Replay:
    """Replay ``series`` (training on its first ``train_rows`` rows) through the worker's jobs.

    ``after_batch(sessions, data_time)``, if given, runs after each batch's scoring (a technician
    closing alerts, as the people of a plant would)."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="pdm-replay-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'replay.sqlite3'}"
        engine = make_engine(url)
        try:
            return _replay(series, detection, url, engine, Path(tmp), train_rows, batch_s, after_batch)
        finally:
            engine.dispose()


def _replay(series, detection, url, engine, tmp, train_rows, batch_s, after_batch=None) -> Replay:
    upgrade(engine)
    sessions = session_factory(engine)
    tags = tag_slugs(list(series.frame.columns))
    with sessions.begin() as session:
        apply_plants(session, parse_plants(plant_for(series, tags), series.name))
        tag_ids = dict(session.execute(select(Tag.name, Tag.id)).tuples().all())
    worker = Worker(
        engine=engine, settings=Settings(database_url=url, var_dir=tmp), detection=detection, role="scheduler"
    )
    frame = series.frame.rename(columns=tags)
    times = frame.index.to_numpy(dtype=float)
    ids = np.array([tag_ids[t] for t in frame.columns], dtype=float)
    values = frame.to_numpy(dtype=float)

    def store(lo: int, hi: int) -> None:
        n, k = hi - lo, len(ids)
        t = np.repeat(times[lo:hi], k)
        block = np.column_stack([np.tile(ids, n), t, values[lo:hi].ravel(), np.full(n * k, GOOD), t])
        block = block[~np.isnan(block[:, 2])]
        rows = [(int(r[0]), r[1], r[2], GOOD, r[4]) for r in block.tolist()]
        with sessions.begin() as session:
            insert_reading_tuples(session, rows)

    store(0, train_rows)
    worker.train_due()
    with sessions() as session:
        asset = session.execute(select(Asset)).scalar_one()
        if session.execute(select(ModelVersion.id)).first() is None:
            why = shortage(session, company_id=asset.company_id, asset_id=asset.id, detection=detection)
            reason = "; ".join(worker.failures.failing().values()) or why
            raise ConfigError(series.name, "--train-rows", train_rows, f"no model trained: {reason}")
    done = train_rows
    while done < len(times):
        end = int(np.searchsorted(times, times[done] + batch_s, side="left"))
        end = max(end, done + 1)
        store(done, end)
        worker.train_due()
        worker.score_all()
        if after_batch is not None:
            after_batch(sessions, float(times[end - 1]))
        done = end
    with sessions() as session:
        alerts = session.execute(select(Alert).order_by(Alert.opened_at)).scalars().all()
        spans = [span for a in alerts for span in _spans(session, a)]
        versions = session.execute(select(ModelVersion).order_by(ModelVersion.version)).scalars().all()
        model = "; ".join(f"v{v.version} {v.detector} ({v.status}: {v.reason})" for v in versions)
        scores = np.array(session.execute(select(Score.ts, Score.score, Score.threshold).order_by(Score.ts)).all())
    openings = [a for a, _ in spans]
    return Replay(series, train_rows, float(times[train_rows]), float(times[-1]), openings, spans, model, scores)


def _spans(session, alert: Alert) -> list[tuple[float, float]]:
    """The alert's episodes; one closed by a person (``after_batch``) lasts until its closing, on the data's clock."""
    spans = episodes(session, company_id=alert.company_id, alert=alert)
    if alert.closed_data_at is not None and spans:
        spans[-1] = (spans[-1][0], max(spans[-1][1], alert.closed_data_at))
    return spans
