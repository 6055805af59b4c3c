"""Configuration: one validation path, errors that name the file, the field and the value."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdm.config import load_plants, load_settings, parse_plants
from pdm.errors import ConfigError
from tests.helpers.plants import plant_dict

EXAMPLE = Path(__file__).parents[2] / "config" / "plants.example.yaml"


def test_example_config_loads_and_has_the_promised_shape():
    cfg = load_plants(EXAMPLE)
    assets = list(cfg.iter_assets())
    assert len(cfg.companies) >= 3
    assert len(assets) >= 8
    assert len({a.asset_class for _, _, a in assets}) >= 3
    per_asset = {}
    for company, _, ep in cfg.iter_endpoints():
        for node in ep.nodes:
            per_asset[(company.id, node.asset)] = per_asset.get((company.id, node.asset), 0) + 1
    assert set(per_asset) == {(c.id, a.id) for c, _, a in assets}
    assert all(5 <= n <= 10 for n in per_asset.values())


def _write(tmp_path, data) -> Path:
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "mutate, field, value",
    [
        (
            lambda d: d["companies"][0]["sites"][0]["endpoints"][0].__setitem__("poll_interval_s", -1),
            "companies[0].sites[0].endpoints[0].poll_interval_s",
            -1,
        ),
        (
            lambda d: d["companies"][0]["sites"][0]["endpoints"][0].__setitem__("endpoint_url", "http://x"),
            "companies[0].sites[0].endpoints[0].endpoint_url",
            "http://x",
        ),
        (
            lambda d: d["companies"][0]["sites"][0]["assets"][0].__setitem__("criticality", 9),
            "companies[0].sites[0].assets[0].criticality",
            9,
        ),
        (
            lambda d: d["companies"][0]["sites"][0]["endpoints"][0]["nodes"][0].__setitem__("asset", "nope"),
            "companies[0].sites[0].endpoints[0].nodes[0].asset",
            "nope",
        ),
        (lambda d: d["companies"][0].__setitem__("colour", "red"), "companies[0].colour", "red"),
        (lambda d: d["companies"][1].__setitem__("id", d["companies"][0]["id"]), "companies[1].id", "acme"),
        (
            lambda d: d["simulation"].__setitem__(
                "faults", [{"company": "acme", "asset": "P-1", "kind": "rust", "start_min": 1, "end_min": 2}]
            ),
            "simulation.faults[0].kind",
            "rust",
        ),
        (
            lambda d: d["simulation"].__setitem__(
                "faults", [{"company": "acme", "asset": "P-1", "kind": "cavitation", "start_min": 5, "end_min": 2}]
            ),
            "simulation.faults[0].end_min",
            2,
        ),
    ],
)
def test_bad_field_is_named_with_file_and_value(tmp_path, mutate, field, value):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")], "beta": [("S-1", "cnc_spindle")]})
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_plants(path)
    err = info.value
    assert (err.source, err.field, err.value) == (str(path), field, value)
    assert str(path) in str(err) and field in str(err)


def test_duplicate_endpoint_url_in_one_company_is_refused():
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    site = data["companies"][0]["sites"][0]
    site["endpoints"].append({**site["endpoints"][0], "name": "plc2", "nodes": []})
    with pytest.raises(ConfigError, match="already has an endpoint with this URL"):
        parse_plants(data, "x.yaml")


def test_a_tag_mapped_on_two_endpoints_of_one_site_is_refused_naming_both():
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    site = data["companies"][0]["sites"][0]
    flow = {"node_id": "ns=2;s=P-1.flow", "tag": "flow", "asset": "P-1"}
    site["endpoints"].append({"name": "scada", "endpoint_url": "opc.tcp://scada.example:4840", "nodes": [flow]})
    with pytest.raises(ConfigError) as info:
        parse_plants(data, "x.yaml")
    assert info.value.field == "companies[0].sites[0].endpoints[1].nodes[0].tag"
    assert "acme/site/P-1/flow is mapped on two endpoints of this site, plc and scada" in str(info.value)
    assert "(also at companies[0].sites[0].endpoints[0].nodes[0].tag)" in str(info.value)
    site["endpoints"][1]["nodes"] = [{**flow, "tag": "flow_scada"}]  # another tag of the same asset: fine
    assert parse_plants(data, "x.yaml")


@pytest.mark.parametrize(
    "url, shown, reason",
    [
        ("https://hooks.slack.com:0/services/T0/B0/T0K3N", "https://hooks.slack.com:0/…", "port"),
        ("ftp://hooks.example/T0K3N", "ftp://hooks.example/…", "expected an http:// or https:// URL"),
        ("hooks.slack.com/services/T0K3N", "(hidden)", "expected an http:// or https:// URL"),
        ("https://bot:T0K3N@/x", "https:///…", "with a host"),
    ],
)
def test_a_bad_webhook_url_is_named_without_its_token(url, shown, reason):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["notifications"] = {"webhooks": [{"url": url}]}
    with pytest.raises(ConfigError) as info:
        parse_plants(data, "x.yaml")
    assert info.value.field == "companies[0].notifications.webhooks[0].url" and info.value.value == shown
    assert reason in str(info.value) and "T0K3N" not in str(info.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("companies:\n  - id: a\n   name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_plants(path)
    assert info.value.field.startswith("line ")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        load_plants(tmp_path / "absent.yaml")


def test_settings_env_overrides_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('database_url = "sqlite:///a.db"\nspool_max_bytes = 4096\n')
    s = load_settings(path, env={"PDM_DATABASE_URL": "sqlite:///b.db"})
    assert s.database_url == "sqlite:///b.db" and s.spool_max_bytes == 4096
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"PDM_SPOOL_MAX_BYTES": "12"})
    assert info.value.field == "spool_max_bytes" and info.value.value == "12"


def test_cli_reports_bad_config_in_one_line_with_exit_2(tmp_path):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["sites"][0]["endpoints"][0]["poll_interval_s"] = "fast"
    path = _write(tmp_path, data)
    proc = subprocess.run(
        [sys.executable, "-m", "pdm.cli", "config", "check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0] and "poll_interval_s" in lines[0] and "'fast'" in lines[0]


def test_cli_config_check_accepts_the_example():
    proc = subprocess.run(
        [sys.executable, "-m", "pdm.cli", "config", "check", str(EXAMPLE)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 companies, 8 assets" in proc.stdout


@pytest.mark.parametrize(
    ("detection", "field", "reason"),
    [
        (
            {"train_min_rows": 100, "train_max_rows": 50},
            "detection.train_max_rows",
            "must be at least train_min_rows (100)",
        ),
        (
            {"fleet": {"min_companies": 3, "min_assets": 2}},
            "detection.fleet.min_assets",
            "must be at least min_companies (3): each company brings an asset",
        ),
    ],
)
def test_a_maximum_below_its_minimum_names_both(detection, field, reason):
    with pytest.raises(ConfigError) as info:
        parse_plants({"companies": [], "detection": detection}, "plants.yaml")
    assert info.value.field == field and reason in str(info.value)
