"""Detection settings per asset class and per asset, from the plant file down to the model the
worker trains: the asset's own over its class's over the plant file's ``detection``."""

from __future__ import annotations

import pytest

from pdm.config import DetectionConfig, parse_plants
from pdm.errors import ConfigError
from pdm.storage.catalog import apply_plants, list_assets
from tests.helpers.lifecycle import DETECTION, Plant
from tests.helpers.plants import plant_dict

ASSET = "companies[0].sites[0].assets[0].detection."


def _plant_file(asset_detection=None, classes=None) -> dict:
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")], "beta": [("S-1", "cnc_spindle")]})
    data["detection"] = DETECTION.model_dump(exclude_none=True) | {"classes": classes or {}}
    if asset_detection is not None:
        data["companies"][0]["sites"][0]["assets"][0]["detection"] = asset_detection
    return data


def test_the_asset_overrides_its_class_which_overrides_the_plant_file():
    cfg = DetectionConfig(
        false_alerts_per_month=2.0,
        debounce_rows=3,
        classes={"centrifugal_pump": {"false_alerts_per_month": 0.5, "detector": "mad"}},
    )
    pump = cfg.for_asset("centrifugal_pump", {"debounce_rows": 6})
    assert (pump.detector, pump.false_alerts_per_month, pump.debounce_rows) == ("mad", 0.5, 6)
    spindle = cfg.for_asset("cnc_spindle", None, silent_period_min=30)
    assert (spindle.detector, spindle.false_alerts_per_month, spindle.silent_period_min) == ("auto", 2.0, 30)
    assert cfg.for_asset("cnc_spindle") is cfg  # nothing to change: the same settings


def test_the_model_is_trained_with_the_assets_own_settings(sessions):
    data = _plant_file({"detector": "mad", "false_alerts_per_month": 4}, {"centrifugal_pump": {"debounce_rows": 5}})
    plant = Plant(sessions)
    with sessions.begin() as s:
        apply_plants(s, parse_plants(data))
        assert list_assets(s, company_id=plant.cid)[0].detection == {"detector": "mad", "false_alerts_per_month": 4}
    plant.write(0, 300)
    version, status, _reason, _from, _to, metrics = plant.train(DetectionConfig.model_validate(data["detection"]))
    assert status == "active" and metrics["detector"] == "mad"
    assert metrics["threshold"]["budget_per_month"] == 4
    assert metrics["debounce_rows"] == 5


def test_clearing_the_assets_settings_goes_back_to_the_class(sessions):
    plant = Plant(sessions)
    with sessions.begin() as s:
        apply_plants(s, parse_plants(_plant_file({"detector": "mad"})))
        apply_plants(s, parse_plants(_plant_file()))
        assert list_assets(s, company_id=plant.cid)[0].detection is None


@pytest.mark.parametrize(
    ("where", "bad", "field", "value"),
    [
        ("asset", {"false_alerts_per_month": 0}, ASSET + "false_alerts_per_month", "0"),
        ("asset", {"debounce_rows": "many"}, ASSET + "debounce_rows", "many"),
        ("asset", {"thresold": 3}, ASSET + "thresold", "3"),
        ("class", {"smooth_rows": -1}, "detection.classes.centrifugal_pump.smooth_rows", "-1"),
    ],
)
def test_a_bad_setting_names_the_field_and_value(where, bad, field, value):
    data = _plant_file(bad) if where == "asset" else _plant_file(classes={"centrifugal_pump": bad})
    with pytest.raises(ConfigError) as info:
        parse_plants(data, "plants.yaml")
    assert (info.value.field, str(info.value.value)) == (field, value)
    assert "\n" not in str(info.value)
