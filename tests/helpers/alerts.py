"""The setup the alert tests share: the small plant applied, one active model version on acme's first asset."""

from __future__ import annotations

from pdm.alerts.rules import ScoredRow, evaluate
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.tables import ModelVersion

THRESHOLD = 1.0


def alert_context(sessions, plant) -> tuple:
    """(sessions, company id, asset id, model version id) on a freshly applied plant."""
    with sessions.begin() as s:
        apply_plants(s, plant)
        company = company_by_slug(s, "acme")
        asset = list_assets(s, company_id=company.id)[0]
        mv = ModelVersion(
            company_id=company.id,
            asset_id=asset.id,
            version=1,
            detector="pca",
            created_at=0,
            trained_from=0,
            trained_to=0,
            threshold=THRESHOLD,
            feature_names=["a"],
            metrics={},
            active=True,
            envelope=b"-",
        )
        s.add(mv)
        s.flush()
        return sessions, company.id, asset.id, mv.id


def scored_rows(scores, start=100.0) -> list[ScoredRow]:
    """One row a second from ``start``, each blaming vibration."""
    return [
        ScoredRow(ts=start + i, score=s, sensors=[{"tag": "vibration", "contribution": 0.8, "value": s}])
        for i, s in enumerate(scores)
    ]


def evaluate_rows(sessions, cid, aid, mv, rows, debounce=3):
    with sessions.begin() as s:
        asset = list_assets(s, company_id=cid)[[a.id for a in list_assets(s, company_id=cid)].index(aid)]
        return evaluate(
            s, company_id=cid, asset=asset, model_version_id=mv, threshold=THRESHOLD, rows=rows, debounce_rows=debounce
        )


def opened_alert(ctx, start=100.0) -> int:
    """The id of an alert opened by three rows over the threshold from ``start``."""
    sessions, cid, aid, mv = ctx
    return evaluate_rows(sessions, cid, aid, mv, scored_rows([2, 2, 2], start=start)).id
