"""The Streamlit app end to end through AppTest, on a real SQLite database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert
from tests.helpers.app import APP, N, app_db, chart_data, open_page, page_text
from tests.helpers.login import logged_in

# Readings stored per company: alpha has 2 tags x N on the pump, beta 1 tag x N/2.
EXPECTED = {
    "Alpha Foods": {"assets": 2, "tags": 3, "endpoints": 1, "readings": 2 * N, "open alerts": 1},
    "Beta Metals": {"assets": 1, "tags": 1, "endpoints": 1, "readings": N // 2, "open alerts": 0},
}


@pytest.fixture(scope="module")
def plant_db(tmp_path_factory) -> str:
    # Read-only for every test here, so one database serves the module.
    return app_db(tmp_path_factory.mktemp("ui") / "pdm.sqlite3")


def _app(monkeypatch, url: str, *, login: bool = True) -> AppTest:
    if login:
        # The admin: sees every page and is the one role with a company picker.
        return logged_in(monkeypatch, url, "root", "admin", None)
    monkeypatch.setenv("PDM_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(monkeypatch, plant_db) -> AppTest:
    # The alerts page: these tests start from it (the landing page is the overview, tests/ui/test_overview.py).
    return open_page(_app(monkeypatch, plant_db), "alerts")


def _pick_company(at: AppTest, slug: str) -> AppTest:
    picker = at.sidebar.selectbox(key="company_picker")
    # Options are shown by name; the widget's value is the slug.
    assert picker.options == ["Alpha Foods", "Beta Metals"]
    picker.set_value(slug).run()
    assert not at.exception, at.exception
    return at


def test_technician_lists_company_alerts(app):
    text = page_text(app)
    assert "Alerts" in text and "Pump A1" in text and "high" in text and "vibration 70%" in text
    assert app.sidebar.selectbox(key="company_picker").value == "alpha"


def test_other_company_sees_no_alerts_of_first(app):
    text = page_text(_pick_company(app, "beta"))
    assert "No alerts for Beta Metals" in text
    assert "Pump A1" not in text and "vibration" not in text


def test_selecting_alert_shows_sensors_and_charts(app, plant_db):
    assert not app.get("vega_lite_chart")
    company_id, alert_id = _alert_ids(plant_db)
    # set_value, not select_index: AppTest's select_index passes the *formatted* label as the value.
    app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not app.exception, app.exception
    telemetry, score = app.get("vega_lite_chart")
    text = page_text(app)
    assert "alert #" in text and "Contributing sensors: vibration 70%" in text
    # Only the contributing sensor, from opened_at - 30 min to the end of the stored data
    # (last_seen + 10 min lies past it): rows 10..59, in the data's time, not "now".
    df = chart_data(telemetry)
    assert set(df["tag"]) == {"vibration"} and len(df) == N - 10
    marks = [layer["mark"]["type"] for layer in json.loads(score.proto.spec)["layer"]]
    assert marks == ["rect", "line", "rule"]  # alert window, score, threshold


def test_asset_page_charts_a_day_in_buckets_and_an_hour_raw(app, plant_db):
    company_id, _ = _alert_ids(plant_db)
    open_page(app, "assets")
    app.selectbox(key=f"asset_pick_{company_id}").select_index(1).run()  # by slug: fan-a2, pump-a1
    assert not app.exception, app.exception
    # 24 hours ending at the newest reading: 2-minute buckets; T0 is 80 s past a bucket's start, so
    # reading 0 is alone, then readings (1, 2), (3, 4), … (57, 58), then 59 alone: 31 buckets per tag.
    charts = app.get("vega_lite_chart")
    assert len(charts) == 2 and "Shown: 2m buckets computed from the stored readings" in page_text(app)
    day = chart_data(charts[0])
    assert len(day) == 31 and set(day["level"]) == {"2m"}
    assert day[["value", "min", "max"]].iloc[1].tolist() == [1.5, 1.0, 2.0]  # values i % 7 of readings 1 and 2
    marks = [layer["mark"]["type"] for layer in json.loads(charts[0].proto.spec)["layer"]]
    assert marks == ["area", "line"]  # the bucket's min-max band under its mean
    app.selectbox(key=f"asset_range_{company_id}").set_value("1 hour").run()
    hour = chart_data(app.get("vega_lite_chart")[0])
    assert len(hour) == N and set(hour["level"]) == {"raw"} and "Shown: every stored reading." in page_text(app)
    app.selectbox(key=f"asset_pick_{company_id}").select_index(0).run()
    assert not app.get("vega_lite_chart") and "No readings stored for Fan A2" in page_text(app)


def _alert_ids(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        row = session.execute(select(Alert.company_id, Alert.id)).one()
    engine.dispose()
    return row.company_id, row.id


def test_engineer_page_is_tenant_scoped(app):
    text = page_text(open_page(app, "endpoints"))
    assert "opc.tcp://127.0.0.1:4840/alpha" in text
    for tag in ("vibration", "bearing_temp", "fan_speed", "ns=2;s=P1.Vib"):
        assert tag in text
    assert "4840/beta" not in text and "hydraulic_pressure" not in text
    text = page_text(_pick_company(app, "beta"))
    assert "4840/beta" in text and "hydraulic_pressure" in text and "4840/alpha" not in text


def test_company_choice_survives_cluster_page(app):
    _pick_company(app, "beta")
    open_page(app, "cluster")
    assert [s.key for s in app.sidebar.selectbox] == ["pdm_lang_pick"]  # the cluster page has no tenant
    open_page(app, "alerts")
    assert app.sidebar.selectbox(key="company_picker").value == "beta"


def test_cluster_page_counts(app, plant_db):
    from pdm.ui.cluster import counts_frame

    at = open_page(app, "cluster")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["companies"] == "2"
    assert metrics["readings"] == f"{2 * N + N // 2:,}" and metrics["open alerts"] == "1"
    # Two companies: the per-company rows would compare them by name, so the page shows totals only.
    assert not at.dataframe and "only 2 companies in the group" in page_text(at)
    engine = make_engine(plant_db)
    with session_factory(engine)() as s:
        df = counts_frame(s)
    engine.dispose()
    got = {row["company"]: {k: int(row[k]) for k in EXPECTED["Alpha Foods"]} for _, row in df.iterrows()}
    assert got == EXPECTED


def test_empty_database_says_how_to_load_config(monkeypatch, tmp_path):
    at = _app(monkeypatch, app_db(tmp_path / "empty.sqlite3", fill=False))
    assert "pdmctl --local-admin config apply config/plants.example.yaml" in page_text(at)


def test_database_without_tables_says_how_to_upgrade(monkeypatch, tmp_path):
    at = _app(monkeypatch, app_db(tmp_path / "bare.sqlite3", migrate=False, fill=False), login=False)
    text = page_text(at)
    assert "pdmctl --local-admin db upgrade" in text and "make demo" in text


def test_unreachable_database_is_reported_without_password(monkeypatch):
    # Port 1 on loopback refuses at once; the message must name the server, never the secret.
    at = _app(monkeypatch, "postgresql://pdm:s3cret-pw@127.0.0.1:1/pdm", login=False)
    text = page_text(at)
    assert "Cannot read the database" in text and "127.0.0.1" in text
    assert "s3cret-pw" not in text
