"""The model lifecycle on real readings, alerts and feedback written through the storage API,
on SQLite and PostgreSQL: which data is normal, re-learning after maintenance, scheduled
retraining with champion/challenger, the worker's due list and the command line."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import yaml
from sqlalchemy import delete, select, text, update

from pdm.alerts import feedback
from pdm.alerts.rules import ScoredRow, evaluate
from pdm.config import Settings, parse_plants
from pdm.errors import ConfigError, NotFound
from pdm.models.lifecycle import assets_due, run_start, shortage, train_asset
from pdm.models.training import active_model, load_version
from pdm.storage.catalog import list_assets
from pdm.storage.readings import insert_ignore
from pdm.storage.session import downgrade, make_engine, upgrade
from pdm.storage.tables import ModelVersion, Score, Tag
from tests.helpers.lifecycle import DETECTION, STEP, Plant, ts
from tests.helpers.pdmctl import run_pdmctl
from tests.helpers.plants import plant_dict

HOUR = 3600.0


@pytest.fixture
def plant(sessions) -> Plant:
    return Plant(sessions)


def test_open_alert_runs_are_left_out_and_false_alarms_go_back_in(plant):
    plant.write(0, 200)
    assert plant.train()[:3] == (1, "active", "first model")
    plant.write(200, 20, shift={"vibration": 1.0})
    plant.write(220, 40)
    alert_id = plant.score()
    assert alert_id is not None
    frame = plant.frame()
    assert len(frame) == 200 and frame.index.max() < ts(200)  # from the run's start on, nothing is normal
    with plant.sessions.begin() as s:
        feedback.mark_false_alarm(
            s, company_id=plant.cid, alert_id=alert_id, user="ana", reason="valve test", now=ts(259) + 1
        )
    assert len(plant.frame()) == 260  # a false alarm was normal operation: its rows are training data
    version, status, _reason, trained_from, trained_to, metrics = plant.train()
    assert (version, status) == (2, "active")
    # Trained on rows 0-207 (the latest 52 held out): rows 200-207 come from the false alarm.
    assert trained_from == ts(0) and trained_to == ts(207) and metrics["rows"] == 260 - 52


def test_a_resolved_fault_restarts_the_baseline_and_the_relearned_model_accepts_the_new_level(plant):
    plant.write(0, 200)
    plant.train()
    plant.write(200, 20, shift={"vibration": 1.0})  # the fault
    alert_id = plant.score()
    resolved_at = ts(219) + 10
    with plant.sessions.begin() as s:
        feedback.resolve(
            s,
            company_id=plant.cid,
            alert_id=alert_id,
            user="bob",
            failure_mode="bearing_wear",
            action_taken="replaced the bearing",
            now=resolved_at,
        )
    new_level = {"bearing_temp": 1.0}  # the new bearing runs warmer: the old baseline no longer holds
    plant.write(220, 30, shift=new_level)
    # Not enough data after the repair yet: nothing is due, training refuses, the current model stays.
    assert plant.due() is None and plant.train() is None
    with plant.sessions() as s:
        assert "since alert" in shortage(s, company_id=plant.cid, asset_id=plant.aid, detection=DETECTION)
    assert plant.versions() == [(1, "active", True)]
    assert len(plant.frame()) == 30 and plant.frame().index.min() > resolved_at

    plant.write(250, 100, shift=new_level)
    assert plant.due() == f"re-learn after alert {alert_id} was resolved"
    version, status, reason, trained_from, _to, metrics = plant.train()
    assert (version, status) == (2, "active") and trained_from > resolved_at
    assert f"after alert {alert_id} was resolved" in reason
    assert metrics["holdout"]["champion_alerts_per_month"] > 0 and metrics["holdout"]["alerts_per_month"] == 0
    assert plant.versions() == [(1, "retired", False), (2, "active", True)]
    assert plant.due() is None  # re-learned: not due again

    plant.write(350, 60, shift=new_level)
    assert plant.score() is None  # the new level raises no alert with the re-learned model
    with plant.sessions() as s:
        v1 = s.execute(
            select(ModelVersion).where(ModelVersion.asset_id == plant.aid, ModelVersion.version == 1)
        ).scalar_one()
        old = load_version(s, v1).score_samples(plant.frame().loc[ts(350) :, list(v1.feature_names)])
        new = [r for (r,) in s.execute(select(Score.score / Score.threshold).where(Score.ts >= ts(350)))]
    assert np.mean(old > v1.threshold) > 0.9  # the old model would have alarmed on all of it
    assert len(new) == 60 and np.mean(np.array(new) > 1) < 0.05


def test_the_baseline_restarts_at_the_data_time_of_the_closing_not_the_wall_clock(plant):
    """A replayed or accelerated plant: the technician closes the alert at a wall-clock time far
    from the data's clock; the re-learned baseline starts at the asset's latest reading then."""
    plant.write(0, 200)
    plant.train()
    plant.write(200, 20, shift={"vibration": 1.0})
    alert_id = plant.score()
    wall_clock = ts(219) + 100 * 86_400.0  # the data is replayed 100 days after it was recorded
    with plant.sessions.begin() as s:
        feedback.resolve(
            s,
            company_id=plant.cid,
            alert_id=alert_id,
            user="bob",
            failure_mode="bearing_wear",
            action_taken="replaced the bearing",
            now=wall_clock,
        )
    plant.write(220, 130, shift={"bearing_temp": 1.0})
    frame = plant.frame()
    assert len(frame) == 130 and frame.index.min() == ts(220)
    assert plant.due() == f"re-learn after alert {alert_id} was resolved"


def test_an_alert_on_the_new_level_marked_false_alarm_releases_the_relearning(plant):
    plant.write(0, 200)
    plant.train()
    plant.write(200, 20, shift={"vibration": 1.0})
    first = plant.score()
    with plant.sessions.begin() as s:
        feedback.resolve(
            s,
            company_id=plant.cid,
            alert_id=first,
            user="bob",
            failure_mode="bearing_wear",
            action_taken="replaced the bearing",
            now=ts(219) + 10,
        )
    plant.write(220, 130, shift={"bearing_temp": 1.0})
    second = plant.score()  # the old model alarms on the new level once the silent period ends
    assert second not in (None, first)
    assert plant.due() is None  # only the rows before that alert count: not enough
    with plant.sessions.begin() as s:
        feedback.mark_false_alarm(s, company_id=plant.cid, alert_id=second, user="bob", reason="new bearing")
    assert plant.due() == f"re-learn after alert {first} was resolved"
    assert plant.train()[:2] == (2, "active")


def test_the_excluded_window_starts_where_the_anomalous_run_began(plant):
    plant.write(0, 200)
    plant.train()
    with plant.sessions.begin() as s:
        mv = active_model(s, company_id=plant.cid, asset_id=plant.aid)
        scores = [0.5, 0.95, 0.97]  # drifting inside the hysteresis band before the alarm
        insert_ignore(
            s,
            Score.__table__,
            [
                {
                    "asset_id": plant.aid,
                    "ts": ts(150 + i),
                    "company_id": plant.cid,
                    "model_version_id": mv.id,
                    "score": sc * mv.threshold,
                    "threshold": mv.threshold,
                }
                for i, sc in enumerate(scores)
            ],
        )
        asset = list_assets(s, company_id=plant.cid)[0]
        rows = [ScoredRow(ts=ts(153 + i), score=2 * mv.threshold, sensors=[]) for i in range(3)]
        alert = evaluate(
            s,
            company_id=plant.cid,
            asset=asset,
            model_version_id=mv.id,
            threshold=mv.threshold,
            rows=rows,
            debounce_rows=3,
        )
        assert alert.opened_at == ts(153)
        assert run_start(s, company_id=plant.cid, alert=alert) == ts(151)
    assert plant.frame().index.max() == ts(150)


def test_a_model_the_data_has_moved_past_is_due_on_the_data_clock(plant):
    # A replayed or accelerated plant: a day of data goes through in seconds of wall clock.
    plant.write(0, 200)
    trained_to = plant.train()[4]
    last = round((trained_to - ts(0)) / STEP)  # the model's last training row
    day = round(24 * HOUR / STEP)
    plant.write(200, last + day - 200)  # the data reaches one row short of 24 h after it
    assert plant.due() is None
    plant.write(last + day, 20)  # and then 24 h: old on the data's clock, young on the wall's
    assert plant.due() == "model v1 is older than 24 h"


def test_scheduled_retraining_promotes_a_challenger_that_is_not_worse(plant):
    plant.write(0, 200)
    plant.train()
    later = time.time() + 25 * HOUR
    assert plant.due() is None and plant.due(now=later) is None  # young; then old but nothing new
    plant.write(200, 100)
    assert plant.due() is None
    assert plant.due(now=later) == "model v1 is older than 24 h"
    version, status, reason, _from, trained_to, metrics = plant.train()
    assert (version, status) == (2, "active") and "<= champion v1's" in reason
    assert metrics["holdout"]["rows"] == 60 and trained_to == ts(239)  # the latest 20 % held out
    assert plant.versions() == [(1, "retired", False), (2, "active", True)]


def test_a_challenger_worse_on_recent_data_is_kept_rejected_and_the_champion_stays(plant):
    narrow = DETECTION.model_copy(update={"train_max_rows": 100})
    plant.write(0, 200)
    plant.train(narrow)
    # The last 100 rows: 80 at low load, then 20 at high load. The challenger, trained on the low
    # ones only, alarms on the held-out high ones; the champion saw both during its cycles.
    plant.write(200, 80, load=(-1.0, -0.6))
    plant.write(280, 20, load=(0.6, 1.0))
    with plant.sessions.begin() as s:  # the champion is two days old
        s.execute(update(ModelVersion).values(created_at=ModelVersion.created_at - 48 * HOUR))
    assert plant.due(detection=narrow) == "model v1 is older than 24 h"
    version, status, reason, *_rest, metrics = plant.train(narrow)
    assert (version, status) == (2, "rejected") and "> champion v1's" in reason
    assert metrics["holdout"]["alerts_per_month"] > metrics["holdout"]["champion_alerts_per_month"]
    assert plant.versions() == [(1, "active", True), (2, "rejected", False)]
    with plant.sessions() as s:
        assert active_model(s, company_id=plant.cid, asset_id=plant.aid).version == 1
    # A rejected challenger waits one full period before the next attempt.
    assert plant.due(detection=narrow) is None
    assert plant.due(now=time.time() + 25 * HOUR, detection=narrow) == "model v1 is older than 24 h"


def test_a_champion_whose_tags_are_gone_is_replaced_with_the_reason(plant):
    plant.write(0, 200)
    plant.train()
    with plant.sessions.begin() as s:
        s.execute(delete(Tag).where(Tag.asset_id == plant.aid, Tag.name == "motor_temp"))
    plant.write(200, 100)
    version, status, reason, *_ = plant.train()
    assert (version, status) == (2, "active")
    assert reason == "champion v1 needs tags ['motor_temp'] that no longer report"


def test_another_companys_asset_is_refused(plant):
    plant.write(0, 200)
    with plant.sessions.begin() as s, pytest.raises(NotFound):
        train_asset(s, company_id=plant.other_cid, asset_id=plant.aid, detection=DETECTION)
    assert plant.versions() == []


def test_the_worker_trains_what_is_due(plant, db_url, tmp_path):
    from pdm.runtime.worker import Worker

    engine = make_engine(db_url)
    worker = Worker(engine=engine, settings=Settings(database_url=db_url, var_dir=tmp_path), detection=DETECTION)
    try:
        assert worker.train_due() == 0  # no data yet
        plant.write(0, 200)
        assert worker.train_due() == 1 and worker.train_due() == 0
        plant.write(200, 100)
        with plant.sessions() as s:  # beta's spindle has no model (and no data): always due
            assert assets_due(s, detection=DETECTION) == [(plant.other_cid, plant.other_aid)]
        with plant.sessions.begin() as s:  # the model is a day old
            s.execute(update(ModelVersion).values(created_at=ModelVersion.created_at - 25 * HOUR))
        with plant.sessions() as s:
            assert sorted(assets_due(s, detection=DETECTION)) == sorted(
                [(plant.cid, plant.aid), (plant.other_cid, plant.other_aid)]
            )
        assert worker.train_due() == 1
        assert plant.versions() == [(1, "retired", False), (2, "active", True)]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "field, value", [("retrain_after_h", 0), ("holdout_fraction", 0.9), ("retrain_after_h", "weekly")]
)
def test_bad_lifecycle_settings_name_the_field_and_value(field, value):
    with pytest.raises(ConfigError) as info:
        parse_plants(
            {**plant_dict({"acme": [("P-1", "centrifugal_pump")]}), "detection": {field: value}}, "plants.yaml"
        )
    assert f"detection.{field} = {value!r}" in str(info.value)


def test_migration_marks_older_inactive_versions_retired(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO companies (id, slug, name) VALUES (1, 'acme', '')"))
        conn.execute(text("INSERT INTO sites (id, company_id, slug, name) VALUES (1, 1, 's', '')"))
        conn.execute(
            text(
                "INSERT INTO assets (id, company_id, site_id, slug, name, asset_class, criticality, "
                "downtime_cost_per_hour) VALUES (1, 1, 1, 'P-1', '', 'centrifugal_pump', 3, 0)"
            )
        )
        for version, active in ((1, False), (2, True)):
            conn.execute(
                text(
                    "INSERT INTO model_versions (company_id, asset_id, version, detector, created_at, "
                    "trained_from, trained_to, threshold, feature_names, metrics, active, envelope) "
                    "VALUES (1, 1, :v, 'pca', 0, 0, 0, 1, '[]', '{}', :a, :e)"
                ),
                {"v": version, "a": active, "e": b"-"},
            )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version, status FROM model_versions ORDER BY version")).all() == [
            (1, "retired"),
            (2, "active"),
        ]
    downgrade(engine, "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar_one() == 2
    engine.dispose()


def test_pdmctl_train_and_models_list(plant, db_url, tmp_path, capsys, monkeypatch):
    config = tmp_path / "plants.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **plant_dict({"acme": [("P-1", "centrifugal_pump")], "beta": [("S-1", "cnc_spindle")]}),
                "detection": {**DETECTION.model_dump(mode="json"), "train_max_rows": 100},
            }
        )
    )

    def pdmctl(*args):
        return run_pdmctl(capsys, monkeypatch, *args, "--database", db_url)

    train = ("train", "--company", "acme", "--asset", "P-1", "--config", str(config))
    code, _out, err = pdmctl(*train)
    assert (
        code == 1
        and err == "error: not enough data to train acme/P-1: needs 60 normal rows over 10 min; has 0 over 0 min\n"
    )
    plant.write(0, 200)
    code, out, _ = pdmctl(*train)
    assert code == 0 and out.startswith("acme/P-1: version 1 (pca) active: first model; threshold ")
    plant.write(200, 80, load=(-1.0, -0.6))
    plant.write(280, 20, load=(0.6, 1.0))
    code, out, _ = pdmctl(*train)
    assert code == 0 and out.startswith(
        "acme/P-1: version 2 (pca) rejected, version 1 stays active: false alerts per 30 days on 20 held-out rows"
    )

    code, out, _ = pdmctl("models", "list", "--company", "acme", "--asset", "P-1", "--json")
    listed = [(r["version"], r["status"], r["rows"], r["trained_from"]) for r in json.loads(out)]
    assert code == 0 and listed == [(1, "active", 100, ts(100)), (2, "rejected", 80, ts(200))]
    code, out, _ = pdmctl("models", "list", "--company", "acme")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("P-1 v1 pca active: trained on 2001-09-09 02:36 – 03:26 UTC, 100 rows, threshold ")
    assert lines[0].endswith(" — first model")
    assert lines[1].startswith("P-1 v2 pca rejected: trained on 2001-09-09 03:26 – 04:06 UTC, 80 rows")
    assert lines[1].endswith("> champion v1's 0.0")
    code, out, _ = pdmctl("models", "list", "--company", "beta", "--json")
    assert code == 0 and out.strip() == "[]"  # another company sees none of acme's versions
    for args in (
        ("models", "list", "--company", "acme", "--asset", "P-9"),
        ("train", "--company", "acme", "--asset", "P-9", "--config", str(config)),
    ):
        code, _out, err = pdmctl(*args)
        assert code == 1 and err == "error: asset 'P-9' not found for company 'acme'\n"
