"""The asset page's model card: the detector, why it was chosen, how its threshold was set; or why
the asset has no model."""

from __future__ import annotations

from sqlalchemy import select, update

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Asset, ModelVersion
from tests.helpers.app import app_db, open_page, page_text
from tests.helpers.login import logged_in

CHOICE = "pca: auto: tags move together (|r| 0.93 between vibration and bearing_temp)"
CALIBRATION = {
    "threshold": 3.0,
    "method": "budget",
    "budget_per_month": 1.0,
    "expected_per_month": 0.4,
    "observed_alerts": 0,
    "rows": 240,
    "span_h": 4.0,
}


def _db(tmp_path, note: str | None) -> tuple[str, int]:
    url = app_db(tmp_path / "pdm.sqlite3")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        session.execute(update(ModelVersion).values(metrics={"rows": 600, "choice": CHOICE, "threshold": CALIBRATION}))
        session.execute(update(Asset).where(Asset.slug == "fan-a2").values(training_note=note, training_note_at=1.0))
        fan = session.execute(select(Asset.id).where(Asset.slug == "fan-a2")).scalar_one()
    engine.dispose()
    return url, fan


def _asset_page(monkeypatch, url, asset_id=None):
    app = logged_in(monkeypatch, url, "ana", "technician", "alpha")
    open_page(app, "assets")
    if asset_id is not None:
        app.selectbox(key="asset_pick_1").set_value(asset_id).run()
    assert not app.exception, app.exception
    return page_text(app)


def test_the_card_names_the_detector_its_reason_and_the_alarm_budget(tmp_path, monkeypatch):
    url, _ = _db(tmp_path, None)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        pump = session.execute(select(Asset.id).where(Asset.slug == "pump-a1")).scalar_one()
    engine.dispose()
    text = _asset_page(monkeypatch, url, pump)
    assert "Version 1 · detector **pca**" in text and "600 rows" in text
    assert f"Why this detector: {CHOICE}" in text
    assert "at most 1 false alert(s) per 30 days, on 240 rows of normal data (4.0 h)" in text
    assert "Tags: vibration, bearing_temp" in text


def test_an_asset_without_a_model_says_why(tmp_path, monkeypatch):
    url, fan = _db(tmp_path, "ValueError: no tag to learn from: fan_speed stuck (one value all through training)")
    text = _asset_page(monkeypatch, url, fan)
    assert "gave no model: ValueError: no tag to learn from: fan_speed stuck" in text
    assert "detector **" not in text


def test_an_asset_waiting_for_data_says_so(tmp_path, monkeypatch):
    url, fan = _db(tmp_path, None)
    text = _asset_page(monkeypatch, url, fan)
    assert "No model yet for Fan A2: the worker trains one once enough normal readings are stored" in text
