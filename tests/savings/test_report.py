"""Exports parsed back: the CSV rows are the alerts, the HTML carries the totals and the chart."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from pdm.savings.figures import cluster_view, member_view
from pdm.savings.report import to_csv, to_html, to_json
from pdm.storage.catalog import company_by_slug
from pdm.storage.session import make_engine, session_factory, upgrade
from tests.helpers.savings import ALPHA_AMOUNTS, ALPHA_TOTAL, GAMMA_Q4, fill


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('report') / 'r.db'}")
    upgrade(engine)
    with session_factory(engine).begin() as s:
        ids = fill(s)
    with session_factory(engine)() as s:
        member = member_view(s, company_id=company_by_slug(s, "alpha").id, period="2026Q4")
        cluster = cluster_view(s, period="2026Q4")
    engine.dispose()
    return member, cluster, ids


def test_member_csv_rows_are_the_alerts(views):
    member, _, ids = views
    rows = list(csv.DictReader(io.StringIO(to_csv(member))))
    assert {int(r["alert_id"]): Decimal(r["savings"]) for r in rows} == {ids[n]: v for n, v in ALPHA_AMOUNTS.items()}
    first = next(r for r in rows if int(r["alert_id"]) == ids[1])
    assert (first["downtime_h"], first["downtime_h_source"], first["intervention_cost_source"]) == (
        "6.0",
        "reported",
        "reported",
    )
    assert sum(Decimal(r["savings"]) for r in rows) == ALPHA_TOTAL


def test_cluster_csv_has_aggregates_only(views):
    _, cluster, _ = views
    rows = list(csv.DictReader(io.StringIO(to_csv(cluster))))
    assert {r["name"]: Decimal(r["savings"]) for r in rows if r["group"] == "company"} == {
        "Alpha Foods": ALPHA_TOTAL,
        "Gamma Paper": GAMMA_Q4,
    }
    assert "alert_id" not in rows[0]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self._id = {}, set(), None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._id = dict(attrs).get("id")

    def handle_data(self, data):
        if self._id:
            self.ids[self._id] = self.ids.get(self._id, "") + data


def test_html_report_carries_totals_chart_and_method(views):
    member, _, _ = views
    page = _Collect()
    page.feed(to_html(member, title="Alpha Foods — 2026Q4"))
    assert page.ids["total"] == str(ALPHA_TOTAL)
    assert {"svg", "polyline", "table"} <= page.tags
    spec = json.loads(page.ids["vega-lite"])
    assert spec["data"]["values"][-1]["cumulative_savings"] == float(ALPHA_TOTAL)


def test_json_keeps_money_exact(views):
    member, _, _ = views
    data = json.loads(to_json(member))
    assert data["summary"]["savings"] == "14562.50" and len(data["alerts"]) == 4


def test_a_french_export_has_french_headers_and_the_same_rows(views):
    member, cluster, ids = views
    keyed = list(csv.reader(io.StringIO(to_csv(member))))
    french = list(csv.reader(io.StringIO(to_csv(member, "fr"))))
    assert french[1:] == keyed[1:] and len(french[0]) == len(keyed[0])
    header = dict(zip(keyed[0], french[0]))
    assert header["alert_id"] == "Alerte" and header["savings"] == "Gains"
    assert header["downtime_cost_per_hour_source"] == "Coût horaire d'arrêt (source)"
    assert not set(keyed[0]) & set(french[0])  # every header a person reads, none a column key
    english = next(csv.reader(io.StringIO(to_csv(cluster, "en"))))
    assert english[:3] == ["Group", "Name", "Savings"]
    page = to_html(member, title="Alpha Foods — 2026Q4", lang="fr")
    assert "Gains totaux" in page and "Période : 2026Q4" in page and "<th>Alerte</th>" in page
    assert "Total savings" not in page and "<th>alert_id</th>" not in page
    assert "<th>alert_id</th>" in to_html(member, title="t")  # scripts keep the keys
