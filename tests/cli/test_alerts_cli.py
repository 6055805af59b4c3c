"""`pdmctl alerts`: list, show and every step, in process through the real entry point, as logged-in users."""

from __future__ import annotations

import json

import pytest

from pdm.access import users
from pdm.alerts.rules import ScoredRow, evaluate
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import ModelVersion
from tests.helpers.pdmctl import login_pdmctl, run_pdmctl

PW = "a long enough password"


@pytest.fixture
def db(tmp_path, small_plant) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(s, small_plant)
        cid = company_by_slug(s, "acme").id
        for name, company_id in (("ana", cid), ("bob", cid), ("eve", company_by_slug(s, "beta").id)):
            users.add_user(s, username=name, password=PW, role="technician", company_id=company_id)
        asset = list_assets(s, company_id=cid)[0]
        mv = ModelVersion(
            company_id=cid,
            asset_id=asset.id,
            version=1,
            detector="pca",
            created_at=0,
            trained_from=0,
            trained_to=0,
            threshold=1.0,
            feature_names=["a"],
            metrics={},
            active=True,
            envelope=b"-",
        )
        s.add(mv)
        s.flush()
        rows = [
            ScoredRow(
                ts=100.0 + i,
                score=2.0,
                sensors=[{"tag": "vibration", "contribution": 0.8, "value": 2.0, "low": 0.5, "high": 1.5}],
            )
            for i in range(3)
        ]
        alert_id = evaluate(
            s, company_id=cid, asset=asset, model_version_id=mv.id, threshold=1.0, rows=rows, debounce_rows=3
        ).id
    engine.dispose()
    return url, alert_id


