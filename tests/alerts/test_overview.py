"""The overview's state per asset: each state for the right asset, precedence, the tenant, the cluster counts."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, update

from pdm.alerts.overview import (
    ALERT,
    HEALTHY,
    NO_DATA,
    NO_MODEL,
    STATES,
    STOPPED,
    WATCH,
    cluster_state_counts,
    company_health,
)
from pdm.config import DetectionConfig
from pdm.storage.catalog import company_by_slug
from pdm.storage.tables import Alert, Asset, ModelVersion
from tests.helpers.overview import fill

NOW = time.time()


@pytest.fixture
def plant(sessions):
    with sessions.begin() as session:
        expected = fill(session, {"alpha": 12, "beta": 6, "gamma": 3}, now=NOW)
    return expected


def _states(sessions, slug: str, **kwargs) -> dict[str, str]:
    with sessions() as session:
        cid = company_by_slug(session, slug).id
        return {h.name: h.state for h in company_health(session, company_id=cid, now=NOW, **kwargs)}


def test_each_asset_gets_the_state_its_data_says(sessions, plant):
    got = _states(sessions, "alpha")
    assert got == {name: state for name, state in plant.items() if name.startswith("A ")}
    assert set(got.values()) == set(STATES)


def test_another_companys_assets_never_appear(sessions, plant):
    assert set(_states(sessions, "beta")) == {f"B M{i}" for i in range(6)}


def test_alert_tile_carries_the_alert_and_its_summary(sessions, plant):
    with sessions() as session:
        cid = company_by_slug(session, "alpha").id
        rows = {h.name: h for h in company_health(session, company_id=cid, now=NOW)}
    alert = rows["A M0"]
    assert alert.alert_id is not None and alert.severity == "high"
    assert alert.detail == "high · acknowledged · vibration 80%"
    assert rows["A M4"].worst_ratio == pytest.approx(0.9)
    assert rows["A M1"].detail == "no reading for over 15 min"
    assert NOW - rows["A M5"].last_received_at == pytest.approx(60, abs=1)


def test_a_closed_alert_no_longer_counts(sessions, plant):
    with sessions.begin() as session:
        session.execute(update(Alert).values(status="RESOLVED", closed_at=NOW))
    # The asset's scores are still above the threshold: watched, no longer alerted.
    assert _states(sessions, "alpha")["A M0"] == WATCH


def test_data_goes_stale_with_the_wall_clock(sessions, plant):
    with sessions() as session:
        cid = company_by_slug(session, "alpha").id
        later = {h.name: h.state for h in company_health(session, company_id=cid, now=NOW + 3600)}
    # An hour later nothing has arrived: every asset without an alert reads "no data".
    assert {s for n, s in later.items() if plant[n] != ALERT} == {NO_DATA}
    assert _states(sessions, "alpha", stale_s=3 * 3600)["A M1"] != NO_DATA


def test_without_a_running_rule_a_stopped_machine_is_judged_on_its_scores(sessions, plant):
    with sessions.begin() as session:
        session.execute(update(Asset).values(detection=None))
    assert _states(sessions, "alpha")["A M2"] == HEALTHY
    # The plant file's class rule, when the caller has it, applies as the worker would.
    rule = DetectionConfig.model_validate({"classes": {"pump": {"running_tag": "speed", "running_above": 10}}})
    assert _states(sessions, "alpha", detection=rule)["A M2"] == STOPPED


def test_a_running_rule_found_at_training_says_stopped_too(sessions, plant):
    with sessions.begin() as session:
        session.execute(update(Asset).values(detection=None))
        found = {"running": {"tag": "speed", "above": 10.0, "reason": "found"}}
        session.execute(update(ModelVersion).values(metrics=found))
    assert _states(sessions, "alpha")["A M2"] == STOPPED
    # running_auto off in the plant file: the found rule is not used, as in scoring.
    off = DetectionConfig.model_validate({"running_auto": False})
    assert _states(sessions, "alpha", detection=off)["A M2"] == HEALTHY


def test_no_model_is_said_before_watch_and_healthy(sessions, plant):
    got = _states(sessions, "alpha")
    assert got["A M3"] == got["A M9"] == NO_MODEL


def test_a_few_statements_for_all_assets(sessions, engine, plant):
    statements = []

    def count(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    with sessions() as session:
        cid = company_by_slug(session, "alpha").id
        event.listen(engine, "before_cursor_execute", count)
        try:
            company_health(session, company_id=cid, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 5  # assets, open alerts, active models, newest readings, scores: not one per asset


def test_cluster_counts_per_company_and_state(sessions, plant):
    with sessions() as session:
        rows = cluster_state_counts(session, now=NOW)
    assert [r["slug"] for r in rows] == ["alpha", "beta", "gamma"]
    alpha = rows[0]
    assert {s: alpha[s] for s in STATES} == {s: 2 for s in STATES}
    assert [rows[2][s] for s in STATES] == [1, 1, 1, 0, 0, 0]
    assert set(rows[0]) == {"company_id", "slug", "name", *STATES}  # counts only
