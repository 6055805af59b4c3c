"""Gaps: recorded once, merged when they overlap, read per asset and per endpoint of one company only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from pdm.storage.catalog import list_assets, list_endpoints, list_tags
from pdm.storage.gaps import gap_time, gaps_for_asset, gaps_for_endpoint, record_gaps
from pdm.storage.session import downgrade, make_engine, upgrade
from pdm.storage.tables import Gap

T = 1_800_000_000.0


@pytest.fixture
def ids(sessions, plant):
    """acme's endpoint, its first asset's tags and its second asset's tags; beta's endpoint and tag."""
    with sessions() as s:
        ep = list_endpoints(s, company_id=plant["company"])[0].id
        other_asset = [a.id for a in list_assets(s, company_id=plant["company"]) if a.id != plant["asset"]][0]
        other_tags = [t.id for t in list_tags(s, company_id=plant["company"], asset_id=other_asset)]
        beta_ep = list_endpoints(s, company_id=plant["other"])[0].id
        beta_tag = list_tags(s, company_id=plant["other"])[0].id
    return {
        **plant,
        "endpoint": ep,
        "tag": plant["tags"][0][0],
        "tag_name": plant["tags"][0][1],
        "other_asset": other_asset,
        "other_tags": other_tags,
        "beta_endpoint": beta_ep,
        "beta_tag": beta_tag,
    }


def _gap(ep, tag, start, end, reason="BadHistoryOperationUnsupported", **kw):
    return {"endpoint_id": ep, "tag_id": tag, "start_ts": start, "end_ts": end, "reason": reason, **kw}


def _count(sessions) -> int:
    with sessions() as s:
        return s.execute(select(func.count()).select_from(Gap)).scalar_one()


def test_a_gap_is_read_back_for_its_asset_and_endpoint(sessions, ids):
    with sessions.begin() as s:
        assert record_gaps(s, [_gap(ids["endpoint"], ids["tag"], T, T + 60, recorded_at=T + 100)]) == 1
    with sessions() as s:
        (row,) = gaps_for_asset(s, company_id=ids["company"], asset_id=ids["asset"], start=T - 3600, end=T + 3600)
        by_ep = gaps_for_endpoint(s, company_id=ids["company"], endpoint_id=ids["endpoint"])
    assert (row.tag_id, row.tag, row.start_ts, row.end_ts, row.seconds) == (ids["tag"], ids["tag_name"], T, T + 60, 60)
    assert (row.reason, row.recorded_at, row.endpoint_id) == (
        "BadHistoryOperationUnsupported",
        T + 100,
        ids["endpoint"],
    )
    assert by_ep == [row]


def test_recording_a_gap_again_changes_nothing_and_overlaps_merge(sessions, ids):
    ep, tag = ids["endpoint"], ids["tag"]
    with sessions.begin() as s:
        assert record_gaps(s, [_gap(ep, tag, T, T + 60), _gap(ep, tag, T + 200, T + 260)]) == 2
    with sessions.begin() as s:
        assert record_gaps(s, [_gap(ep, tag, T, T + 60), _gap(ep, tag, T + 10, T + 50)]) == 0  # same, and inside
        assert record_gaps(s, [_gap(ep, tag, T + 60, T + 90)]) == 1  # touches the first: widens it
        assert record_gaps(s, [_gap(ep, tag, T + 30, T + 70, reason="BadTimeout")]) == 1  # another reason: its own
    with sessions() as s:
        spans = [
            (g.start_ts, g.end_ts, g.reason) for g in gaps_for_endpoint(s, company_id=ids["company"], endpoint_id=ep)
        ]
    assert spans == [
        (T, T + 90, "BadHistoryOperationUnsupported"),
        (T + 30, T + 70, "BadTimeout"),
        (T + 200, T + 260, "BadHistoryOperationUnsupported"),
    ]
    with sessions.begin() as s:  # one gap bridging two: they become one
        assert record_gaps(s, [_gap(ep, tag, T + 80, T + 210)]) == 1
    with sessions() as s:
        spans = [(g.start_ts, g.end_ts) for g in gaps_for_endpoint(s, company_id=ids["company"], endpoint_id=ep)]
    assert spans == [(T, T + 260), (T + 30, T + 70)]
    assert _count(sessions) == 2


def test_a_gap_of_every_tag_of_an_endpoint_is_shown_on_each_of_its_tags(sessions, ids):
    with sessions.begin() as s:
        record_gaps(s, [_gap(ids["endpoint"], None, T, T + 30, reason="server unreachable, no history")])
    with sessions() as s:
        rows = gaps_for_asset(s, company_id=ids["company"], asset_id=ids["asset"], start=T, end=T + 30)
        other = gaps_for_asset(s, company_id=ids["company"], asset_id=ids["other_asset"], start=T, end=T + 30)
        (whole,) = gaps_for_endpoint(s, company_id=ids["company"], endpoint_id=ids["endpoint"])
    assert sorted(r.tag_id for r in rows) == sorted(t for t, _ in ids["tags"])
    assert sorted(r.tag_id for r in other) == sorted(ids["other_tags"])  # the same endpoint feeds both assets
    assert (whole.tag_id, whole.tag, whole.reason) == (None, None, "server unreachable, no history")


def test_only_gaps_overlapping_the_range_are_read(sessions, ids):
    ep, tag = ids["endpoint"], ids["tag"]
    with sessions.begin() as s:
        record_gaps(s, [_gap(ep, tag, T, T + 60), _gap(ep, tag, T + 1000, T + 1060)])
    with sessions() as s:

        def read(start, end):
            return [
                g.start_ts
                for g in gaps_for_asset(s, company_id=ids["company"], asset_id=ids["asset"], start=start, end=end)
            ]

        assert read(T + 30, T + 40) == [T]
        assert read(T + 60, T + 1000) == []  # touching ends do not overlap
        assert read(T - 10, T + 2000) == [T, T + 1000]
        assert [g.start_ts for g in gaps_for_endpoint(s, company_id=ids["company"], endpoint_id=ep, start=T + 61)] == [
            T + 1000
        ]


def test_company_b_never_sees_company_a_gaps(sessions, ids):
    with sessions.begin() as s:
        record_gaps(
            s, [_gap(ids["endpoint"], ids["tag"], T, T + 60), _gap(ids["beta_endpoint"], ids["beta_tag"], T, T + 5)]
        )
    beta, acme = ids["other"], ids["company"]
    with sessions() as s:
        # Asking with company B and company A's ids gives nothing, whichever id is A's.
        assert gaps_for_asset(s, company_id=beta, asset_id=ids["asset"], start=T - 1, end=T + 100) == []
        assert gaps_for_endpoint(s, company_id=beta, endpoint_id=ids["endpoint"]) == []
        assert [g.tag_id for g in gaps_for_endpoint(s, company_id=beta, endpoint_id=ids["beta_endpoint"])] == [
            ids["beta_tag"]
        ]
        assert [g.tag_id for g in gaps_for_endpoint(s, company_id=acme, endpoint_id=ids["endpoint"])] == [ids["tag"]]
        assert gap_time(s, company_id=beta) == {ids["beta_endpoint"]: (1, 5.0)}
        assert gap_time(s, company_id=None) == {ids["endpoint"]: (1, 60.0), ids["beta_endpoint"]: (1, 5.0)}


def test_a_gap_naming_another_companys_tag_or_a_backwards_span_is_refused_whole(sessions, ids):
    good = _gap(ids["endpoint"], ids["tag"], T, T + 60)
    with sessions.begin() as s:
        with pytest.raises(ValueError, match="not a tag of endpoint"):
            record_gaps(s, [good, _gap(ids["endpoint"], ids["beta_tag"], T, T + 60)])
        with pytest.raises(ValueError, match="end_ts is before start_ts"):
            record_gaps(s, [good, _gap(ids["endpoint"], ids["tag"], T + 60, T)])
        with pytest.raises(ValueError, match="no such endpoint"):
            record_gaps(s, [_gap(999_999, None, T, T + 1)])
        assert record_gaps(s, [_gap(ids["endpoint"], ids["tag"], T, T)]) == 0  # no length: nothing missed
    assert _count(sessions) == 0


def test_gap_time_counts_overlaps_once_and_cuts_to_the_period(sessions, ids):
    ep, tags = ids["endpoint"], [t for t, _ in ids["tags"]]
    with sessions.begin() as s:
        record_gaps(
            s,
            [
                _gap(ep, tags[0], T, T + 100),
                _gap(ep, tags[1], T + 50, T + 150),  # another tag, overlapping: 150 s in all
                _gap(ep, None, T + 1000, T + 1010),
                _gap(ep, tags[0], T + 5000, T + 6000),
            ],
        )
    with sessions() as s:
        assert gap_time(s, company_id=ids["company"]) == {ep: (4, 1160.0)}
        assert gap_time(s, company_id=ids["company"], start=T + 100, end=T + 5500) == {ep: (3, 50.0 + 10.0 + 500.0)}
        assert gap_time(s, company_id=ids["company"], start=T + 2000, end=T + 3000) == {}


def test_migration_0011_adds_and_removes_only_the_gaps_table(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0010")
    before = set(inspect(engine).get_table_names())
    assert "gaps" not in before
    upgrade(engine, "0011")
    assert set(inspect(engine).get_table_names()) == before | {"gaps"}
    columns = {c["name"]: c["nullable"] for c in inspect(engine).get_columns("gaps")}
    assert columns == {
        "id": False,
        "company_id": False,
        "endpoint_id": False,
        "tag_id": True,
        "start_ts": False,
        "end_ts": False,
        "reason": False,
        "recorded_at": False,
    }
    downgrade(engine, "0010")
    assert set(inspect(engine).get_table_names()) == before
    engine.dispose()
