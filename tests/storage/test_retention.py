"""Retention on both backends: raw readings past raw_days become exact 1-minute aggregates,
in bounded batches, idempotently, resumably; charts read raw where kept and aggregates before."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from sqlalchemy import event, select, text

from pdm.config import RetentionConfig, load_settings
from pdm.errors import ConfigError
from pdm.storage.readings import asset_series, insert_reading_tuples
from pdm.storage.retention import maintain
from pdm.storage.tables import ReadingMinute
from tests.helpers.retention import BAD, D0, DAY, GOOD, NOW, UNCERTAIN, raw_count, store


def aggregates(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(
            text(
                'SELECT tag_id, minute, "min", mean, "max", "count", bad_count FROM readings_1m ORDER BY tag_id, minute'
            ),
            conn,
        )
    return frame.astype({"count": int, "bad_count": int})


def recompute(rows) -> pd.DataFrame:
    """The aggregates computed independently, in pandas, from the raw rows."""
    df = pd.DataFrame(rows, columns=["tag_id", "ts", "value", "quality", "received_at"])
    df["minute"] = (df["ts"] // 60) * 60
    df["good"] = df["quality"] < 2**30
    good = df[df["good"]]
    agg = good.groupby(["tag_id", "minute"])["value"].agg(["min", "mean", "max", "count"])
    bad = df[~df["good"]].groupby(["tag_id", "minute"]).size().rename("bad_count")
    out = agg.join(bad, how="outer").reset_index()
    out["count"] = out["count"].fillna(0).astype(int)
    out["bad_count"] = out["bad_count"].fillna(0).astype(int)
    return out[["tag_id", "minute", "min", "mean", "max", "count", "bad_count"]].sort_values(
        ["tag_id", "minute"], ignore_index=True
    )


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False, rtol=1e-12
    )


def random_rows(tags, start, hours, seed=1):
    rng = random.Random(seed)
    rows = []
    for tag_id, _ in tags:
        ts = start
        while ts < start + hours * 3600:
            quality = rng.choice([GOOD] * 8 + [UNCERTAIN, BAD])
            rows.append((tag_id, ts, rng.uniform(-50, 50), quality, ts))
            ts += rng.choice([0.5, 1.0, 2.5, 7.0, 61.0])
    return rows


def test_hand_checked_minute_aggregates_and_recent_rows_kept(engine, plant):
    tag = plant["tags"][0][0]
    m = D0 - 600  # a minute ten minutes before the horizon
    rows = [
        (tag, m + 1, 1.0, GOOD, 0.0),
        (tag, m + 2, 2.0, GOOD, 0.0),
        (tag, m + 59.5, 3.0, GOOD, 0.0),
        (tag, m + 30, 100.0, BAD, 0.0),
        (tag, m + 31, 50.0, UNCERTAIN, 0.0),  # excluded from min/mean/max
        (tag, m + 60, 7.0, BAD, 0.0),  # the next minute has only a Bad reading
        (tag, D0, 9.0, GOOD, 0.0),
        (tag, D0 + 5, 9.5, GOOD, 0.0),
    ]  # at and after the horizon: kept raw
    store(engine, rows)
    report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=NOW)
    assert report.rows_aggregated == 6
    got = aggregates(engine)
    got = got.astype(object).where(got.notna(), None)
    assert got.to_dict("records") == [
        {"tag_id": tag, "minute": m, "min": 1.0, "mean": 2.0, "max": 3.0, "count": 3, "bad_count": 2},
        {"tag_id": tag, "minute": m + 60, "min": None, "mean": None, "max": None, "count": 0, "bad_count": 1},
    ]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT ts FROM readings ORDER BY ts")).scalars().all() == [D0, D0 + 5]


def test_aggregates_equal_a_recomputation_and_a_second_run_changes_nothing(engine, plant):
    old = random_rows(plant["tags"], D0 - 2 * DAY + 3600, hours=3) + random_rows(plant["tags"], D0 - 1800, 0.5, 2)
    recent = random_rows(plant["tags"], D0, hours=1, seed=3)
    store(engine, old + recent)
    # a batch size that splits minutes between batches: those minutes are merged, not overwritten
    retention = RetentionConfig(raw_days=1, aggregate_days=30, batch_rows=137)
    first = maintain(engine, retention, now=NOW)
    assert first.rows_aggregated == len(old)
    assert_same(aggregates(engine), recompute(old))
    assert raw_count(engine) == len(recent)

    before = aggregates(engine)
    second = maintain(engine, retention, now=NOW)
    assert second.rows_aggregated == 0 and second.aggregates_deleted == 0 and not second.partitions_dropped
    assert_same(aggregates(engine), before)
    assert raw_count(engine) == len(recent)


def test_no_transaction_deletes_more_than_batch_rows(engine, plant):
    """Counted by the database's own DELETE row counts, not by the job's report."""
    rows = random_rows(plant["tags"][:2], D0 - 7200, hours=1.5)
    with engine.begin() as conn:  # into DEFAULT on PostgreSQL: the batched path, as on SQLite
        insert_reading_tuples(conn, rows)
    deleted: list[int] = []

    @event.listens_for(engine, "after_cursor_execute")
    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM READINGS") and "READINGS_1M" not in statement.upper():
            deleted.append(cursor.rowcount)

    report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30, batch_rows=250), now=NOW)
    event.remove(engine, "after_cursor_execute", count)
    assert sum(deleted) == len(rows) == report.rows_aggregated
    assert max(deleted) == 250 and len(deleted) >= math.ceil(len(rows) / 250)
    assert_same(aggregates(engine), recompute(rows))


def test_a_crash_mid_way_loses_nothing_and_the_rerun_finishes_exactly(engine, plant):
    rows = random_rows(plant["tags"][:3], D0 - 5000, hours=1, seed=5)
    with engine.begin() as conn:
        insert_reading_tuples(conn, rows)
    deletes = 0

    @event.listens_for(engine, "before_cursor_execute")
    def crash(conn, cursor, statement, params, context, executemany):
        nonlocal deletes
        if statement.lstrip().upper().startswith("DELETE FROM READINGS"):
            deletes += 1
            if deletes == 4:  # the fourth batch has aggregated its rows but not deleted them
                raise RuntimeError("power cut")

    retention = RetentionConfig(raw_days=1, aggregate_days=30, batch_rows=100)
    with pytest.raises(RuntimeError, match="power cut"):
        maintain(engine, retention, now=NOW)
    event.remove(engine, "before_cursor_execute", crash)
    partial_aggs = aggregates(engine)
    assert 0 < raw_count(engine) < len(rows)
    assert int(partial_aggs["count"].sum() + partial_aggs["bad_count"].sum()) + raw_count(engine) == len(rows)

    maintain(engine, retention, now=NOW)
    assert raw_count(engine) == 0
    assert_same(aggregates(engine), recompute(rows))


def test_a_late_reading_for_an_aggregated_minute_is_merged(engine, plant):
    tag = plant["tags"][0][0]
    first = [(tag, D0 - 120 + i, float(i), GOOD, 0.0) for i in range(0, 60, 2)]
    store(engine, first)
    retention = RetentionConfig(raw_days=1, aggregate_days=30)
    maintain(engine, retention, now=NOW)
    late = [(tag, D0 - 120 + 1, -5.0, GOOD, 0.0), (tag, D0 - 120 + 3, 99.0, BAD, 0.0)]  # e.g. a spool replay
    with engine.begin() as conn:
        insert_reading_tuples(conn, late)
    maintain(engine, retention, now=NOW)
    assert_same(aggregates(engine), recompute(first + late))


def test_aggregates_older_than_aggregate_days_are_removed(engine, plant):
    tag = plant["tags"][0][0]
    rows = [(tag, D0 - 5 * DAY + 10, 1.0, GOOD, 0.0), (tag, D0 - 2 * DAY + 10, 2.0, GOOD, 0.0)]
    store(engine, rows)
    report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=4, batch_rows=100), now=NOW)
    assert report.aggregates_deleted == 1
    assert aggregates(engine)["minute"].tolist() == [D0 - 2 * DAY]


def test_chart_series_reads_raw_where_kept_and_minutes_before(engine, sessions, plant):
    (tag, name), (tag2, name2) = plant["tags"][:2]
    old = [(tag, D0 - 180 + s, float(s), GOOD, 0.0) for s in range(0, 120, 10)]
    recent = [(tag, D0 + s, 100.0 + s, GOOD, 0.0) for s in range(0, 30, 10)]
    only_old = [(tag2, D0 - 60 + s, 5.0, BAD, 0.0) for s in (0, 1)]
    store(engine, old + recent + only_old)
    maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=NOW)
    with sessions() as s:
        series = asset_series(s, company_id=plant["company"], asset_id=plant["asset"], start=D0 - 150, end=D0 + 20)
        foreign = asset_series(s, company_id=plant["other"], asset_id=plant["asset"], start=0, end=2 * D0)
    first = series[series["tag"] == name]
    assert first[["ts", "level"]].values.tolist() == [
        [D0 - 180, "1m"],
        [D0 - 120, "1m"],
        [D0, "raw"],
        [D0 + 10, "raw"],
        [D0 + 20, "raw"],
    ]
    assert first["value"].tolist()[:2] == [25.0, 85.0]  # means of 0..50 and 60..110
    assert first[["min", "max"]].values.tolist()[1] == [60.0, 110.0]
    second = series[series["tag"] == name2]
    assert second["level"].tolist() == ["1m"] and second["quality"].tolist() == [BAD]  # no Good reading
    assert foreign.empty


def test_retention_config_is_validated_with_field_and_value(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[retention]\nraw_days = 60\naggregate_days = 30\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, env={})
    assert "retention.aggregate_days" in str(exc.value) and "30" in str(exc.value)
    with pytest.raises(ConfigError, match=r"retention\.raw_days.*'soon'"):
        load_settings(env={"PDM_RETENTION__RAW_DAYS": "soon"})
    assert load_settings(path, env={"PDM_RETENTION__AGGREGATE_DAYS": "90"}).retention.aggregate_days == 90
    assert load_settings(env={}).retention == RetentionConfig(raw_days=30, aggregate_days=730)


def test_orm_reads_aggregates(engine, sessions, plant):
    tag = plant["tags"][0][0]
    store(engine, [(tag, D0 - 60, 4.0, GOOD, 0.0)])
    maintain(engine, RetentionConfig(raw_days=1, aggregate_days=30), now=NOW)
    with sessions() as s:
        row = s.execute(select(ReadingMinute)).scalar_one()
    assert (row.tag_id, row.minute, row.min, row.mean, row.max, row.count, row.bad_count) == (
        tag,
        D0 - 60,
        4.0,
        4.0,
        4.0,
        1,
        0,
    )


def test_pdmctl_db_maintain_runs_retention_and_refuses_an_uninitialised_database(
    engine, db_url, plant, capsys, monkeypatch, tmp_path
):
    from tests.helpers.pdmctl import run_pdmctl

    tag = plant["tags"][0][0]
    import time

    long_ago = (time.time() - 100 * DAY) // 60 * 60  # past the default raw horizon, within the aggregates'
    with engine.begin() as conn:
        insert_reading_tuples(conn, [(tag, long_ago + i, 1.0, GOOD, 0.0) for i in range(90)])
    code, out, err = run_pdmctl(capsys, monkeypatch, "db", "maintain", "--database", db_url)
    assert code == 0, err
    assert "raw readings aggregated and removed 90" in out
    assert raw_count(engine) == 0 and aggregates(engine)["count"].tolist() == [60, 30]

    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    code, out, err = run_pdmctl(capsys, monkeypatch, "db", "maintain", "--database", empty)
    assert code == 1 and err.count("\n") == 1 and "run `pdmctl --local-admin db upgrade` first" in err


def test_pdmctl_db_maintain_on_a_schema_from_before_retention_says_upgrade(db_url, capsys, monkeypatch):
    from pdm.storage.session import make_engine, upgrade
    from tests.helpers.pdmctl import run_pdmctl

    engine = make_engine(db_url)
    upgrade(engine, "0005")
    engine.dispose()
    code, out, err = run_pdmctl(capsys, monkeypatch, "db", "maintain", "--database", db_url)
    assert code == 1 and err.startswith("error: database ") and "has no readings_1m table" in err
    assert err.count("\n") == 1


async def test_the_worker_runs_retention_on_its_schedule(engine, db_url, plant, tmp_path):
    import asyncio
    import time

    from pdm.config import DetectionConfig, Settings
    from pdm.runtime.worker import Worker

    tag = plant["tags"][0][0]
    old = (time.time() - 3 * DAY) // 60 * 60
    with engine.begin() as conn:
        insert_reading_tuples(conn, [(tag, old + i, 2.0, GOOD, 0.0) for i in range(30)])
    settings = Settings(database_url=db_url, var_dir=tmp_path, retention=RetentionConfig(raw_days=1, aggregate_days=9))
    worker = Worker(engine=engine, settings=settings, detection=DetectionConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(100):  # the job runs once at start, then every interval_s
        await asyncio.sleep(0.1)
        if raw_count(engine) == 0:
            break
    stop.set()
    await task
    assert raw_count(engine) == 0
    assert aggregates(engine)[["minute", "mean", "count"]].values.tolist() == [[old, 2.0, 30]]


def test_an_alert_older_than_raw_retention_still_shows_its_telemetry(monkeypatch, tmp_path):
    """The technician's chart falls back to 1-minute aggregates once the raw rows are gone."""
    from pdm.storage.session import make_engine
    from pdm.storage.tables import Alert
    from tests.helpers.app import app_db, page_text
    from tests.helpers.login import logged_in

    url = app_db(tmp_path / "pdm.sqlite3")  # readings of November 2023, one a minute
    engine = make_engine(url)
    report = maintain(engine, RetentionConfig(raw_days=1, aggregate_days=3650))
    assert report.rows_aggregated > 0 and raw_count(engine) == 0
    with engine.connect() as conn:
        ((company_id, alert_id),) = conn.execute(select(Alert.company_id, Alert.id)).all()
    engine.dispose()
    app = logged_in(monkeypatch, url, "ana", "technician", "alpha", page="alerts")
    app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not app.exception, app.exception
    assert "No readings stored around this alert." not in page_text(app)
    assert len(app.get("vega_lite_chart")) == 2  # telemetry and score
