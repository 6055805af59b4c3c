"""Data coverage counts the gaps recorded per endpoint, beside (never inside) its existing figures."""

from __future__ import annotations

from datetime import UTC, datetime

from pdm.savings.coverage import cluster_coverage, coverage
from pdm.storage.catalog import company_by_slug, list_assets
from pdm.storage.gaps import record_gaps
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Endpoint, Tag
from tests.helpers.savings import fill

OCT = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
NOV = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def _endpoint(s, slug: str, name: str) -> tuple[int, list[int]]:
    company = company_by_slug(s, slug)
    asset = list_assets(s, company_id=company.id)[0]
    ep = Endpoint(
        company_id=company.id,
        site_id=asset.site_id,
        name=name,
        endpoint_url=f"opc.tcp://{name}:1",
        settings={"poll_interval_s": 60.0},
        last_read_at=NOV - 60,
        readings_total=2,
    )
    s.add(ep)
    s.flush()
    tags = [
        Tag(company_id=company.id, asset_id=asset.id, endpoint_id=ep.id, node_id=f"ns=2;s={n}", name=f"{name}-{n}")
        for n in ("a", "b")
    ]
    s.add_all(tags)
    s.flush()
    insert_readings(
        s, [{"tag_id": tags[0].id, "ts": ts, "value": 1.0, "quality": 0, "received_at": ts} for ts in (OCT, NOV - 60)]
    )
    return ep.id, [t.id for t in tags]


def test_gaps_are_counted_per_endpoint_and_period_without_changing_coverage(sessions):
    with sessions.begin() as s:
        fill(s)
        ep, (a, b) = _endpoint(s, "alpha", "plc")
        beta_ep, (beta_tag, _) = _endpoint(s, "beta", "other")
        alpha_id, beta_id = company_by_slug(s, "alpha").id, company_by_slug(s, "beta").id
    with sessions() as s:
        before = coverage(s, company_id=alpha_id, period="2026-10")
        cluster_before = cluster_coverage(s, period="2026-10")
    assert [(r["endpoint"], r["gaps"], r["gap_s"]) for r in before if r["endpoint"] == "plc"] == [("plc", 0, 0.0)]
    with sessions.begin() as s:
        record_gaps(
            s,
            [
                {"endpoint_id": ep, "tag_id": a, "start_ts": OCT + 600, "end_ts": OCT + 900, "reason": "x"},
                {"endpoint_id": ep, "tag_id": b, "start_ts": OCT + 800, "end_ts": OCT + 1000, "reason": "x"},
                {"endpoint_id": ep, "tag_id": None, "start_ts": NOV - 30, "end_ts": NOV + 3600, "reason": "y"},
                {"endpoint_id": beta_ep, "tag_id": beta_tag, "start_ts": OCT, "end_ts": OCT + 5000, "reason": "z"},
            ],
        )
    with sessions() as s:
        rows = {r["endpoint"]: r for r in coverage(s, company_id=alpha_id, period="2026-10")}
        nov = {r["endpoint"]: r for r in coverage(s, company_id=alpha_id, period="2026-11")}
        every = {r["endpoint"]: r for r in coverage(s, company_id=alpha_id)}
        beta = {r["endpoint"]: r for r in coverage(s, company_id=beta_id, period="2026-10")}
        after = coverage(s, company_id=alpha_id, period="2026-10")
        assert cluster_coverage(s, period="2026-10") == cluster_before
    # October: two overlapping tag gaps (600..1000 s: 400 s) and the last 30 s before November.
    assert (rows["plc"]["gaps"], rows["plc"]["gap_s"]) == (3, 430.0)
    assert (nov["plc"]["gaps"], nov["plc"]["gap_s"]) == (1, 3600.0)
    assert (every["plc"]["gaps"], every["plc"]["gap_s"]) == (3, 400.0 + 30.0 + 3600.0)
    assert (beta["other"]["gaps"], beta["other"]["gap_s"]) == (1, 5000.0)  # and none of alpha's
    # The existing figures are those of before the gaps were recorded.
    unchanged = ("endpoint", "tags", "span_s", "readings", "expected", "coverage")
    assert [{k: r[k] for k in unchanged} for r in before] == [{k: r[k] for k in unchanged} for r in after]
