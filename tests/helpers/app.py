"""The Streamlit app under AppTest on a real SQLite database: the two-company plant, its readings and alert, and
helpers to open a page and read what it shows (shared by the UI, access, model and storage tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, ModelVersion, Score

APP = Path(__file__).parents[2] / "app_streamlit.py"
TITLES = {
    "overview": "Overview",
    "alerts": "Alerts",
    "endpoints": "Endpoints",
    "cluster": "Cluster",
    "assets": "Assets",
}
T0 = 1_700_000_000.0  # data time, deliberately far from "now"
STEP = 60.0
N = 60

PLANTS = {
    "companies": [
        {
            "id": "alpha",
            "name": "Alpha Foods",
            "sites": [
                {
                    "id": "a-site",
                    "assets": [
                        {"id": "pump-a1", "name": "Pump A1", "asset_class": "pump", "criticality": 4},
                        {"id": "fan-a2", "name": "Fan A2", "asset_class": "fan"},
                    ],
                    "endpoints": [
                        {
                            "name": "ep-alpha",
                            "endpoint_url": "opc.tcp://127.0.0.1:4840/alpha",
                            "nodes": [
                                {"node_id": "ns=2;s=P1.Vib", "tag": "vibration", "unit": "mm/s", "asset": "pump-a1"},
                                {
                                    "node_id": "ns=2;s=P1.Temp",
                                    "tag": "bearing_temp",
                                    "unit": "degC",
                                    "asset": "pump-a1",
                                },
                                {"node_id": "ns=2;s=F2.Speed", "tag": "fan_speed", "unit": "rpm", "asset": "fan-a2"},
                            ],
                        }
                    ],
                }
            ],
        },
        {
            "id": "beta",
            "name": "Beta Metals",
            "sites": [
                {
                    "id": "b-site",
                    "assets": [{"id": "press-b1", "name": "Press B1", "asset_class": "press"}],
                    "endpoints": [
                        {
                            "name": "ep-beta",
                            "endpoint_url": "opc.tcp://127.0.0.1:4840/beta",
                            "nodes": [
                                {
                                    "node_id": "ns=2;s=B1.Pres",
                                    "tag": "hydraulic_pressure",
                                    "unit": "bar",
                                    "asset": "press-b1",
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    ]
}


def _readings(tags, count):
    return [
        {"tag_id": t.id, "ts": T0 + i * STEP, "value": float(i % 7), "quality": 0, "received_at": T0 + i * STEP}
        for t in tags
        for i in range(count)
    ]


def fill_plant(session) -> None:
    apply_plants(session, parse_plants(PLANTS))
    alpha, beta = company_by_slug(session, "alpha"), company_by_slug(session, "beta")
    pump = next(a for a in list_assets(session, company_id=alpha.id) if a.slug == "pump-a1")
    insert_readings(session, _readings(list_tags(session, company_id=alpha.id, asset_id=pump.id), N))
    insert_readings(session, _readings(list_tags(session, company_id=beta.id), N // 2))
    mv = ModelVersion(
        company_id=alpha.id,
        asset_id=pump.id,
        version=1,
        detector="pca",
        created_at=T0,
        trained_from=T0,
        trained_to=T0 + 10 * STEP,
        threshold=3.0,
        feature_names=["vibration", "bearing_temp"],
        envelope=b"x",
    )
    session.add(mv)
    session.flush()
    session.add_all(
        [
            Score(
                asset_id=pump.id,
                ts=T0 + i * STEP,
                company_id=alpha.id,
                model_version_id=mv.id,
                score=9.1 if 40 <= i <= 50 else 1.0,
                threshold=3.0,
            )
            for i in range(N)
        ]
    )
    session.add(
        Alert(
            company_id=alpha.id,
            asset_id=pump.id,
            model_version_id=mv.id,
            status="OPEN",
            severity="high",
            opened_at=T0 + 40 * STEP,
            last_seen_at=T0 + 50 * STEP,
            peak_score=9.1,
            threshold=3.0,
            sensors=[{"tag": "vibration", "contribution": 0.7, "value": 9.1}],
        )
    )


def app_db(path: Path, *, migrate: bool = True, fill: bool = True) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    if fill:
        with session_factory(engine).begin() as session:
            fill_plant(session)
    engine.dispose()
    return url


def open_page(at: AppTest, url_path: str) -> AppTest:
    # AppTest.switch_page() only resolves page *files*; our pages are callables, which
    # st.navigation registers under calc_hash(url_path). Request that hash, as a browser URL would.
    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    # An unknown hash silently falls back to the default page: make sure we really switched.
    assert at.title[0].value == TITLES[url_path]
    return at


def page_text(at: AppTest) -> str:
    """Everything a user can read on the page, tables included."""
    parts = [
        str(e.value)
        for kind in ("title", "subheader", "caption", "markdown", "info", "warning", "error")
        for e in getattr(at, kind)
    ]
    parts += [e.value.to_string() for e in at.dataframe]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def chart_data(chart) -> pd.DataFrame:
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()
