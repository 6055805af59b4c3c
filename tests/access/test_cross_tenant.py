"""Cross-tenant suite: a company-A principal asks for company B's ids on every read path and is refused.

Refusal means "not found" (or nothing), never B's data, and never a hint that the id exists.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from pdm.access.tenancy import Principal, require_company
from pdm.alerts import feedback
from pdm.alerts.rules import get_alert, list_alerts, score_series
from pdm.errors import NotFound
from pdm.ingest.health import endpoint_health
from pdm.storage.catalog import company_by_slug, get_asset, list_assets, list_endpoints, list_tags
from pdm.storage.readings import asset_readings, count_readings
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, Score, Tag
from pdm.ui.engineer import map_node
from tests.helpers.app import fill_plant


@pytest.fixture
def world(sessions) -> dict:
    """alpha has an open alert, scores and readings; beta has readings. Returns both sides' ids."""
    with sessions.begin() as s:
        fill_plant(s)
        ids = {}
        for slug in ("alpha", "beta"):
            cid = company_by_slug(s, slug).id
            ids[slug] = {
                "company": cid,
                "assets": [a.id for a in list_assets(s, company_id=cid)],
                "endpoints": [e.id for e in list_endpoints(s, company_id=cid)],
                "tags": [t.id for t in list_tags(s, company_id=cid)],
            }
        ids["alpha"]["alert"] = s.query(Alert.id).filter_by(company_id=ids["alpha"]["company"]).scalar()
    return ids


def test_require_company_refuses_the_other_company(world):
    beta = Principal("bea", "technician", world["beta"]["company"])
    with pytest.raises(NotFound):
        require_company(beta, world["alpha"]["company"])


def test_alert_reads_and_steps_refuse_another_companys_alert(sessions, world):
    cid = require_company(Principal("bea", "technician", world["beta"]["company"]), world["beta"]["company"])
    alert_id = world["alpha"]["alert"]
    with sessions() as s:
        with pytest.raises(NotFound, match=f"alert {alert_id} not found"):
            get_alert(s, company_id=cid, alert_id=alert_id)
        with pytest.raises(NotFound):
            feedback.alert_events(s, company_id=cid, alert_id=alert_id)
        assert list_alerts(s, company_id=cid, asset_ids=world["alpha"]["assets"]) == []
    for step, extra in (
        (feedback.acknowledge, {}),
        (feedback.start, {}),
        (feedback.reopen, {}),
        (feedback.comment, {"text": "hi"}),
        (feedback.assign, {"assignee": "bea"}),
        (feedback.mark_false_alarm, {"reason": "mine now"}),
    ):
        with sessions.begin() as s, pytest.raises(NotFound):
            step(s, company_id=cid, alert_id=alert_id, user="bea", **extra)
    with sessions() as s:
        assert s.get(Alert, alert_id).status == "OPEN"


def test_catalog_readings_and_scores_refuse_another_companys_asset(sessions, world):
    cid = world["beta"]["company"]
    with sessions() as s:
        for asset_id in world["alpha"]["assets"]:
            with pytest.raises(NotFound, match=f"asset {asset_id} not found"):
                get_asset(s, company_id=cid, asset_id=asset_id)
            assert asset_readings(s, company_id=cid, asset_id=asset_id).empty
            assert score_series(s, company_id=cid, asset_id=asset_id, start=0, end=1e12) == []
            assert list_tags(s, company_id=cid, asset_id=asset_id) == []
        assert s.query(Score).filter_by(company_id=world["alpha"]["company"]).count() > 0  # there is data to leak
        assert count_readings(s, company_id=cid) == 30  # beta's own only


def test_endpoint_reads_and_mapping_refuse_another_companys_endpoint(sessions, world, tmp_path):
    cid = world["beta"]["company"]
    with sessions() as s:
        health = endpoint_health(s, company_id=cid)
        assert {h["id"] for h in health} == set(world["beta"]["endpoints"])
    with sessions.begin() as s:
        errors = map_node(
            s,
            company_id=cid,
            endpoint_id=world["alpha"]["endpoints"][0],
            values={"node_id": "ns=2;s=X", "asset": "press-b1", "tag": "stolen"},
        )
    assert errors == {"endpoint": f"endpoint {world['alpha']['endpoints'][0]} not found"}
    with sessions() as s:
        assert s.query(Tag).filter_by(name="stolen").count() == 0


