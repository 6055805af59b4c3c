"""pdmctl as a user runs it: real processes, real databases, one-line errors."""

import json
import subprocess
import sys

import pytest

from tests.helpers.plants import plant_dict

# Their subprocesses share the working directory's var/ (and the example plant's ports): with
# pytest-xdist they run on one worker, one after the other.
pytestmark = pytest.mark.xdist_group("shared-var")

PDMCTL = [sys.executable, "-m", "pdm.cli"]


def run(*args, timeout=120):
    return subprocess.run([*PDMCTL, *args], capture_output=True, text=True, timeout=timeout)


def test_headless_demo_prints_one_json_object_with_the_promised_keys(tmp_path):
    import yaml

    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(plant_dict({"acme": [("P-1", "centrifugal_pump")]}, speed=60)))
    proc = run(
        "demo",
        "--config",
        str(path),
        "--headless",
        "--duration",
        "4",
        "--json",
        "--database",
        f"sqlite:///{tmp_path / 'demo.db'}",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # the whole stdout is one JSON object
    assert set(result) == {"readings", "assets", "faults", "benign_events", "alerts", "closed"}
    assert result["assets"] == [{"company": "acme", "asset": "P-1", "class": "centrifugal_pump"}]
    assert result["readings"] > 0 and result["faults"] == [] and result["alerts"] == []
    assert result["benign_events"] == [] and result["closed"] == {"RESOLVED": 0, "FALSE_ALARM": 0, "open": 0}


def test_db_upgrade_then_config_apply_then_lists(tmp_path):
    import yaml

    url = f"sqlite:///{tmp_path / 'x.db'}"
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(plant_dict({"acme": [("P-1", "centrifugal_pump")]})))
    proc = run("db", "upgrade", "--database", url)
    assert proc.returncode == 1 and "pdmctl --local-admin db upgrade" in proc.stderr  # a new database: the host only
    assert run("--local-admin", "db", "upgrade", "--database", url).returncode == 0
    proc = run("--local-admin", "config", "apply", str(path), "--database", url)
    assert proc.returncode == 0 and "1 companies" in proc.stdout and "7 tags" in proc.stdout
    proc = run("--local-admin", "alerts", "list", "--company", "acme", "--database", url, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    proc = run("--local-admin", "alerts", "list", "--company", "nobody", "--database", url)
    assert proc.returncode == 1 and proc.stderr.strip() == "error: company 'nobody' not found"
    proc = run(
        "--local-admin", "train", "--company", "acme", "--asset", "P-1", "--database", url, "--config", str(path)
    )
    assert proc.returncode == 1 and "not enough data" in proc.stderr


def test_simulate_with_a_bad_fault_option_is_a_one_line_config_error(tmp_path):
    proc = run("simulate", "--fault", "acme/P-1:rust:1:2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --fault: kind = 'rust'")
