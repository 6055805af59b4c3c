"""The Streamlit app end to end through AppTest, on a real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, ModelVersion, Score

APP = Path(__file__).parents[2] / "app_streamlit.py"
TITLES = {"alerts": "Alerts", "endpoints": "Endpoints", "cluster": "Cluster", "assets": "Assets"}
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
# Readings stored per company: alpha has 2 tags x N on the pump, beta 1 tag x N/2.
EXPECTED = {
    "Alpha Foods": {"assets": 2, "tags": 3, "endpoints": 1, "readings": 2 * N, "open alerts": 1},
    "Beta Metals": {"assets": 1, "tags": 1, "endpoints": 1, "readings": N // 2, "open alerts": 0},
}


def _readings(tags, count):
    return [
        {"tag_id": t.id, "ts": T0 + i * STEP, "value": float(i % 7), "quality": 0, "received_at": T0 + i * STEP}
        for t in tags
        for i in range(count)
    ]


def _fill(session) -> None:
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


def _db(path: Path, *, migrate: bool = True, fill: bool = True) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    if fill:
        with session_factory(engine).begin() as session:
            _fill(session)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def plant_db(tmp_path_factory) -> str:
    # Read-only for every test here, so one database serves the module.
    return _db(tmp_path_factory.mktemp("ui") / "pdm.sqlite3")


def _app(monkeypatch, url: str, *, login: bool = True) -> AppTest:
    if login:
        # The admin: sees every page and is the one role with a company picker.
        from tests.ui.test_login import logged_in

        return logged_in(monkeypatch, url, "root", "admin", None)
    monkeypatch.setenv("PDM_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(monkeypatch, plant_db) -> AppTest:
    return _app(monkeypatch, plant_db)


def _open(at: AppTest, url_path: str) -> AppTest:
    # AppTest.switch_page() only resolves page *files*; our pages are callables, which
    # st.navigation registers under calc_hash(url_path). Request that hash, as a browser URL would.
    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    # An unknown hash silently falls back to the default page: make sure we really switched.
    assert at.title[0].value == TITLES[url_path]
    return at


def _text(at: AppTest) -> str:
    """Everything a user can read on the page, tables included."""
    parts = [
        str(e.value)
        for kind in ("title", "subheader", "caption", "markdown", "info", "error")
        for e in getattr(at, kind)
    ]
    parts += [e.value.to_string() for e in at.dataframe]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def _pick_company(at: AppTest, slug: str) -> AppTest:
    picker = at.sidebar.selectbox(key="company_picker")
    # Options are shown by name; the widget's value is the slug.
    assert picker.options == ["Alpha Foods", "Beta Metals"]
    picker.set_value(slug).run()
    assert not at.exception, at.exception
    return at


def test_technician_lists_company_alerts(app):
    text = _text(app)
    assert "Alerts" in text and "Pump A1" in text and "high" in text and "vibration 70%" in text
    assert app.sidebar.selectbox(key="company_picker").value == "alpha"


def test_other_company_sees_no_alerts_of_first(app):
    text = _text(_pick_company(app, "beta"))
    assert "No alerts for Beta Metals" in text
    assert "Pump A1" not in text and "vibration" not in text


def test_selecting_alert_shows_sensors_and_charts(app, plant_db):
    assert not app.get("vega_lite_chart")
    company_id, alert_id = _alert_ids(plant_db)
    # set_value, not select_index: AppTest's select_index passes the *formatted* label as the value.
    app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not app.exception, app.exception
    telemetry, score = app.get("vega_lite_chart")
    text = _text(app)
    assert "alert #" in text and "Contributing sensors: vibration 70%" in text
    # Only the contributing sensor, from opened_at - 30 min to the end of the stored data
    # (last_seen + 10 min lies past it): rows 10..59, in the data's time, not "now".
    df = _chart_data(telemetry)
    assert set(df["tag"]) == {"vibration"} and len(df) == N - 10
    marks = [layer["mark"]["type"] for layer in json.loads(score.proto.spec)["layer"]]
    assert marks == ["rect", "line", "rule"]  # alert window, score, threshold


def test_asset_page_charts_a_day_in_buckets_and_an_hour_raw(app, plant_db):
    company_id, _ = _alert_ids(plant_db)
    _open(app, "assets")
    app.selectbox(key=f"asset_pick_{company_id}").select_index(1).run()  # by slug: fan-a2, pump-a1
    assert not app.exception, app.exception
    # 24 hours ending at the newest reading: 2-minute buckets; T0 is 80 s past a bucket's start, so
    # reading 0 is alone, then readings (1, 2), (3, 4), … (57, 58), then 59 alone: 31 buckets per tag.
    charts = app.get("vega_lite_chart")
    assert len(charts) == 2 and "Shown: 2m buckets computed from the stored readings" in _text(app)
    day = _chart_data(charts[0])
    assert len(day) == 31 and set(day["level"]) == {"2m"}
    assert day[["value", "min", "max"]].iloc[1].tolist() == [1.5, 1.0, 2.0]  # values i % 7 of readings 1 and 2
    marks = [layer["mark"]["type"] for layer in json.loads(charts[0].proto.spec)["layer"]]
    assert marks == ["area", "line"]  # the bucket's min-max band under its mean
    app.selectbox(key=f"asset_range_{company_id}").set_value("1 hour").run()
    hour = _chart_data(app.get("vega_lite_chart")[0])
    assert len(hour) == N and set(hour["level"]) == {"raw"} and "Shown: every stored reading." in _text(app)
    app.selectbox(key=f"asset_pick_{company_id}").select_index(0).run()
    assert not app.get("vega_lite_chart") and "No readings stored for Fan A2" in _text(app)


def _chart_data(chart) -> pd.DataFrame:
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()


def _alert_ids(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        row = session.execute(select(Alert.company_id, Alert.id)).one()
    engine.dispose()
    return row.company_id, row.id


def test_engineer_page_is_tenant_scoped(app):
    text = _text(_open(app, "endpoints"))
    assert "opc.tcp://127.0.0.1:4840/alpha" in text
    for tag in ("vibration", "bearing_temp", "fan_speed", "ns=2;s=P1.Vib"):
        assert tag in text
    assert "4840/beta" not in text and "hydraulic_pressure" not in text
    text = _text(_pick_company(app, "beta"))
    assert "4840/beta" in text and "hydraulic_pressure" in text and "4840/alpha" not in text


def test_company_choice_survives_cluster_page(app):
    _pick_company(app, "beta")
    _open(app, "cluster")
    assert not app.sidebar.selectbox  # the cluster page has no tenant
    _open(app, "alerts")
    assert app.sidebar.selectbox(key="company_picker").value == "beta"


def test_cluster_page_counts(app, plant_db):
    from pdm.ui.cluster import counts_frame

    at = _open(app, "cluster")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["companies"] == "2"
    assert metrics["readings"] == f"{2 * N + N // 2:,}" and metrics["open alerts"] == "1"
    # Two companies: the per-company rows would compare them by name, so the page shows totals only.
    assert not at.dataframe and "only 2 companies in the group" in _text(at)
    engine = make_engine(plant_db)
    with session_factory(engine)() as s:
        df = counts_frame(s)
    engine.dispose()
    got = {row["company"]: {k: int(row[k]) for k in EXPECTED["Alpha Foods"]} for _, row in df.iterrows()}
    assert got == EXPECTED


def test_empty_database_says_how_to_load_config(monkeypatch, tmp_path):
    at = _app(monkeypatch, _db(tmp_path / "empty.sqlite3", fill=False))
    assert "pdmctl config apply config/plants.example.yaml" in _text(at)


def test_database_without_tables_says_how_to_upgrade(monkeypatch, tmp_path):
    at = _app(monkeypatch, _db(tmp_path / "bare.sqlite3", migrate=False, fill=False), login=False)
    text = _text(at)
    assert "pdmctl db upgrade" in text and "make demo" in text


def test_unreachable_database_is_reported_without_password(monkeypatch):
    # Port 1 on loopback refuses at once; the message must name the server, never the secret.
    at = _app(monkeypatch, "postgresql://pdm:s3cret-pw@127.0.0.1:1/pdm", login=False)
    text = _text(at)
    assert "Cannot read the database" in text and "127.0.0.1" in text
    assert "s3cret-pw" not in text
