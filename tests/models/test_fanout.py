"""Training many assets: serially, in a process pool, and on a Dask LocalCluster — same results."""

import numpy as np
import pytest
from sqlalchemy import delete, select

from pdm.config import DetectionConfig, parse_plants
from pdm.models.fanout import train_many
from pdm.simulator.physics import AssetModel
from pdm.storage.catalog import all_assets, apply_plants, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Asset, ModelVersion
from tests.helpers.databases import one_database
from tests.helpers.plants import plant_dict

DETECTION = DetectionConfig(train_min_rows=60, train_min_span_min=60)


@pytest.fixture
def loaded(sessions):
    """Two assets with 90 minutes of healthy data, one with none."""
    cfg = parse_plants(
        plant_dict({"acme": [("P-1", "centrifugal_pump"), ("C-1", "air_compressor"), ("S-1", "cnc_spindle")]})
    )
    with sessions.begin() as s:
        apply_plants(s, cfg)
        for asset in all_assets(s)[:2]:
            tags = {t.name: t.id for t in list_tags(s, company_id=asset.company_id, asset_id=asset.id)}
            model, rows = AssetModel(asset.asset_class, seed=asset.id), []
            for step in range(180):
                values = model.step(step * 30.0, 30.0, {})
                rows += [
                    {"tag_id": tags[n], "ts": 1e9 + step * 30.0, "value": v, "quality": 0, "received_at": 0}
                    for n, v in values.items()
                ]
            insert_readings(s, rows)
        return [(a.company_id, a.id) for a in all_assets(s)]


def _thresholds(sessions):
    with sessions() as s:
        return {
            slug: t
            for slug, t in s.execute(
                select(Asset.slug, ModelVersion.threshold).join(Asset, Asset.id == ModelVersion.asset_id)
            )
        }


def test_serial_training_trains_what_has_data_and_skips_the_rest(loaded, sessions, db_url):
    results = train_many(db_url, loaded, DETECTION, executor="serial")
    assert [v for _, v, _ in results] == [1, 1, None]
    assert all(err is None for _, _, err in results)
    assert set(_thresholds(sessions)) == {"C-1", "P-1"}


@one_database
def test_process_pool_gives_the_same_models_as_serial(loaded, sessions, db_url):
    results = train_many(db_url, loaded, DETECTION, executor="process", max_workers=2)
    assert [v for _, v, _ in results] == [1, 1, None]
    pooled = _thresholds(sessions)
    with sessions.begin() as s:  # start over: a second run would train challengers, on less data
        s.execute(delete(ModelVersion))
    train_many(db_url, loaded[:2], DETECTION, executor="serial")
    serial = _thresholds(sessions)
    assert serial.keys() == pooled.keys()
    assert all(np.isclose(serial[k], pooled[k]) for k in serial)


@pytest.mark.timeout(120)
@one_database
def test_dask_local_cluster_trains_every_asset(loaded, sessions, db_url):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        results = train_many(db_url, loaded, DETECTION, executor="dask", scheduler_address=cluster.scheduler_address)
    assert [v for _, v, _ in results] == [1, 1, None]
    assert set(_thresholds(sessions)) == {"C-1", "P-1"}


def test_a_failing_job_is_reported_and_does_not_lose_the_others(loaded, sessions, db_url):
    results = train_many(db_url, [*loaded, (loaded[0][0], 999_999)], DETECTION, executor="serial")
    assert [v for _, v, _ in results] == [1, 1, None, None]
    assert "NotFound" in results[-1][2]


def test_dask_without_a_scheduler_address_is_a_config_error():
    from pdm.errors import ConfigError

    with pytest.raises(ConfigError, match="dask_scheduler"):
        parse_plants(
            {**plant_dict({"acme": [("P-1", "centrifugal_pump")]}), "detection": {"executor": "dask"}}, "plants.yaml"
        )


@pytest.mark.parametrize("executor", ["serial", "process"])
@one_database
def test_a_stop_asked_after_the_first_job_leaves_the_jobs_not_started(loaded, sessions, db_url, executor):
    asked = []

    def keep_going():
        asked.append(1)
        return False

    results = train_many(db_url, loaded, DETECTION, executor=executor, max_workers=1, keep_going=keep_going)
    assert len(results) == 1 and results[0][2] is None
    # Asked after each finished job; a pool may have handed one more to its process already.
    assert len(asked) == 1 and len(_thresholds(sessions)) <= (1 if executor == "serial" else 2)
