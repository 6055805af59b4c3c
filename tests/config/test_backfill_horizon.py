"""An endpoint's backfill horizon (backfill_max_h): its default, its bounds, a bad value refused in the
one-line error naming the file, the field and the value, and the value kept in the stored settings the
worker builds its poller from."""

from __future__ import annotations

import math

import pytest
import yaml

from pdm.config import EndpointConfig, load_plants
from pdm.config.kinds import endpoint_config
from pdm.errors import ConfigError
from pdm.storage.catalog import endpoint_settings
from tests.helpers.plants import plant_dict

FIELD = "companies[0].sites[0].endpoints[0]"


def _write(tmp_path, **fields):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["sites"][0]["endpoints"][0].update(fields)
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_default_is_a_day():
    assert EndpointConfig(name="plc", endpoint_url="opc.tcp://127.0.0.1:4840").backfill_max_h == 24.0


@pytest.mark.parametrize("hours", [0.5, 1, 720])
def test_values_in_bounds_load_and_reach_the_stored_settings(tmp_path, hours):
    (_, _, ep), *_ = load_plants(_write(tmp_path, backfill_max_h=hours)).iter_endpoints()
    assert ep.backfill_max_h == hours
    # The worker's poller is built from the endpoint's stored settings (pdm.ingest.share._make_poller).
    assert endpoint_config(endpoint_settings(ep), "endpoint acme/plc").backfill_max_h == hours


@pytest.mark.parametrize(
    "value, reason",
    [
        (0, "greater than 0"),
        (-1, "greater than 0"),
        (721, "less than or equal to 720"),
        (math.inf, "finite number"),
        ("24", "valid number"),
        (True, "valid number"),
        (None, "valid number"),
    ],
)
def test_a_bad_value_is_one_line_naming_file_field_and_value(tmp_path, value, reason):
    path = _write(tmp_path, backfill_max_h=value)
    with pytest.raises(ConfigError) as info:
        load_plants(path)
    err = info.value
    assert (err.source, err.field) == (str(path), f"{FIELD}.backfill_max_h")
    assert err.value == value
    message = str(err)
    assert "\n" not in message and message.startswith(f"{path}: {FIELD}.backfill_max_h = {value!r}: ")
    assert reason in message
