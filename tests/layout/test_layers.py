"""The import-layer contract in pyproject.toml holds, and would catch an import running back up."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "pdm", tmp_path / "pdm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("pdm/storage/catalog.py", "from pdm.alerts import notify"),  # storage reaching for alerts
        ("pdm/models/training.py", "from pdm.ui import common"),  # models reaching for the app
        ("pdm/ingest/share.py", "from pdm.runtime import job_guard"),  # ingest reaching for the worker
        ("pdm/config/base.py", "import pdm.storage.tables"),  # config reaching for storage
    ],
)
def test_an_import_running_back_up_breaks_the_contract(tmp_path, module, upward):
    root = _copy(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n\ndef _upward():\n    {upward}\n")
    done = _lint_imports(root)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and module[:-3].replace("/", ".") in done.stdout
