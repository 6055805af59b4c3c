"""The replay runs the worker's own jobs: same alerts as the worker, on any asset shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from pdm.bench.replay import plant_for, replay
from pdm.bench.series import Series, tag_slugs
from pdm.config import DetectionConfig, Settings, parse_plants
from pdm.runtime.worker import Worker
from pdm.storage.catalog import apply_plants
from pdm.storage.readings import insert_reading_tuples
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, Tag
from tests.helpers.pdmctl import run_pdmctl

T0 = 1.7e9
DETECTION = DetectionConfig(detector="mad", train_min_span_min=10, silent_period_min=5)


def _series(n=1500, step=10.0, fault=(1000, 1100), tags=("temperature",), seed=0) -> Series:
    rng = np.random.default_rng(seed)
    t = T0 + np.arange(n) * step
    data = {tag: 40 + rng.normal(0, 0.3, n) for tag in tags}
    first = tags[0]
    data[first][fault[0] : fault[1]] += np.linspace(0, 8, fault[1] - fault[0])
    return Series("probe.csv", pd.DataFrame(data, index=t), [(t[fault[0]], t[fault[1] - 1])])


def _worker_alerts(tmp_path, series: Series, train_rows: int) -> list[tuple[float, float | None]]:
    """The worker on the same data, stored first: its train job, then one scoring run over all of it."""
    url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    tags = tag_slugs(list(series.frame.columns))
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plant_for(series, tags)))
        ids = dict(s.execute(select(Tag.name, Tag.id)).tuples().all())
    frame = series.frame.rename(columns=tags)

    def store(part):
        rows = [(ids[c], float(ts), float(v), 0, float(ts)) for c in part.columns for ts, v in part[c].items()]
        with sessions.begin() as s:
            insert_reading_tuples(s, rows)

    worker = Worker(
        engine=engine, settings=Settings(database_url=url, var_dir=tmp_path), detection=DETECTION, role="scheduler"
    )
    store(frame.iloc[:train_rows])
    assert worker.train_due() == 1
    store(frame.iloc[train_rows:])
    worker.score_all()
    with sessions() as s:
        got = [(a.opened_at, a.closed_at) for a in s.execute(select(Alert).order_by(Alert.opened_at)).scalars()]
    engine.dispose()
    return got


def test_the_replay_opens_the_alerts_the_worker_opens(tmp_path):
    series = _series(tags=("temperature", "vibration"))
    replayed = replay(series, DETECTION, train_rows=400, batch_s=120.0)
    assert replayed.openings, "the fault must open an alert"
    worker = _worker_alerts(tmp_path, series, 400)
    assert [a for a, _ in worker] == replayed.openings
    figures = replayed.figures()
    assert (figures.faults, figures.caught, figures.false_alerts) == (1, 1, 0)
    assert 0 <= figures.lead_times_s[0] < 600


def test_a_one_tag_asset_gets_a_model_by_default_and_alerts_on_its_fault():
    series = _series(tags=("temperature",))
    result = replay(series, DetectionConfig(train_min_span_min=10), train_rows=400, batch_s=300.0)
    assert result.model == "v1 mad (active: first model; mad: auto: one usable tag)"
    figures = result.figures()
    assert figures.caught == 1 and figures.false_alerts == 0
    assert result.never().caught == 0 and result.always().false_alerts == 1500 - 400 - 100


def test_the_cli_prints_event_figures_and_refuses_a_bad_csv(tmp_path, capsys, monkeypatch):
    series = _series()
    path = tmp_path / "probe.csv"
    frame = series.frame.assign(anomaly=0)
    frame.loc[frame.index[1000] : frame.index[1099], "anomaly"] = 1
    frame.rename_axis("ts").to_csv(path)
    plant = tmp_path / "plants.yaml"
    plant.write_text("companies: []\ndetection:\n  detector: mad\n  train_min_span_min: 10\n")
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "bench", "replay", str(path), "--train-rows", "400", "--config", str(plant)
    )
    assert code == 0, err
    service = next(line for line in out.splitlines() if line.startswith("service"))
    assert service.split()[1:4] == ["1", "1", "0"]  # faults, caught, missed
    assert "always alarm" in out and "never alarm" in out and "model: v1 mad" in out
    path.write_text("ts,a\n10,1\n10,2\n")
    code, out, err = run_pdmctl(capsys, monkeypatch, "bench", "replay", str(path))
    assert code != 0 and "line 3, column 'ts' = '10': the same time as the line before" in err
    assert "Traceback" not in err


def test_too_little_training_data_is_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "short.csv"
    _series().frame.rename_axis("ts").to_csv(path)
    code, _, err = run_pdmctl(capsys, monkeypatch, "bench", "replay", str(path), "--train-rows", "20")
    assert code != 0 and "--train-rows = 20: no model trained: needs 60 normal rows" in err
