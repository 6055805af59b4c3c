"""The running rule holds for an asset scored by its class's fleet model (cold start) as for one with
its own model: its baseline is taken from running rows, and the fleet learns no member's stopped rows."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from pdm.models.fleet import train_fleets
from pdm.models.lifecycle import train_asset
from pdm.models.scoring import score_asset
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Alert, ModelVersion, Score
from tests.models.test_fleet import DETECTION, FLEET_PLANT, STEP_S, T0, _feed, _members, _plant

RULE = DETECTION.model_copy(update={"running_tag": "flow", "running_above": 1.0, "startup_min": 5.0})


def _stop(s, asset, start_min: int, minutes: int) -> None:
    """The machine stopped: every sensor at its resting level."""
    rng = np.random.default_rng(start_min)
    tags = list_tags(s, company_id=asset.company_id, asset_id=asset.id)
    rows = [
        {"tag_id": t.id, "ts": T0 + (start_min + m) * STEP_S, "value": float(rng.normal(0, 0.01)), "quality": 0}
        for t in tags
        for m in range(minutes)
    ]
    insert_readings(s, [{**r, "received_at": r["ts"]} for r in rows])


def _count(s, table, asset) -> int:
    return s.execute(select(func.count()).select_from(table).where(table.asset_id == asset.id)).scalar()


@pytest.mark.parametrize("rule", [False, True], ids=["no rule", "running rule"])
def test_a_new_machine_first_read_stopped_raises_nothing_on_the_fleet_model_with_its_rule(sessions, rule):
    detection = RULE if rule else DETECTION
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        assert len(train_fleets(s, detection=DETECTION)) == 1
        n1 = _feed(s, "gamma", "N-1", minutes=0)  # no reading yet
        _stop(s, n1, 200, 60)  # connected at night, before it first runs
        _feed(s, "gamma", "N-1", minutes=60, start_min=260)
        opened = score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=detection)
        binding = s.execute(select(ModelVersion).where(ModelVersion.asset_id == n1.id)).scalar_one()
        scored, alerts = _count(s, Score, n1), _count(s, Alert, n1)
    assert binding.detector == "fleet:centrifugal_pump"
    if not rule:  # the night is scored, and "stopped" is its baseline: running looks like a fault
        assert opened is not None and alerts == 1 and scored == 120
    else:  # baseline from its first 30 running minutes; the night, the 2 rows whose smoothing window
        # (3 rows) still holds a stopped reading and the 5 warm-up rows after them are not scored
        assert opened is None and alerts == 0 and scored == 60 - 2 - 5
        assert binding.trained_from == T0 + (260 + 2 + 5) * STEP_S


def test_the_fleet_does_not_learn_its_members_stopped_rows(sessions):
    plan = [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")]
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        for company, slug in plan:  # an hour running, an hour stopped, an hour running again
            a = _feed(s, company, slug, minutes=60)
            _stop(s, a, 60, 60)
            _feed(s, company, slug, minutes=60, start_min=120)
            assert train_asset(s, company_id=a.company_id, asset_id=a.id, detection=RULE) is not None
        rows = {
            name: train_fleets(s, detection=d)[0].metrics["rows"] for name, d in (("all", DETECTION), ("rule", RULE))
        }
    # Per member: the stopped hour (its first 2 rows too, though their flow smoothed over 3 rows
    # still reads running), the 2 rows after the restart whose window holds a stopped reading,
    # and 5 warm-up rows.
    assert rows["all"] - rows["rule"] == 3 * (60 + 2 + 5)