def pdmctl(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    return run_pdmctl(capsys, monkeypatch, *args, local_admin=False)


def test_technician_flow_from_the_command_line(db, capsys, monkeypatch):
    url, alert_id = db
    run = lambda *a: pdmctl(capsys, monkeypatch, *a, "--database", url)  # noqa: E731
    login_pdmctl(capsys, monkeypatch, url, "ana", PW)
    code, out, _ = run("alerts", "list", "--company", "acme", "--json")
    assert code == 0 and [(r["id"], r["status"]) for r in json.loads(out)] == [(alert_id, "OPEN")]
    assert run("alerts", "ack", str(alert_id), "--company", "acme")[:2] == (0, f"alert {alert_id}: ACKNOWLEDGED\n")
    assert run("alerts", "assign", str(alert_id), "--company", "acme", "--to", "bob")[0] == 0
    login_pdmctl(capsys, monkeypatch, url, "bob", PW)
    assert run("alerts", "start", str(alert_id), "--company", "acme")[0] == 0
    assert run("alerts", "comment", str(alert_id), "--company", "acme", "--text", "hot bearing")[0] == 0
    code, out, err = run(
        "alerts",
        "resolve",
        str(alert_id),
        "--company",
        "acme",
        "--failure-mode",
        "bearing_wear",
        "--action",
        "replaced bearing",
        "--downtime-avoided-h",
        "4",
        "--repair-cost",
        "300",
    )
    assert (code, out, err) == (0, f"alert {alert_id}: RESOLVED\n", "")
    code, out, _ = run("alerts", "show", str(alert_id), "--company", "acme", "--json")
    detail = json.loads(out)
    assert (detail["status"], detail["failure_mode"], detail["downtime_avoided_h"], detail["assignee"]) == (
        "RESOLVED",
        "bearing_wear",
        4.0,
        "bob",
    )
    assert [e["kind"] for e in detail["events"]] == ["opened", "acknowledge", "assign", "start", "comment", "resolve"]
    # Each step is recorded under the user who was logged in, not a name typed on the command line.
    assert [e["actor"] for e in detail["events"][1:]] == ["ana", "ana", "bob", "bob", "bob"]
    code, out, _ = run("alerts", "show", str(alert_id), "--company", "acme")
    assert "sensor vibration: value 2.0, share 80% (normal 0.5..1.5)" in out and "bob  comment" in out
    assert run("alerts", "reopen", str(alert_id), "--company", "acme")[1] == f"alert {alert_id}: OPEN\n"
    code, out, _ = run("alerts", "false-alarm", str(alert_id), "--company", "acme", "--reason", "test")
    assert (code, out) == (0, f"alert {alert_id}: FALSE_ALARM\n")
    code, out, _ = run("alerts", "list", "--company", "acme", "--status", "false_alarm", "--json")
    assert [r["id"] for r in json.loads(out)] == [alert_id]


@pytest.mark.parametrize(
    "who, args, message",
    [
        ("eve", ["alerts", "ack", "{id}", "--company", "beta"], "error: alert {id} not found"),
        ("eve", ["alerts", "ack", "{id}", "--company", "acme"], "error: company 'acme' not found"),
        ("eve", ["alerts", "show", "{id}", "--company", "acme"], "error: company 'acme' not found"),
        ("eve", ["alerts", "list", "--company", "nowhere"], "error: company 'nowhere' not found"),
        (
            None,
            ["alerts", "ack", "{id}", "--company", "acme"],
            "error: not logged in to {url} (or the session ended): run `pdmctl login NAME`, "
            "or `pdmctl --local-admin ...` as the host's operator",
        ),
        ("ana", ["alerts", "show", "999", "--company", "acme"], "error: alert 999 not found"),
        (
            "ana",
            ["alerts", "reopen", "{id}", "--company", "acme"],
            "error: alert {id} is OPEN: cannot reopen (only from RESOLVED, FALSE_ALARM)",
        ),
        (
            "ana",
            [
                "alerts",
                "resolve",
                "{id}",
                "--company",
                "acme",
                "--failure-mode",
                "rust",
                "--action",
                "x",
            ],
            "error: failure_mode = 'rust': unknown failure mode (see the failure_modes list)",
        ),
        (
            "ana",
            ["alerts", "list", "--company", "acme", "--status", "DONE"],
            "error: --status = 'DONE': expected one of OPEN, ACKNOWLEDGED, IN_PROGRESS, RESOLVED, FALSE_ALARM",
        ),
    ],
)
def test_errors_are_one_line_and_change_nothing(db, capsys, monkeypatch, who, args, message):
    url, alert_id = db
    if who:
        login_pdmctl(capsys, monkeypatch, url, who, PW)
    args = [a.format(id=alert_id) for a in args]
    code, out, err = pdmctl(capsys, monkeypatch, *args, "--database", url)
    assert code == 1 and err == message.format(id=alert_id, url=url) + "\n"
    code, out, _ = run_pdmctl(
        capsys, monkeypatch, "alerts", "show", str(alert_id), "--company", "acme", "--json", "--database", url
    )
    assert json.loads(out)["status"] == "OPEN" and len(json.loads(out)["events"]) == 1


def test_failure_modes_are_listed(db, capsys, monkeypatch):
    code, out, _ = pdmctl(capsys, monkeypatch, "alerts", "failure-modes", "--database", db[0])
    assert code == 0 and "bearing_wear\tBearing wear" in out


def test_the_cluster_adds_a_failure_mode_once(db, capsys, monkeypatch):
    args = [
        "alerts",
        "failure-modes",
        "--add",
        "belt_slip",
        "--label",
        "Belt slip",
        "--asset-class",
        "fan",
        "--database",
        db[0],
    ]
    login_pdmctl(capsys, monkeypatch, db[0], "ana", PW)
    code, _, err = pdmctl(capsys, monkeypatch, *args)
    assert (code, err) == (1, "error: ana (technician) may not do this: it needs the failure-modes page's role\n")
    code, out, _ = run_pdmctl(capsys, monkeypatch, *args)  # the host's operator
    assert code == 0 and "belt_slip\tBelt slip\tfan" in out
    code, _, err = run_pdmctl(capsys, monkeypatch, *args)
    assert code == 1 and err == "error: code = 'belt_slip': failure mode already exists\n"
