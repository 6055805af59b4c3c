"""Charts over long ranges read time buckets computed in the database, across the retention boundary."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import event

from pdm.config import RetentionConfig
from pdm.storage.downsample import bucket_seconds, chart_series, latest_reading_ts
from pdm.storage.readings import asset_series
from pdm.storage.retention import maintain
from tests.helpers.retention import BAD, D0, DAY, GOOD, UNCERTAIN, raw_count, store

H = 3600


def test_bucket_size_grows_with_the_range_and_short_ranges_stay_raw():
    assert bucket_seconds(6 * H) is None and bucket_seconds(60) is None
    assert [bucket_seconds(s) for s in (6 * H + 1, 24 * H, 3 * DAY, 7 * DAY, 30 * DAY, 3650 * DAY)] == [
        60,
        120,
        600,
        900,
        3600,
        86400,
    ]


def _rows(tag, tag2):
    return [
        (tag, D0 - 590, 1.0, GOOD, 0.0),
        (tag, D0 - 500, 3.0, GOOD, 0.0),
        (tag, D0 - 30, 99.0, UNCERTAIN, 0.0),
        (tag, D0 + 10, 10.0, GOOD, 0.0),
        (tag, D0 + 290, 20.0, GOOD, 0.0),
        (tag, D0 + 310, 30.0, GOOD, 0.0),
        (tag, D0 + 900, 7.0, BAD, 0.0),
        (tag2, D0 + 10, 4.0, GOOD, 0.0),
    ]


def test_buckets_are_hand_checked_and_unchanged_when_retention_folds_raw_rows(engine, sessions, plant):
    (tag, name), (tag2, name2) = plant["tags"][:2]
    store(engine, _rows(tag, tag2))
    start, end = D0 - 1.5 * DAY, D0 + 1.5 * DAY  # 3 days: 10-minute buckets

    def read(**kw):
        with sessions() as s:
            return chart_series(s, company_id=plant["company"], asset_id=plant["asset"], start=start, end=end, **kw)

    before = read(tags=[name])
    assert before["level"].unique().tolist() == ["10m"]
    assert before["ts"].tolist() == [D0 - 600, D0, D0 + 600]
    assert before[["value", "min", "max"]].values.tolist()[:2] == [[2.0, 1.0, 3.0], [20.0, 10.0, 30.0]]
    assert before["quality"].tolist() == [0, 0, BAD]  # the last bucket holds no Good reading
    assert math.isnan(before["value"].iloc[2])
    # The cutoff falls inside the D0 bucket (SQLite: at D0 + 300; PostgreSQL drops whole days: at D0),
    # so that bucket merges folded minutes with raw rows.
    report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=D0 + DAY + 300)
    assert report.rows_aggregated >= 3 and raw_count(engine) <= 5
    after = read(tags=[name])
    assert after.drop(columns="value").equals(before.drop(columns="value"))
    assert after["value"].tolist()[:2] == [2.0, 20.0]
    both = read()
    assert sorted(both["tag"].unique()) == sorted([name, name2])
    assert both[both["tag"] == name2][["ts", "value"]].values.tolist() == [[D0, 4.0]]


def test_a_month_of_ten_minute_readings_comes_back_as_hourly_means(engine, sessions, plant):
    tag, name = plant["tags"][0]
    store(engine, [(tag, D0 + i * 600, float(i), GOOD, 0.0) for i in range(30 * 144)])
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with sessions() as s:
        series = chart_series(s, company_id=plant["company"], asset_id=plant["asset"], start=D0, end=D0 + 30 * DAY)
    assert len(series) == 720 and series["level"].unique().tolist() == ["1h"]
    hour = series.iloc[100]  # readings 600..605
    assert (hour["ts"], hour["value"], hour["min"], hour["max"]) == (D0 + 100 * H, 602.5, 600.0, 605.0)
    reads = [sql for sql in statements if "readings" in sql]
    assert len(reads) == 2 and all("GROUP BY" in sql for sql in reads)  # raw and 1m, grouped in the database


def test_short_ranges_read_raw_and_other_companies_read_nothing(engine, sessions, plant):
    (tag, name), (tag2, _) = plant["tags"][:2]
    store(engine, _rows(tag, tag2))
    with sessions() as s:
        short = chart_series(s, company_id=plant["company"], asset_id=plant["asset"], start=D0 - H, end=D0 + H)
        raw = asset_series(s, company_id=plant["company"], asset_id=plant["asset"], start=D0 - H, end=D0 + H)
        foreign = chart_series(s, company_id=plant["other"], asset_id=plant["asset"], start=D0 - DAY, end=D0 + DAY)
        assert latest_reading_ts(s, company_id=plant["company"], asset_id=plant["asset"]) == D0 + 900
        assert latest_reading_ts(s, company_id=plant["other"], asset_id=plant["asset"]) is None
    assert short.equals(raw) and short["level"].unique().tolist() == ["raw"] and len(short) == 8
    assert foreign.empty


@pytest.mark.parametrize("folded", [False, True])
def test_latest_reading_counts_folded_minutes(engine, sessions, plant, folded):
    tag, _ = plant["tags"][0]
    store(engine, [(tag, D0 - 590, 1.0, GOOD, 0.0)])
    if folded:
        maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=D0 + DAY)
    with sessions() as s:
        assert latest_reading_ts(s, company_id=plant["company"], asset_id=plant["asset"]) == (
            D0 - 600 if folded else D0 - 590
        )


def test_stored_counts_add_folded_minutes_to_raw_rows_per_company(engine, sessions, plant):
    from pdm.storage.readings import first_stored, stored_counts

    (tag, _), (tag2, _) = plant["tags"][:2]
    store(engine, _rows(tag, tag2))  # 8 readings, Good or not, on one endpoint of the company

    def counts(company_id, **kw):
        with sessions() as s:
            return (
                stored_counts(s, by="company", company_id=company_id, **kw),
                sum(stored_counts(s, by="endpoint", company_id=company_id, **kw).values()),
                sorted(first_stored(s, company_id=company_id).values()),
            )

    cid = plant["company"]
    before = counts(cid)
    assert before == ({cid: 8}, 8, [D0 - 590])
    assert counts(cid, start=D0, end=D0 + 600) == ({cid: 4}, 4, [D0 - 590])  # [start, end): D0 + 900 is out
    maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=D0 + DAY + 300)
    assert counts(cid) == ({cid: 8}, 8, [D0 - 600])  # the oldest is now its minute's start
    assert counts(cid, start=D0, end=D0 + 600) == ({cid: 4}, 4, [D0 - 600])
    assert counts(plant["other"]) == ({}, 0, [])
