"""A plant whose assets are in every overview state, cycling through them in order (shared by the state
module's tests, the overview page's tests and bench/overview.py).

Asset ``i`` of a company is in state ``STATES[i % 6]``; names are ``"<Company initial> M<i>"``, so the name
says nothing about the state a test expects. Every asset has a ``speed`` running tag (its own detection
override: running above 10) and a ``vibration`` tag.
"""

from __future__ import annotations

from pdm.alerts.overview import ALERT, NO_DATA, NO_MODEL, STATES, STOPPED, WATCH
from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, list_assets, list_companies, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Alert, ModelVersion, Score

READINGS = 5  # per tag, one a minute, the newest a minute before now
SCORES = 10
THRESHOLD = 2.0
RATIO = {ALERT: 1.5, WATCH: 0.9}  # the others score 0.3 of the threshold


def plant(companies: dict[str, int], sites: int = 2) -> dict:
    """{slug: number of assets} → a plant config; assets are spread over ``sites`` sites per company."""
    out = []
    for slug, count in companies.items():
        by_site: dict[int, list[int]] = {}
        for i in range(count):
            by_site.setdefault(i % sites, []).append(i)
        out.append(
            {
                "id": slug,
                "name": slug.capitalize(),
                "sites": [
                    {
                        "id": f"{slug}-s{s}",
                        "name": f"{slug.capitalize()} site {s}",
                        "assets": [
                            {
                                "id": f"{slug}-m{i}",
                                "name": f"{slug[0].upper()} M{i}",
                                "asset_class": "pump",
                                "detection": {"running_tag": "speed", "running_above": 10},
                            }
                            for i in indexes
                        ],
                        "endpoints": [
                            {
                                "name": f"{slug}-plc{s}",
                                "endpoint_url": f"opc.tcp://127.0.0.1:4840/{slug}/{s}",
                                "nodes": [
                                    {"node_id": f"ns=2;s=M{i}.{tag}", "tag": tag, "asset": f"{slug}-m{i}"}
                                    for i in indexes
                                    for tag in ("speed", "vibration")
                                ],
                            }
                        ],
                    }
                    for s, indexes in by_site.items()
                ],
            }
        )
    return {"companies": out}


def expected_state(slug: str) -> str:
    """The state the builder put asset ``<company>-m<i>`` in."""
    return STATES[int(slug.rsplit("-m", 1)[1]) % len(STATES)]


def fill(
    session, companies: dict[str, int], *, now: float, sites: int = 2, readings: int = READINGS, scores: int = SCORES
) -> dict[str, str]:
    """Builds the plant with ``readings`` per tag and ``scores`` per modelled asset, its models and alerts;
    returns {asset name: expected state}."""
    apply_plants(session, parse_plants(plant(companies, sites)))
    expected, rows = {}, []
    for company in list_companies(session):
        tags: dict[int, list] = {}
        for tag in list_tags(session, company_id=company.id):
            tags.setdefault(tag.asset_id, []).append(tag)
        for asset in list_assets(session, company_id=company.id):
            state = expected_state(asset.slug)
            expected[asset.name] = state
            # No data: the newest reading arrived two hours ago.
            newest = now - (7200.0 if state == NO_DATA else 60.0)
            for tag in tags.get(asset.id, []):
                value = 0.0 if (tag.name == "speed" and state == STOPPED) else 100.0
                rows += [
                    {
                        "tag_id": tag.id,
                        "ts": newest - k * 60,
                        "value": value,
                        "quality": 0,
                        "received_at": newest - k * 60,
                    }
                    for k in range(readings)
                ]
            if state != NO_MODEL:
                _model(session, company.id, asset.id, state, newest, scores)
    insert_readings(session, rows)
    return expected


def _model(session, company_id: int, asset_id: int, state: str, newest: float, scores: int) -> None:
    mv = ModelVersion(
        company_id=company_id,
        asset_id=asset_id,
        version=1,
        detector="pca",
        created_at=newest - 86_400,
        trained_from=newest - 2 * 86_400,
        trained_to=newest - 86_400,
        threshold=THRESHOLD,
        feature_names=["speed", "vibration"],
        envelope=b"x",
    )
    session.add(mv)
    session.flush()
    ratio = RATIO.get(state, 0.3)
    # The high score only in the newest minutes: older scores are calm, as before a fault shows.
    session.add_all(
        Score(
            asset_id=asset_id,
            ts=newest - k * 60,
            company_id=company_id,
            model_version_id=mv.id,
            score=THRESHOLD * (ratio if k < 2 else 0.3),
            threshold=THRESHOLD,
        )
        for k in range(scores)
    )
    if state == ALERT:
        session.add(
            Alert(
                company_id=company_id,
                asset_id=asset_id,
                model_version_id=mv.id,
                status="ACKNOWLEDGED",
                severity="high",
                opened_at=newest - 120,
                last_seen_at=newest,
                peak_score=THRESHOLD * ratio,
                threshold=THRESHOLD,
                sensors=[{"tag": "vibration", "contribution": 0.8, "value": 9.0}],
            )
        )