def test_cli_refuses_another_companys_alert(engine, world, sessions, capsys, monkeypatch):
    from pdm.access import users
    from tests.helpers.pdmctl import login_pdmctl, run_pdmctl

    with sessions.begin() as s:
        users.add_user(
            s, username="bea", password="beta's own pw", role="technician", company_id=world["beta"]["company"]
        )
    url = engine.url.render_as_string(hide_password=False)
    login_pdmctl(capsys, monkeypatch, url, "bea", "beta's own pw")
    alert = str(world["alpha"]["alert"])
    for company, message in (("beta", f"alert {alert} not found"), ("alpha", "company 'alpha' not found")):
        for step in (["show"], ["ack"], ["comment", "--text", "mine now"]):
            code, _, err = run_pdmctl(
                capsys,
                monkeypatch,
                "alerts",
                step[0],
                alert,
                *step[1:],
                "--company",
                company,
                "--database",
                url,
                local_admin=False,
            )
            assert (code, err.strip()) == (1, f"error: {message}")
    with sessions() as s:
        assert s.get(Alert, world["alpha"]["alert"]).status == "OPEN"


def test_pages_of_a_beta_technician_never_show_alpha(monkeypatch, tmp_path):
    from streamlit.util import calc_hash

    from tests.helpers.app import app_db, page_text
    from tests.helpers.login import logged_in

    url = app_db(tmp_path / "pdm.sqlite3")
    at = logged_in(monkeypatch, url, "bea", "technician", "beta", page="alerts")
    engine = make_engine(url)
    with session_factory(engine)() as session:
        beta_id, alpha_alert = company_by_slug(session, "beta").id, session.query(Alert.id).scalar()
    engine.dispose()
    # A forged pick: alpha's alert id put into the beta page's own selector state.
    at.session_state[f"alert_pick_{beta_id}"] = alpha_alert
    at.run()
    texts = [page_text(at)]
    for page in ("assets", "endpoints", "cluster", "users", "audit"):
        at._page_hash = calc_hash(page)
        at.run()
        assert not at.exception, at.exception
        texts.append(page_text(at))
    seen = "\n".join(texts)
    for alpha_thing in ("Alpha Foods", "Pump A1", "pump-a1", "4840/alpha", "vibration"):
        assert alpha_thing not in seen


def test_cluster_reviewer_sees_counts_only(monkeypatch, tmp_path):
    from tests.helpers.app import app_db, page_text
    from tests.helpers.login import logged_in

    at = logged_in(monkeypatch, app_db(tmp_path / "pdm.sqlite3"), "rev", "cluster_reviewer", None, page="cluster")
    text = page_text(at)
    assert at.title[0].value == "Cluster" and "only 2 companies in the group" in text  # the k rule: no names
    for detail in ("Pump A1", "vibration", "opc.tcp", "#", "Alpha Foods"):
        assert detail not in text


# ---- the k rule on the cluster page: no per-company comparison under three companies ---------


def test_cluster_page_with_two_companies_shows_totals_only_with_the_reason(monkeypatch, tmp_path):
    from tests.helpers.login import logged_in
    from tests.helpers.savings_pages import all_text, metrics, ok, open_titled, savings_db

    url = savings_db(tmp_path / "two.sqlite3", 2)
    at = open_titled(logged_in(monkeypatch, url, "rev", "cluster_reviewer", None), "cluster", "Cluster")
    ok(at.text_input(key="cluster_period").set_value("2026Q4").run())
    text = all_text(at)
    assert metrics(at)["companies"] == "2" and metrics(at)["savings"] != "0.00"  # totals still shown
    assert "Per-company figures: Benchmark hidden: only 2 companies in the group" in text
    assert "Savings per company: Benchmark hidden: only 2 companies" in text
    for name in ("Alpha Foods", "Beta Metals", "alpha", "beta"):
        assert name not in text
    assert not at.dataframe  # no per-company counts table


def test_cluster_exports_with_two_companies_hold_no_company_name(tmp_path):
    from pdm.savings import report
    from pdm.savings.figures import cluster_view
    from tests.helpers.savings_pages import savings_db

    engine = make_engine(savings_db(tmp_path / "two.sqlite3", 2))
    with session_factory(engine)() as s:
        view = cluster_view(s, period="2026Q4")
    engine.dispose()
    assert view["by_company"] == {} and "only 2 companies" in view["by_company_hidden"]
    for export in (report.to_csv(view), report.to_html(view, title="Cluster savings")):
        assert "Alpha Foods" not in export and "Beta Metals" not in export
    assert view["summary"]["savings"] > 0  # the aggregate itself is still there
