"""`pdmctl savings` through the real entry point: formats, files, one-line errors."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from pdm.storage.session import make_engine, session_factory, upgrade
from tests.helpers.pdmctl import run_pdmctl
from tests.helpers.savings import ALPHA_TOTAL, GAMMA_Q4, fill


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 's.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        fill(s)
    engine.dispose()
    return url


def test_company_csv_and_json(url, capsys, monkeypatch):
    code, out, _ = run_pdmctl(
        capsys, monkeypatch, "savings", "--company", "alpha", "--period", "2026Q4", "--database", url
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 4 and sum(Decimal(r["savings"]) for r in rows) == ALPHA_TOTAL
    code, out, _ = run_pdmctl(
        capsys, monkeypatch, "savings", "--company", "alpha", "--format", "json", "--database", url
    )
    assert code == 0 and json.loads(out)["summary"]["precision"] == 0.75


def test_cluster_html_to_file(url, capsys, monkeypatch, tmp_path):
    target = tmp_path / "q4.html"
    code, out, _ = run_pdmctl(
        capsys,
        monkeypatch,
        "savings",
        "--cluster",
        "--period",
        "2026Q4",
        "--format",
        "html",
        "--output",
        str(target),
        "--database",
        url,
    )
    assert code == 0 and str(ALPHA_TOTAL + GAMMA_Q4) in out
    html = target.read_text()
    assert f"<span id='total'>{ALPHA_TOTAL + GAMMA_Q4}</span>" in html and "<svg" in html
    assert "SECRET-BETA-ACTION" not in html


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--company", "alpha", "--period", "2026Q5"],
            "error: --period = '2026Q5': expected YYYY, YYYYQ1..YYYYQ4 or YYYY-MM\n",
        ),
        (["--company", "alpha", "--format", "pdf"], "error: --format = 'pdf': expected one of csv, html, json\n"),
        (
            ["--cluster", "--company", "alpha"],
            "error: --company/--cluster = 'alpha': give exactly one of --company C or --cluster\n",
        ),
        (["--company", "nope"], "error: company 'nope' not found\n"),
    ],
)
def test_bad_input_is_one_line(url, capsys, monkeypatch, args, expected):
    code, out, err = run_pdmctl(capsys, monkeypatch, "savings", *args, "--database", url)
    assert (code, err) == (1, expected)
