"""pdm.config declares the detector names it accepts (it may not import pdm.models, a layer above):
this test is what keeps that list equal to the registry."""

import pytest

from pdm.config import DETECTOR_NAMES, DetectionConfig, parse_plants, validate_model
from pdm.config.detection import AssetDetection
from pdm.errors import ConfigError
from pdm.models import DETECTORS
from tests.helpers.plants import plant_dict


def test_config_knows_exactly_the_registered_detectors_and_auto():
    assert DETECTOR_NAMES == set(DETECTORS) | {"auto"}


@pytest.mark.parametrize("name", sorted(DETECTOR_NAMES))
def test_every_registered_name_is_accepted_everywhere(name):
    assert validate_model(DetectionConfig, {"detector": name}, "x").detector == name
    assert validate_model(AssetDetection, {"detector": name}, "x").detector == name


def test_an_unknown_detector_is_refused_with_the_known_ones():
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]}, detector="pcaa")
    with pytest.raises(ConfigError) as info:
        parse_plants(data, "plants.yaml")
    assert info.value.field == "detection.detector" and info.value.value == "pcaa"
    assert "known: auto, ensemble" in info.value.reason
