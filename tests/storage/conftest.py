"""The storage tests' plant: company acme's first asset and its tags, company beta beside it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pdm.storage.catalog import apply_plants, list_assets, list_tags
from pdm.storage.tables import Company


@pytest.fixture
def plant(sessions, small_plant):
    with sessions.begin() as s:
        apply_plants(s, small_plant)
        acme = s.execute(select(Company).where(Company.slug == "acme")).scalar_one()
        beta = s.execute(select(Company).where(Company.slug == "beta")).scalar_one()
        asset = list_assets(s, company_id=acme.id)[0]
        tags = list_tags(s, company_id=acme.id, asset_id=asset.id)
    return {"company": acme.id, "other": beta.id, "asset": asset.id, "tags": [(t.id, t.name) for t in tags]}
