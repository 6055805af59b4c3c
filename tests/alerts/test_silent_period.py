"""The silent period after an alert closes runs on the data's clock, not the wall clock.

A plant's data time is its readings' timestamps: close to the wall clock for a real plant,
far ahead of it for the demo's accelerated simulated plant, far behind it for a replay.
"""

import time

import pytest

from pdm.alerts import feedback
from pdm.alerts.rules import ScoredRow, data_clock, evaluate, silent_until
from pdm.storage.catalog import company_by_slug
from pdm.storage.readings import insert_ignore
from pdm.storage.tables import Alert, Asset, Reading, Tag
from tests.helpers.alerts import THRESHOLD, alert_context


@pytest.fixture
def ctx(sessions, small_plant):
    return alert_context(sessions, small_plant)


def _rows(start, n=5, score=2.0):
    return [ScoredRow(ts=start + i, score=score, sensors=[]) for i in range(n)]


def _evaluate(sessions, cid, aid, mv, rows, silent_min=10.0):
    with sessions.begin() as s:
        alert = evaluate(
            s,
            company_id=cid,
            asset=s.get(Asset, aid),
            model_version_id=mv,
            threshold=THRESHOLD,
            rows=rows,
            debounce_rows=3,
            silent_period_min=silent_min,
        )
        return None if alert is None else (alert.id, alert.opened_at)


def _store_readings(sessions, cid, aid, times):
    with sessions.begin() as s:
        tags = s.query(Tag).filter_by(company_id=cid, asset_id=aid).all()
        insert_ignore(
            s,
            Reading.__table__,
            [
                {"tag_id": t.id, "ts": ts, "value": 1.0, "quality": 0, "received_at": time.time()}
                for t in tags
                for ts in times
            ],
        )


def _open_and_close(ctx, *, data_start, closed_wall, how="false_alarm"):
    sessions, cid, aid, mv = ctx
    alert_id, _ = _evaluate(sessions, cid, aid, mv, _rows(data_start, n=3))
    with sessions.begin() as s:
        if how == "false_alarm":
            feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="ana", reason="x", now=closed_wall)
        else:
            feedback.resolve(
                s,
                company_id=cid,
                alert_id=alert_id,
                user="ana",
                failure_mode="bearing_wear",
                action_taken="bearing",
                now=closed_wall,
            )
    return alert_id


def test_data_clock_is_the_assets_latest_reading_and_per_company(ctx):
    sessions, cid, aid, mv = ctx
    with sessions() as s:
        assert data_clock(s, company_id=cid, asset_id=aid) is None
    _store_readings(sessions, cid, aid, [100.0, 250.0, 175.0])
    with sessions() as s:
        assert data_clock(s, company_id=cid, asset_id=aid) == 250.0
        beta = company_by_slug(s, "beta")
        assert data_clock(s, company_id=beta.id, asset_id=aid) is None


def test_accelerated_plant_stays_silent_for_its_data_minutes(ctx):
    """Demo: the closing happens now on the wall clock, but the data clock has run far ahead of it."""
    sessions, cid, aid, mv = ctx
    wall = time.time()
    data0 = wall + 50_000.0  # an accelerated simulated clock, well ahead of the wall clock
    _store_readings(sessions, cid, aid, [data0 + i for i in range(0, 1201, 60)])  # data clock at data0 + 1200
    alert_id = _open_and_close(ctx, data_start=data0 + 100, closed_wall=wall, how="resolve")
    with sessions() as s:
        assert s.get(Alert, alert_id).closed_data_at == data0 + 1200
    # 5 data minutes after closing: still silent (the wall-clock closing time would have let it through).
    assert _evaluate(sessions, cid, aid, mv, _rows(data0 + 1500)) is None
    # 10 data minutes and more after closing: a sustained excess opens a new alert, dated at the earliest then.
    opened = _evaluate(sessions, cid, aid, mv, _rows(data0 + 1798, n=6))
    assert opened is not None and opened[0] != alert_id and opened[1] == data0 + 1800


def test_replayed_plant_is_not_silenced_for_ever(ctx):
    """Data from the past, closed now: the next fault in the data 11 data minutes later still alerts."""
    sessions, cid, aid, mv = ctx
    _store_readings(sessions, cid, aid, [1000.0, 1060.0])
    alert_id = _open_and_close(ctx, data_start=1000.0, closed_wall=time.time())
    assert _evaluate(sessions, cid, aid, mv, _rows(1500.0)) is None
    opened = _evaluate(sessions, cid, aid, mv, _rows(1060.0 + 660))
    assert opened is not None and opened[0] != alert_id


def test_assets_own_silent_period_wins_and_no_readings_fall_back_to_last_seen(ctx):
    sessions, cid, aid, mv = ctx
    _open_and_close(ctx, data_start=100.0, closed_wall=time.time())  # no reading stored: last seen 102
    with sessions.begin() as s:
        asset = s.get(Asset, aid)
        assert silent_until(s, company_id=cid, asset=asset, default_min=10) == 102.0 + 600
        asset.silent_period_min = 1.0
        assert silent_until(s, company_id=cid, asset=asset, default_min=10) == 102.0 + 60
    assert _evaluate(sessions, cid, aid, mv, _rows(170.0)) is not None


def test_reopening_forgets_the_closing_data_time(ctx):
    sessions, cid, aid, mv = ctx
    _store_readings(sessions, cid, aid, [500.0])
    alert_id = _open_and_close(ctx, data_start=100.0, closed_wall=time.time())
    with sessions.begin() as s:
        feedback.reopen(s, company_id=cid, alert_id=alert_id, user="ana")
    with sessions() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.status, alert.closed_at, alert.closed_data_at) == ("OPEN", None, None)
