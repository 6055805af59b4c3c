"""Savings, cluster and cost pages through AppTest on the hand-checked plant (tests.helpers.savings)."""

from __future__ import annotations

import pytest

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Asset
from pdm.ui.costs import parse_downtimes
from tests.helpers.app import chart_data, page_text
from tests.helpers.login import logged_in
from tests.helpers.savings import ALPHA_TOTAL, GAMMA_Q4, daily_endpoint
from tests.helpers.savings_pages import all_text, metrics, ok, open_titled, savings_db


@pytest.fixture(scope="module")
def db3(tmp_path_factory) -> str:
    return savings_db(tmp_path_factory.mktemp("sav3") / "pdm.sqlite3", 3)


def test_member_page_shows_the_hand_checked_figures_and_alerts(monkeypatch, db3):
    at = open_titled(logged_in(monkeypatch, db3, "root", "admin", None), "savings", "Savings", "alpha")
    ok(at.text_input(key="savings_period_1").set_value("2026Q4").run())
    m = metrics(at)
    assert (m["savings"], m["resolved alerts"], m["false alarms"], m["precision"], m["mean lead time"]) == (
        f"€{ALPHA_TOTAL:,}",
        "3",
        "1",
        "75%",
        "3.0 h",
    )
    alerts = at.dataframe[0].value
    assert sorted(alerts["Savings"]) == sorted(["7179.50", "5200.00", "-150.00", "2333.00"])
    assert set(alerts["Downtime avoided (h) (source)"].dropna()) == {"reported", "default"}
    assert "Method:" in all_text(at)
    assert "gaps, gap_s: stretches an outage took that backfill could not read back" in all_text(at)
    (chart,) = at.get("vega_lite_chart")  # the cumulative savings, one point per closing
    assert len(chart_data(chart)) == 4 and chart_data(chart)["cumulative_savings"].iloc[-1] == float(ALPHA_TOTAL)
    assert "rank **1 of 3**" in all_text(at) and "Beta" not in all_text(at) and "Gamma" not in all_text(at)


def test_member_page_never_shows_another_company(monkeypatch, db3):
    at = open_titled(logged_in(monkeypatch, db3, "root", "admin", None), "savings", "Savings", "beta")
    text = all_text(at)
    assert "900.00" in text and "7179.50" not in text and "pump" not in text
    assert len(at.dataframe[0].value) == 1


def test_bad_period_is_named(monkeypatch, db3):
    at = open_titled(logged_in(monkeypatch, db3, "root", "admin", None), "savings", "Savings", "alpha")
    ok(at.text_input(key="savings_period_1").set_value("Q4-2026").run())
    assert [e.value for e in at.error] == ["period = 'Q4-2026': expected YYYY, YYYYQ1..YYYYQ4 or YYYY-MM"]


def test_cluster_page_totals_per_company(monkeypatch, db3):
    at = open_titled(logged_in(monkeypatch, db3, "root", "admin", None), "cluster", "Cluster")
    ok(at.text_input(key="cluster_period").set_value("2026Q4").run())
    assert metrics(at)["savings"] == f"€{ALPHA_TOTAL + GAMMA_Q4:,}" and metrics(at)["companies"] == "3"
    per_company = at.table[0].value
    assert per_company.loc["Alpha Foods", "savings"] == f"€{ALPHA_TOTAL:,}"
    assert "SECRET-BETA-ACTION" not in all_text(at)


def test_two_companies_hide_the_benchmark(monkeypatch, tmp_path):
    at = open_titled(
        logged_in(monkeypatch, savings_db(tmp_path / "two.sqlite3", 2), "root", "admin", None),
        "savings",
        "Savings",
        "alpha",
    )
    text = all_text(at)
    assert "Benchmark hidden: only 2 companies" in text and "rank" not in text


def test_engineer_saves_a_validated_override(monkeypatch, tmp_path):
    url = savings_db(tmp_path / "costs.sqlite3", 1)
    at = open_titled(logged_in(monkeypatch, url, "root", "admin", None), "costs", "Costs")
    asset_id = at.selectbox(key="cost_asset_1").value
    at.text_area(key=f"cost_downtimes_{asset_id}").input("bearing_wear: -3")
    ok(at.button(key=f"FormSubmitter:costs_form_{asset_id}-Save").click().run())
    assert [e.value for e in at.error] == [
        "unplanned_downtime_h.bearing_wear = -3: Input should be greater than or equal to 0"
    ]
    at.number_input(key=f"cost_downtime_cost_per_hour_{asset_id}").set_value(1500.0)
    at.text_area(key=f"cost_downtimes_{asset_id}").input("bearing_wear: 12")
    ok(at.button(key=f"FormSubmitter:costs_form_{asset_id}-Save").click().run())
    engine = make_engine(url)
    with session_factory(engine)() as s:
        saved = s.get(Asset, asset_id).cost_overrides
    engine.dispose()
    assert saved == {"downtime_cost_per_hour": 1500.0, "unplanned_downtime_h": {"bearing_wear": 12.0}}


def test_a_period_without_closings_says_so(monkeypatch, db3):
    at = open_titled(logged_in(monkeypatch, db3, "root", "admin", None), "savings", "Savings", "alpha")
    ok(at.text_input(key="savings_period_1").set_value("2025").run())
    assert "No alerts closed in 2025." in all_text(at) and metrics(at)["savings"] == "€0.00"


def test_cluster_counts_follow_the_chosen_period(monkeypatch, tmp_path):
    url = savings_db(tmp_path / "cov.sqlite3", 3)
    engine = make_engine(url)
    daily_endpoint(session_factory(engine))
    engine.dispose()
    at = open_titled(logged_in(monkeypatch, url, "root", "admin", None), "cluster", "Cluster")

    def alpha():
        row = at.dataframe[0].value.set_index("slug").loc["alpha"]
        return int(row["readings"]), row["data coverage"], metrics(at)["readings"]

    assert alpha() == (46, "74%", "46")  # all time: 45 polls received of 61 due, 46 rows stored
    ok(at.text_input(key="cluster_period").set_value("2026-10").run())
    assert alpha() == (15, "48%", "15") and "Readings and data coverage: 2026-10" in page_text(at)
    ok(at.text_input(key="cluster_period").set_value("2026-09").run())
    assert alpha() == (31, "100%", "31")
    ok(at.text_input(key="cluster_period").set_value("Q4-2026").run())
    assert [e.value for e in at.error] == ["period = 'Q4-2026': expected YYYY, YYYYQ1..YYYYQ4 or YYYY-MM"]


def test_typed_downtimes_reach_the_strict_model_as_numbers_or_as_typed():
    assert parse_downtimes("bearing_wear: 8\nimbalance: 1.5\n\ncavitation: soon") == {
        "bearing_wear": 8,
        "imbalance": 1.5,
        "cavitation": "soon",
    }
