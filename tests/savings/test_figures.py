"""Savings arithmetic, cost-model resolution, aggregates and the k ≥ 3 rule, on real databases."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest

from pdm.config import CostModel, parse_plants
from pdm.demo.technician import close_demo_alerts
from pdm.errors import ConfigError, PdmError
from pdm.savings.coverage import cluster_coverage, coverage
from pdm.savings.figures import (
    alert_savings,
    asset_costs,
    benchmark,
    cents,
    cluster_view,
    company_savings,
    member_view,
    save_asset_costs,
    summarize,
)
from pdm.savings.kanon import K_MIN, benchmark_allowed
from pdm.savings.periods import parse_period
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.readings import insert_readings
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, Asset, Endpoint, Tag
from tests.helpers.savings import (
    ALPHA_AMOUNTS,
    ALPHA_TOTAL,
    BETA_Q3,
    GAMMA_Q4,
    T0,
    H,
    _alert,
    daily_endpoint,
    fill,
    plants,
)


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def filled(sessions):
    with sessions.begin() as s:
        ids = fill(s)
    return sessions, ids


def test_hand_checked_alerts_with_reported_and_default_figures(filled):
    sessions, ids = filled
    with sessions() as s:
        alpha = company_by_slug(s, "alpha").id
        items = {i.alert_id: i for i in company_savings(s, company_id=alpha, period="2026Q4")}
    assert {n: cents(items[ids[n]].amount) for n in ALPHA_AMOUNTS} == ALPHA_AMOUNTS
    first, second = items[ids[1]], items[ids[2]]
    assert first.inputs["downtime_h"] == (6.0, "reported") and first.inputs["intervention_cost"] == (320.5, "reported")
    # Nothing reported: the class's typical downtime for an unlisted mode and the default intervention cost.
    assert second.inputs["downtime_h"] == (4.0, "default") and second.inputs["intervention_cost"] == (300.0, "default")
    assert items[ids[4]].inputs["emergency_repair_cost"] == (2500.0, "default")  # the asset's override
    assert items[ids[3]].inputs == {"false_alarm_inspection_cost": (150.0, "default")}
    summary = summarize(list(items.values()))
    assert summary["savings"] == ALPHA_TOTAL and summary["false_alarm_cost"] == Decimal("150.00")
    assert summary["precision"] == 0.75 and summary["mean_lead_time_h"] == pytest.approx(3.0)


def test_total_is_rounded_once_at_the_end():
    costs = CostModel(downtime_cost_per_hour=5)
    asset = Asset(slug="p", asset_class="pump", downtime_cost_per_hour=0.0)
    items = [
        alert_savings(
            Alert(
                id=i,
                company_id=1,
                status="RESOLVED",
                opened_at=0.0,
                closed_at=60.0,
                downtime_avoided_h=0.001,
                repair_cost=0.0,
            ),
            asset,
            costs,
        )
        for i in range(3)
    ]
    assert [i.amount for i in items] == [Decimal("0.005")] * 3
    assert [i.row()["savings"] for i in items] == ["0.01"] * 3  # each shown HALF_UP
    assert summarize(items)["savings"] == Decimal("0.02")  # 0.015 → 0.02, not 3 × 0.01


def test_periods_filter_by_closing_time_and_bad_period_names_value(filled):
    sessions, ids = filled
    with sessions() as s:
        beta = company_by_slug(s, "beta").id
        assert company_savings(s, company_id=beta, period="2026Q4") == []
        assert [cents(i.amount) for i in company_savings(s, company_id=beta, period="2026-09")] == [BETA_Q3]
        assert len(company_savings(s, company_id=beta)) == 1
    with pytest.raises(PdmError, match=r"period = '2026Q5'"):
        parse_period("2026Q5")
    start, end, _ = parse_period("2026Q4")
    assert (end - start) / 86400 == 92


def test_member_view_never_contains_another_company(filled):
    sessions, ids = filled
    with sessions() as s:
        alpha = company_by_slug(s, "alpha").id
        view = member_view(s, company_id=alpha)
    assert {i.alert_id for i in view["alerts"]} == {ids[n] for n in (1, 2, 3, 4)}
    assert view["summary"]["savings"] == ALPHA_TOTAL


def test_cluster_view_aggregates_per_company_class_and_month(filled):
    sessions, _ = filled
    with sessions() as s:
        view = cluster_view(s, period="2026Q4")
        everything = cluster_view(s)
    assert {k: v["savings"] for k, v in view["by_company"].items()} == {
        "Alpha Foods": ALPHA_TOTAL,
        "Gamma Paper": GAMMA_Q4,
    }
    assert view["summary"]["savings"] == ALPHA_TOTAL + GAMMA_Q4
    assert set(view["by_month"]) == {"2026-10", "2026-11"} and set(view["by_class"]) == {"pump", "fan"}
    assert everything["summary"]["savings"] == ALPHA_TOTAL + GAMMA_Q4 + BETA_Q3
    assert view["cumulative"][-1]["cumulative_savings"] == float(ALPHA_TOTAL + GAMMA_Q4)
    assert "alerts" not in view  # aggregates only


def test_k_rule_hides_the_benchmark_below_three_companies(sessions):
    with sessions.begin() as s:
        fill(s, n_companies=2)
    with sessions() as s:
        result = benchmark(s, company_id=company_by_slug(s, "alpha").id)
    assert (K_MIN, benchmark_allowed(2), benchmark_allowed(3)) == (3, False, True)
    assert result["shown"] is False and "at least 3" in result["reason"] and "others" not in result


def test_k_rule_shows_rank_without_names_with_three(filled):
    sessions, _ = filled
    with sessions() as s:
        result = benchmark(s, company_id=company_by_slug(s, "gamma").id)
    assert result["shown"] and result["rank"] == 3 and result["own"] == GAMMA_Q4
    assert result["others"] == [ALPHA_TOTAL, BETA_Q3]
    assert not any(isinstance(v, str) and "Alpha" in v for v in result.values())


def test_engineer_overrides_are_validated_and_scoped(filled):
    sessions, _ = filled
    with sessions.begin() as s:
        alpha, beta = company_by_slug(s, "alpha").id, company_by_slug(s, "beta").id
        fan = list_assets(s, company_id=beta)[0]
        save_asset_costs(s, company_id=beta, asset_id=fan.id, costs=CostModel(downtime_cost_per_hour=999))
        with pytest.raises(PdmError, match="not found"):
            save_asset_costs(s, company_id=alpha, asset_id=fan.id, costs=CostModel())
    with sessions() as s:
        fan = s.get(Asset, fan.id)
        assert asset_costs(fan, {}).downtime_cost_per_hour == 999
    bad = plants()
    bad["cost_defaults"]["pump"]["planned_repair_cost"] = -1
    with pytest.raises(ConfigError, match=r"cost_defaults.pump.planned_repair_cost = -1"):
        parse_plants(bad)


def test_coverage_is_received_over_expected(filled):
    sessions, _ = filled
    with sessions.begin() as s:
        alpha = company_by_slug(s, "alpha")
        asset = list_assets(s, company_id=alpha.id)[0]
        ep = Endpoint(
            company_id=alpha.id,
            site_id=asset.site_id,
            name="plc",
            endpoint_url="opc.tcp://x:1",
            settings={"poll_interval_s": 10.0},
            last_read_at=T0 + 90,
            readings_total=15,
        )
        s.add(ep)
        s.flush()
        tags = [
            Tag(company_id=alpha.id, asset_id=asset.id, endpoint_id=ep.id, node_id=f"ns=2;s={n}", name=n)
            for n in ("a", "b")
        ]
        s.add_all(tags)
        s.flush()
        insert_readings(s, [{"tag_id": t.id, "ts": T0, "value": 1.0, "quality": 0, "received_at": T0} for t in tags])
    with sessions() as s:
        (row,) = coverage(s, company_id=company_by_slug(s, "alpha").id)
    # 2 tags × (90 s / 10 s + 1) = 20 expected, 15 received.
    assert (row["expected"], row["coverage"]) == (20, 0.75)


def test_demo_feedback_closes_faults_as_resolved_and_others_as_false_alarms(sessions):
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plants(2)))
        ids = [
            _alert(s, "alpha", "pump-a", T0).id,
            _alert(s, "alpha", "pump-b", T0 + H).id,
            _alert(s, "beta", "fan-x", T0 + 2 * H).id,
        ]
    faults = [{"company": "alpha", "asset": "pump-a", "kind": "bearing_wear", "start": T0 - H, "end": T0 + 5 * H}]
    assert close_demo_alerts(sessions, faults=faults, leave_open=1) == {"RESOLVED": 1, "FALSE_ALARM": 1, "open": 1}
    with sessions() as s:
        first, second, third = (s.get(Alert, i) for i in ids)
        assert (first.status, first.failure_mode, first.downtime_avoided_h) == ("RESOLVED", "bearing_wear", 8.0)
        assert first.started_at is not None and first.closed_at > first.opened_at
        assert (second.status, third.status) == ("FALSE_ALARM", "OPEN")
        assert summarize(company_savings(s, company_id=first.company_id))["precision"] == 0.5


def test_coverage_is_computed_over_the_chosen_period(filled):
    """One daily tag: every day of September stored, 15 days of October; the figures differ per period."""
    from datetime import datetime, timedelta

    sessions, _ = filled
    sept = datetime(2026, 9, 1, tzinfo=UTC)
    days = [sept + timedelta(days=d) for d in range(30)] + [
        sept + timedelta(days=30 + d) for d in range(0, 30, 2)
    ]  # Oct 1, 3, ..., 29
    last = datetime(2026, 10, 31, tzinfo=UTC).timestamp()
    with sessions.begin() as s:
        alpha = company_by_slug(s, "alpha")
        asset = list_assets(s, company_id=alpha.id)[0]
        ep = Endpoint(
            company_id=alpha.id,
            site_id=asset.site_id,
            name="daily",
            endpoint_url="opc.tcp://x:2",
            settings={"poll_interval_s": 86400.0},
            last_read_at=last,
            readings_total=len(days),
        )
        s.add(ep)
        s.flush()
        tag = Tag(company_id=alpha.id, asset_id=asset.id, endpoint_id=ep.id, node_id="ns=2;s=d", name="d")
        s.add(tag)
        s.flush()
        insert_readings(
            s,
            [
                {"tag_id": tag.id, "ts": d.timestamp(), "value": 1.0, "quality": 0, "received_at": d.timestamp()}
                for d in days
            ],
        )
        alpha_id = alpha.id

    def row(period):
        with sessions() as s:
            (r,) = coverage(s, company_id=alpha_id, period=period)
            return r["readings"], r["expected"], r["coverage"]

    assert row("2026-09") == (30, 30, 1.0)  # Sept 1 .. Sept 30; Oct 1 belongs to October
    assert row("2026-10") == (15, 31, 15 / 31)  # Oct 1 .. Oct 31 (the last read), 15 stored
    assert row("2026Q3") == (30, 30, 1.0)  # the data starts in September
    assert row(None) == (45, 61, 45 / 61)  # all time: Sept 1 .. Oct 31
    assert row("2026-08") == (0, 0, None) and row("2026-12") == (0, 0, None)  # no data then: no figure
    with sessions() as s:
        assert cluster_coverage(s, period="2026-10")[alpha_id] == pytest.approx(15 / 31)
    with pytest.raises(PdmError, match="period = '2026-13'"):
        row("2026-13")


def test_coverage_and_readings_count_survive_retention(filled):
    """Retention folds raw rows into minutes: October half folded, then all of it; the figures stay."""
    from datetime import datetime

    from pdm.config import RetentionConfig
    from pdm.storage.retention import maintain
    from pdm.ui.cluster import company_counts, counts_frame

    sessions, _ = filled
    alpha_id = daily_endpoint(sessions)
    engine = sessions.kw["bind"]

    def figures():
        with sessions() as s:
            rows = {p: coverage(s, company_id=alpha_id, period=p)[0] for p in ("2026-09", "2026-10")}
            counts = {
                p: {r["slug"]: r["readings"] for r in company_counts(s, period=p)}
                for p in (None, "2026-09", "2026-10", "2026-11")
            }
            shown = counts_frame(s, period="2026-10").set_index("slug")
            return (
                {p: (r["readings"], r["expected"], r["coverage"]) for p, r in rows.items()},
                counts,
                (shown.loc["alpha", "readings"], shown.loc["alpha", "data coverage"]),
                cluster_coverage(s, period="2026-10")[alpha_id],
            )

    expected = (
        {"2026-09": (31, 30, 1.0), "2026-10": (15, 31, 15 / 31)},
        {
            None: {"alpha": 46, "beta": 0, "gamma": 0},
            "2026-09": {"alpha": 31, "beta": 0, "gamma": 0},
            "2026-10": {"alpha": 15, "beta": 0, "gamma": 0},
            "2026-11": {"alpha": 0, "beta": 0, "gamma": 0},
        },
        (15, "48%"),
        pytest.approx(15 / 31),
    )
    assert figures() == expected
    oct16 = datetime(2026, 10, 16, tzinfo=UTC).timestamp()
    with engine.connect() as conn:
        raw_before = conn.exec_driver_sql("SELECT count(*) FROM readings").scalar_one()
    for now in (oct16 + 86400, oct16 + 60 * 86400):  # cutoff mid-October (raw and 1m meet), then everything
        report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=730), now=now)
        assert report.rows_aggregated > 0
        assert figures() == expected
    with engine.connect() as conn:
        assert (raw_before, conn.exec_driver_sql("SELECT count(*) FROM readings").scalar_one()) == (46, 0)
