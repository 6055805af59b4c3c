"""Readings: keyed (tag, ts), re-deliveries ignored, range reads per company."""

import pandas as pd
import pytest
from sqlalchemy import func, select

from pdm.storage.catalog import apply_plants, list_assets, list_tags
from pdm.storage.readings import asset_readings, count_readings, insert_readings
from pdm.storage.tables import Company, Reading


@pytest.fixture
def loaded(sessions, small_plant):
    with sessions.begin() as s:
        apply_plants(s, small_plant)
    return sessions


def _ids(session, slug):
    company = session.execute(select(Company).where(Company.slug == slug)).scalar_one()
    asset = list_assets(session, company_id=company.id)[0]
    return company.id, asset


def test_redelivered_reading_is_stored_once(loaded):
    with loaded.begin() as s:
        cid, asset = _ids(s, "acme")
        tag = list_tags(s, company_id=cid, asset_id=asset.id)[0]
        rows = [
            {"tag_id": tag.id, "ts": 1000.0 + i, "value": float(i), "quality": 0, "received_at": 2000.0}
            for i in range(10)
        ]
        insert_readings(s, rows)
    with loaded.begin() as s:
        insert_readings(s, rows[5:] + [{**rows[0], "ts": 2000.0}])
    with loaded() as s:
        assert s.execute(select(func.count()).select_from(Reading)).scalar_one() == 11
        # the first delivery wins: a replay never rewrites what is stored
        assert s.execute(select(Reading.value).where(Reading.ts == 1005.0)).scalar_one() == 5.0


def test_asset_readings_are_filtered_by_company_and_time(loaded):
    with loaded.begin() as s:
        cid, asset = _ids(s, "acme")
        tags = list_tags(s, company_id=cid, asset_id=asset.id)
        insert_readings(
            s,
            [
                {"tag_id": t.id, "ts": 100.0 + i, "value": 1.0, "quality": 0, "received_at": 0.0}
                for t in tags
                for i in range(5)
            ],
        )
        other_cid, _ = _ids(s, "beta")
    with loaded() as s:
        frame = asset_readings(s, company_id=cid, asset_id=asset.id, start=101, end=103)
        assert isinstance(frame, pd.DataFrame)
        assert sorted(frame["ts"].unique()) == [101.0, 102.0, 103.0]
        assert set(frame["tag"]) == {t.name for t in tags}
        # another company asking for this asset's readings gets nothing
        assert asset_readings(s, company_id=other_cid, asset_id=asset.id).empty
        assert count_readings(s, company_id=cid) == 5 * len(tags)
        assert count_readings(s, company_id=other_cid) == 0


def test_apply_plants_is_idempotent_and_updates_in_place(loaded, small_plant):
    with loaded() as s:
        before = {
            (t.asset_id, t.name): t.id
            for c in s.execute(select(Company)).scalars()
            for t in list_tags(s, company_id=c.id)
        }
    data = small_plant.model_dump(mode="json")
    data["companies"][0]["sites"][0]["assets"][0]["criticality"] = 5
    from pdm.config import parse_plants

    with loaded.begin() as s:
        summary = apply_plants(s, parse_plants(data))
    assert summary.tags == len(before)
    with loaded() as s:
        after = {
            (t.asset_id, t.name): t.id
            for c in s.execute(select(Company)).scalars()
            for t in list_tags(s, company_id=c.id)
        }
        cid, asset = _ids(s, "acme")
        assert after == before
        assert {a.slug: a.criticality for a in list_assets(s, company_id=cid)}["P-1"] == 5


def test_bulk_batches_are_deduplicated_on_both_backends(loaded):
    """Large batches take COPY on PostgreSQL: a replay must still be ignored, not doubled."""
    with loaded.begin() as s:
        cid, asset = _ids(s, "acme")
        tags = list_tags(s, company_id=cid, asset_id=asset.id)
        rows = [
            {"tag_id": t.id, "ts": float(i), "value": float(i), "quality": 0, "received_at": 0.0}
            for t in tags
            for i in range(200)
        ]
        insert_readings(s, rows)
    assert len(rows) >= 1000
    with loaded.begin() as s:
        insert_readings(
            s, [{**r, "value": -1.0} for r in rows[500:]] + [{**r, "ts": r["ts"] + 1000} for r in rows[:500]]
        )
    with loaded() as s:
        assert count_readings(s, company_id=cid) == len(rows) + 500
        assert s.execute(select(func.min(Reading.value))).scalar_one() == 0.0  # no replayed -1 stored
