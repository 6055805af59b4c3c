"""detection.running_auto: whether training may find a running rule itself (pdm.models.stopped) when
no running_tag is set; on by default, off per plant, class or asset, and a boolean only."""

import pytest

from pdm.config import DetectionConfig, validate_model
from pdm.config.detection import AssetDetection
from pdm.errors import ConfigError


def test_running_auto_is_on_by_default_and_set_per_class_or_asset():
    detection = validate_model(
        DetectionConfig, {"classes": {"centrifugal_pump": {"running_auto": False}}}, "plants.yaml"
    )
    assert DetectionConfig().running_auto is True
    assert detection.for_asset("centrifugal_pump").running_auto is False
    assert detection.for_asset("air_compressor").running_auto is True
    mine = validate_model(AssetDetection, {"running_auto": True}, "asset").changes()
    assert detection.for_asset("centrifugal_pump", mine).running_auto is True  # the asset's own wins


@pytest.mark.parametrize("value", ["no", 0, None])
def test_running_auto_takes_a_boolean_only(value):
    with pytest.raises(ConfigError) as info:
        validate_model(DetectionConfig, {"running_auto": value}, "plants.yaml")
    assert info.value.field == "running_auto"
