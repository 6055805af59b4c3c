"""One pump of company acme with readings written row by row on a 30 s grid, trained, scored and listed through
the model lifecycle API (shared by the lifecycle and scoring tests)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from pdm.config import DetectionConfig, parse_plants
from pdm.models.lifecycle import asset_due, normal_frame, train_asset
from pdm.models.scoring import score_asset
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import ModelVersion
from tests.helpers.plants import SENSORS, plant_dict

STEP = 30.0
T0 = 30 * 33_333_333.0  # on the 30 s grid, so feature rows keep the readings' times
TAGS = SENSORS["centrifugal_pump"]
COEF = np.array([1.0, 0.8, -0.5, 1.2, 0.3, 0.6, 0.9])
OFFSET = np.array([10.0, 5.0, 2.0, 30.0, 1.0, 50.0, 60.0])
DETECTION = DetectionConfig(
    detector="pca",
    train_min_rows=60,
    train_min_span_min=10,
    smooth_rows=1,
    debounce_rows=3,
    retrain_after_h=24,
    silent_period_min=5,
)


def ts(row: int) -> float:
    return T0 + row * STEP


class Plant:
    """One pump of company acme (and a spindle of company beta), with its readings written row by row."""

    def __init__(self, sessions):
        self.sessions = sessions
        with sessions.begin() as s:
            apply_plants(
                s, parse_plants(plant_dict({"acme": [("P-1", "centrifugal_pump")], "beta": [("S-1", "cnc_spindle")]}))
            )
            self.cid = company_by_slug(s, "acme").id
            self.other_cid = company_by_slug(s, "beta").id
            self.aid = list_assets(s, company_id=self.cid)[0].id
            self.other_aid = list_assets(s, company_id=self.other_cid)[0].id

    def write(self, first: int, n: int, *, shift: dict | None = None, load: tuple[float, float] | None = None) -> None:
        """Rows ``first`` … ``first + n - 1``: sensors follow one operating point (a slow cycle, or
        uniform in ``load``) plus noise; ``shift`` adds a level to some tags."""
        rng = np.random.default_rng(int(first))
        rows_idx = np.arange(first, first + n)
        x = np.sin(2 * np.pi * rows_idx * STEP / 2400.0) if load is None else rng.uniform(*load, n)
        with self.sessions.begin() as s:
            tags = {t.name: t.id for t in list_tags(s, company_id=self.cid, asset_id=self.aid)}
            rows = []
            for j, name in enumerate(TAGS):
                if name not in tags:
                    continue
                values = OFFSET[j] + COEF[j] * x + rng.normal(0, 0.05, n) + (shift or {}).get(name, 0.0)
                rows += [
                    {"tag_id": tags[name], "ts": ts(i), "value": float(v), "quality": 0, "received_at": 0.0}
                    for i, v in zip(rows_idx, values)
                ]
            insert_readings(s, rows)

    def train(self, detection=DETECTION):
        with self.sessions.begin() as s:
            v = train_asset(s, company_id=self.cid, asset_id=self.aid, detection=detection)
            return None if v is None else (v.version, v.status, v.reason, v.trained_from, v.trained_to, v.metrics)

    def due(self, now=None, detection=DETECTION):
        with self.sessions() as s:
            return asset_due(s, company_id=self.cid, asset_id=self.aid, detection=detection, now=now)

    def frame(self):
        with self.sessions() as s:
            return normal_frame(s, company_id=self.cid, asset_id=self.aid, detection=DETECTION)

    def score(self):
        with self.sessions.begin() as s:
            alert = score_asset(s, company_id=self.cid, asset_id=self.aid, detection=DETECTION)
            return None if alert is None else alert.id

    def versions(self):
        with self.sessions() as s:
            return [
                (v.version, v.status, v.active)
                for v in s.execute(
                    select(ModelVersion).where(ModelVersion.asset_id == self.aid).order_by(ModelVersion.version)
                ).scalars()
            ]
