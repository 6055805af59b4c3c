"""An endpoint's timestamp policy (timestamp_max_future_s, timestamp_fallback): defaults, bounds, and a
bad value refused in the one-line error naming the file, the field and the value."""

from __future__ import annotations

import math

import pytest
import yaml

from pdm.config import EndpointConfig, load_plants
from pdm.errors import ConfigError
from tests.helpers.plants import plant_dict

FIELD = "companies[0].sites[0].endpoints[0]"


def _write(tmp_path, **fields):
    """A plant file whose first endpoint has ``fields`` (written as YAML, read as ``pdmctl config check`` does)."""
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["sites"][0]["endpoints"][0].update(fields)
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_fall_back_to_the_server_time_beyond_five_minutes_ahead():
    ep = EndpointConfig(name="plc", endpoint_url="opc.tcp://127.0.0.1:4840")
    assert (ep.timestamp_max_future_s, ep.timestamp_fallback) == (300.0, "server")


@pytest.mark.parametrize(
    "fields",
    [
        {"timestamp_max_future_s": 1},
        {"timestamp_max_future_s": 86_400},
        {"timestamp_max_future_s": 2.5, "timestamp_fallback": "received"},
        {"timestamp_fallback": "server"},
    ],
)
def test_values_in_bounds_load(tmp_path, fields):
    (_, _, ep), *_ = load_plants(_write(tmp_path, **fields)).iter_endpoints()
    for name, value in fields.items():
        assert getattr(ep, name) == value


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("timestamp_max_future_s", 0, "greater than or equal to 1"),
        ("timestamp_max_future_s", 0.5, "greater than or equal to 1"),
        ("timestamp_max_future_s", -300, "greater than or equal to 1"),
        ("timestamp_max_future_s", 86_401, "less than or equal to 86400"),
        ("timestamp_max_future_s", 1e308, "less than or equal to 86400"),
        ("timestamp_max_future_s", math.inf, "finite number"),
        ("timestamp_max_future_s", "300", "valid number"),
        ("timestamp_max_future_s", True, "valid number"),
        ("timestamp_max_future_s", None, "valid number"),
        ("timestamp_fallback", "source", "'server' or 'received'"),
        ("timestamp_fallback", "Server", "'server' or 'received'"),
        ("timestamp_fallback", 1, "'server' or 'received'"),
        ("timestamp_fallback", None, "'server' or 'received'"),
    ],
)
def test_a_bad_value_is_one_line_naming_file_field_and_value(tmp_path, field, value, reason):
    path = _write(tmp_path, **{field: value})
    with pytest.raises(ConfigError) as info:
        load_plants(path)
    err = info.value
    assert (err.source, err.field) == (str(path), f"{FIELD}.{field}")
    assert err.value == value or (value is math.inf and err.value == math.inf)
    message = str(err)
    assert "\n" not in message and message.startswith(f"{path}: {FIELD}.{field} = {value!r}: ")
    assert reason in message
