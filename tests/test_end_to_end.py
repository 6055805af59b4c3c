"""The whole flow on real parts: simulated OPC UA plant → ingest → storage → models → alerts.

The plant runs at high acceleration on free ports, the worker in-process; the database is
a real PostgreSQL schema where the run has one (CI does), else a real SQLite file: the flow's SQL
is the same as the shorter tests', which run on both.
"""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from pdm.config import Settings, parse_plants
from pdm.demo.run import run_headless
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import ModelVersion, Reading, Score
from tests.helpers.databases import one_database
from tests.helpers.plants import plant_dict


def _plant():
    return parse_plants(
        plant_dict(
            {"acme": [("P-1", "centrifugal_pump"), ("C-1", "air_compressor")], "beta": [("S-1", "cnc_spindle")]},
            faults=[
                {
                    "company": "acme",
                    "asset": "P-1",
                    "kind": "bearing_wear",
                    "start_min": 62,
                    "end_min": 400,
                    "ramp_min": 8,
                }
            ],
            speed=360,
            poll_interval_s=0.1,
            train_min_rows=60,
            train_min_span_min=60,
            score_interval_s=1,
            train_interval_s=1,
        )
    )


@one_database
@pytest.mark.timeout(180)
def test_faulty_asset_alerts_healthy_ones_stay_quiet(db_url, tmp_path):
    engine = make_engine(db_url)
    result = run_headless(engine, Settings(database_url=db_url, var_dir=tmp_path), _plant(), duration=18)

    assert {a["asset"] for a in result["assets"]} == {"P-1", "C-1", "S-1"}
    assert result["readings"] > 3 * 7 * 100  # three assets, seven tags, > 100 polls each
    alerted = [a for a in result["alerts"] if a["asset"] == "P-1"]
    assert len(alerted) == 1, result["alerts"]
    fault = result["faults"][0]
    opened = datetime.fromisoformat(alerted[0]["opened_at"])
    assert datetime.fromisoformat(fault["start"]) <= opened <= datetime.fromisoformat(fault["end"])
    assert "vibration" in alerted[0]["sensors"] or "bearing_temp" in alerted[0]["sensors"]
    assert not [a for a in result["alerts"] if a["asset"] != "P-1"], result["alerts"]

    with session_factory(engine)() as s:
        assert s.execute(select(func.count()).select_from(Reading)).scalar_one() == result["readings"]
        assert s.execute(select(func.count()).select_from(ModelVersion)).scalar_one() == 3
        assert s.execute(select(func.count()).select_from(Score)).scalar_one() > 0
    engine.dispose()
