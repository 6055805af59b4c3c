"""Alerts: debounce, one open alert per asset (enforced by the database), updates, severity, filters.

The feedback lifecycle (acknowledge ... resolve, reopen) is in test_alert_feedback.py."""

import threading

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from pdm.alerts import feedback
from pdm.alerts.episodes import episodes
from pdm.alerts.rules import (
    CLEAR_RATIO,
    ScoredRow,
    evaluate,
    list_alerts,
    open_alert,
    open_counts_by_company,
    severity,
)
from pdm.alerts.simulate import simulate_openings
from pdm.storage.catalog import company_by_slug
from pdm.storage.readings import insert_ignore
from pdm.storage.tables import Alert, AlertEvent, Asset, Score
from tests.helpers.alerts import THRESHOLD, alert_context
from tests.helpers.alerts import evaluate_rows as _evaluate
from tests.helpers.alerts import opened_alert as _opened
from tests.helpers.alerts import scored_rows as _rows


@pytest.fixture
def ctx(sessions, small_plant):
    return alert_context(sessions, small_plant)


def _store(s, cid, aid, mv, rows):
    """The scores of ``rows``, stored before they are evaluated, as the scoring job does."""
    values = [
        {
            "asset_id": aid,
            "ts": r.ts,
            "company_id": cid,
            "model_version_id": mv,
            "score": r.score,
            "threshold": THRESHOLD,
        }
        for r in rows
    ]
    insert_ignore(s, Score.__table__, values)


def _count(sessions):
    with sessions() as s:
        return s.execute(select(func.count()).select_from(Alert)).scalar_one()


def test_isolated_spikes_open_nothing(ctx):
    sessions, cid, aid, mv = ctx
    assert _evaluate(sessions, cid, aid, mv, _rows([0.5, 2.0, 2.0, 0.4, 3.0, 0.2])) is None
    assert _count(sessions) == 0


def test_sustained_excess_opens_one_alert_dated_from_its_first_row(ctx):
    sessions, cid, aid, mv = ctx
    alert = _evaluate(sessions, cid, aid, mv, _rows([0.5, 1.5, 1.6, 1.7, 4.0, 0.5]))
    assert alert is not None and alert.status == "OPEN"
    assert alert.opened_at == 101.0 and alert.last_seen_at == 104.0
    assert alert.peak_score == 4.0 and alert.sensors[0]["tag"] == "vibration"


def test_debounce_run_spans_scoring_batches(ctx):
    """Two rows in one batch and one in the next are one run of three."""
    sessions, cid, aid, mv = ctx
    from pdm.storage.readings import insert_ignore
    from pdm.storage.tables import Score

    first = _rows([0.5, 2.0, 2.0])
    with sessions.begin() as s:
        insert_ignore(
            s,
            Score.__table__,
            [
                {
                    "asset_id": aid,
                    "ts": r.ts,
                    "company_id": cid,
                    "model_version_id": mv,
                    "score": r.score,
                    "threshold": THRESHOLD,
                }
                for r in first
            ],
        )
    assert _evaluate(sessions, cid, aid, mv, first) is None
    alert = _evaluate(sessions, cid, aid, mv, _rows([2.5], start=103.0))
    assert alert is not None and alert.opened_at == 101.0


def test_new_anomaly_updates_the_open_alert(ctx):
    sessions, cid, aid, mv = ctx
    first = _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2]))
    second = _evaluate(sessions, cid, aid, mv, _rows([9, 9], start=500.0))
    assert second.id == first.id and _count(sessions) == 1
    assert second.peak_score == 9 and second.last_seen_at == 501.0


def test_database_refuses_a_second_open_alert(ctx):
    sessions, cid, aid, mv = ctx
    _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2]))
    with pytest.raises(IntegrityError):
        with sessions.begin() as s:
            s.add(
                Alert(
                    company_id=cid,
                    asset_id=aid,
                    status="ACKNOWLEDGED",
                    severity="low",
                    opened_at=1,
                    last_seen_at=1,
                    peak_score=2,
                    threshold=1,
                    sensors=[],
                )
            )
    # a closed alert does not count: a new one may open after it
    with sessions.begin() as s:
        s.execute(Alert.__table__.update().values(status="RESOLVED"))
    assert _evaluate(sessions, cid, aid, mv, _rows([3, 3, 3], start=900.0)) is not None
    assert _count(sessions) == 2


def test_two_scorers_racing_on_one_asset_open_one_alert(ctx):
    sessions, cid, aid, mv = ctx
    barrier = threading.Barrier(2)
    errors = []

    def race():
        try:
            barrier.wait()
            _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2, 2]))
        except Exception as exc:  # collected so the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _count(sessions) == 1


def test_list_alerts_is_per_company_and_cluster_counts_are_aggregates(ctx):
    sessions, cid, aid, mv = ctx
    _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2]))
    with sessions() as s:
        beta = company_by_slug(s, "beta")
        assert len(list_alerts(s, company_id=cid)) == 1
        assert list_alerts(s, company_id=beta.id) == []
        counts = {slug: n for slug, _, n in open_counts_by_company(s)}
    assert counts == {"acme": 1, "beta": 0}


@pytest.mark.parametrize(
    "ratio, criticality, expected",
    [
        (1.2, 3, "low"),
        (2.0, 3, "medium"),
        (2.0, 5, "high"),
        (2.0, 1, "low"),
        (8.0, 3, "critical"),
        (4.0, 3, "high"),
    ],
)
def test_severity_grows_with_excess_and_criticality(ratio, criticality, expected):
    assert severity(ratio, criticality) == expected


# --- hysteresis, escalation, diagnostics, filters ---------------------------------------------------------


def test_hysteresis_keeps_a_run_going_just_under_the_threshold(ctx):
    sessions, cid, aid, mv = ctx
    # 0.95 is under the threshold (1.0) but above 0.9 x threshold: the run goes on.
    alert = _evaluate(sessions, cid, aid, mv, _rows([1.5, 0.95, 1.2]))
    assert alert is not None and alert.opened_at == 100.0
    # Without hysteresis the same scores open nothing.
    with sessions.begin() as s:
        s.execute(Alert.__table__.delete())
        assert (
            evaluate(
                s,
                company_id=cid,
                asset=s.get(Asset, aid),
                model_version_id=mv,
                threshold=THRESHOLD,
                rows=_rows([1.5, 0.95, 1.2], start=2000.0),
                debounce_rows=3,
                clear_ratio=1.0,
            )
            is None
        )


def test_severity_grows_with_duration_and_never_drops(ctx):
    assert severity(2.0, 3, duration_s=3600) == "high" and severity(2.0, 3, duration_s=60) == "medium"
    sessions, cid, aid, mv = ctx
    first = _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2]))
    assert first.severity == "medium"
    later = _evaluate(sessions, cid, aid, mv, _rows([1.2], start=100.0 + 3600))
    assert later.id == first.id and later.severity == "high"
    with sessions() as s:
        kinds = [e.kind for e in feedback.alert_events(s, company_id=cid, alert_id=first.id)]
    assert kinds == ["opened", "escalated"]


def test_list_alerts_filters_by_status_asset_site_and_period(ctx):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions() as s:
        site_id = s.get(Asset, aid).site_id
        ids = lambda **kw: [a.id for a, _ in list_alerts(s, company_id=cid, **kw)]  # noqa: E731
        assert ids(statuses=["OPEN"]) == [alert_id] and ids(statuses=["RESOLVED"]) == []
        assert ids(asset_ids=[aid]) == [alert_id] and ids(asset_ids=[aid + 100]) == []
        assert ids(site_ids=[site_id]) == [alert_id] and ids(site_ids=[site_id + 100]) == []
        assert ids(since=50, until=150) == [alert_id] and ids(since=500) == [] and ids(until=50) == []


def test_simulated_openings_count_debounced_runs_with_hysteresis_and_silence():
    ts = [float(i) * 60 for i in range(14)]
    # A run of two (too short), a run of three held open by 0.95 (above 0.9 x threshold), then a run
    # of three inside the silent period after the second closed, then one after it.
    scores = [2, 2, 0, 2, 0.95, 2, 0, 2, 2, 2, 0, 0, 0, 0]
    opened = simulate_openings(ts, scores, 1.0, debounce_rows=3, silent_period_min=5)
    assert [(a.opened_at, a.last_seen_at, a.first_row, a.last_row) for a in opened] == [(180.0, 300.0, 3, 5)]
    later = simulate_openings(ts + [840.0, 900.0, 960.0], scores + [2, 2, 2], 1.0, debounce_rows=3, silent_period_min=5)
    assert [a.opened_at for a in later] == [180.0, 840.0]
    assert simulate_openings([], [], 1.0, debounce_rows=3, silent_period_min=0) == []


@pytest.mark.parametrize("seed", range(4))
def test_simulated_openings_are_the_alerts_evaluate_opens_when_each_is_closed_as_a_false_alarm(ctx, seed):
    """The alarm budget counts alerts with ``simulate_openings``: it must open exactly what the
    worker opens (debounce, hysteresis, silent period across batches) when a technician closes
    each alert as a false alarm as soon as its run ends."""
    sessions, cid, aid, mv = ctx
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(0.8, 0.35, 600), 0, None)
    ts = 1000.0 + 30.0 * np.arange(len(scores))
    opened_ids: list[int] = []
    with sessions.begin() as s:
        asset = s.get(Asset, aid)
        s.execute(update(Asset).where(Asset.id == aid).values(silent_period_min=2.0))
    for t, v in zip(ts, scores):
        row = ScoredRow(ts=float(t), score=float(v), sensors=[])
        with sessions.begin() as s:
            asset = s.get(Asset, aid)
            current = open_alert(s, company_id=cid, asset_id=aid)
            if current is not None and v <= THRESHOLD * CLEAR_RATIO:
                feedback.mark_false_alarm(s, company_id=cid, alert_id=current.id, user="bob", reason="run ended")
            _store(s, cid, aid, mv, [row])
            alert = evaluate(
                s, company_id=cid, asset=asset, model_version_id=mv, threshold=THRESHOLD, rows=[row], debounce_rows=3
            )
            if alert is not None and alert.id not in opened_ids:
                opened_ids.append(alert.id)
    with sessions() as s:
        worker = [s.get(Alert, i).opened_at for i in opened_ids]
    simulated = simulate_openings(ts, scores, THRESHOLD, debounce_rows=3, silent_period_min=2.0)
    assert [a.opened_at for a in simulated] == worker
    assert len(worker) >= 3


def _score_and_evaluate(sessions, cid, aid, mv, ts, scores, *, back_after, batch=7):
    """Rows stored and evaluated batch by batch, as the scheduled scoring does; nobody closes the alert."""
    for lo in range(0, len(ts), batch):
        part = list(zip(ts[lo : lo + batch], scores[lo : lo + batch]))
        with sessions.begin() as s:
            asset = s.get(Asset, aid)
            rows = [ScoredRow(ts=float(t), score=float(v), sensors=[]) for t, v in part]
            _store(s, cid, aid, mv, rows)
            evaluate(
                s,
                company_id=cid,
                asset=asset,
                model_version_id=mv,
                threshold=THRESHOLD,
                rows=rows,
                debounce_rows=3,
                return_to_normal_rows=back_after,
            )


@pytest.mark.parametrize("seed", range(3))
def test_episodes_are_what_simulate_openings_counts_when_nobody_closes_the_alert(ctx, seed):
    """The alarm budget and the offline SKAB stand-in count episodes with ``simulate_openings``: the
    worker's one alert must return to normal and become active again at exactly those rows, across
    batches (the calm rows before a batch are counted from the stored scores)."""
    sessions, cid, aid, mv = ctx
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(0.75, 0.4, 500), 0, None)
    ts = 1000.0 + 30.0 * np.arange(len(scores))
    with sessions.begin() as s:
        s.execute(update(Asset).where(Asset.id == aid).values(silent_period_min=3.0))
    _score_and_evaluate(sessions, cid, aid, mv, ts, scores, back_after=5)
    with sessions() as s:
        (alert,) = s.execute(select(Alert)).scalars().all()
        got = episodes(s, company_id=cid, alert=alert)
        episode_count = alert.episodes
    simulated = simulate_openings(
        ts, scores, THRESHOLD, debounce_rows=3, silent_period_min=3.0, return_to_normal_rows=5
    )
    assert got == [(a.opened_at, a.last_seen_at) for a in simulated]
    assert episode_count == len(simulated) >= 3


def test_an_alert_returns_to_normal_stays_in_hand_and_a_new_excursion_makes_it_active_again(ctx):
    sessions, cid, aid, mv = ctx
    with sessions.begin() as s:
        s.execute(update(Asset).where(Asset.id == aid).values(silent_period_min=0.0))
    alert_id = _opened(ctx)  # rows 100-102 over the threshold
    with sessions.begin() as s:
        feedback.acknowledge(s, company_id=cid, alert_id=alert_id, user="bob")
    calm = _rows([0.2] * 4, start=103.0)
    back = _rows([2, 2, 2], start=110.0)
    with sessions.begin() as s:
        asset = s.get(Asset, aid)
        kw = dict(company_id=cid, asset=asset, model_version_id=mv, threshold=THRESHOLD, debounce_rows=3)
        _store(s, cid, aid, mv, calm[:3])
        evaluate(s, rows=calm[:3], return_to_normal_rows=4, **kw)
        assert s.get(Alert, alert_id).normal_since is None  # three calm rows: not yet
        _store(s, cid, aid, mv, calm[3:])
        evaluate(s, rows=calm[3:], return_to_normal_rows=4, **kw)
        alert = s.get(Alert, alert_id)
        assert (alert.normal_since, alert.status, alert.episodes) == (106.0, "ACKNOWLEDGED", 1)
        _store(s, cid, aid, mv, back[:2])
        evaluate(s, rows=back[:2], return_to_normal_rows=4, **kw)
        assert s.get(Alert, alert_id).normal_since == 106.0  # a run shorter than the debounce is not an excursion
        evaluate(s, rows=back[2:], return_to_normal_rows=4, **kw)
        alert = s.get(Alert, alert_id)
        assert (alert.normal_since, alert.active_since, alert.episodes, alert.last_seen_at) == (None, 110.0, 2, 112.0)
        assert alert.status == "ACKNOWLEDGED"  # still the technician's
        kinds = [
            e.kind
            for e in s.execute(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
            ).scalars()
        ]
        assert kinds == ["opened", "acknowledge", "returned_to_normal", "reactivated"]
        assert episodes(s, company_id=cid, alert=alert) == [(100.0, 102.0), (110.0, 112.0)]


def test_a_new_excursion_within_the_silent_period_after_returning_to_normal_stays_normal(ctx):
    sessions, cid, aid, mv = ctx
    with sessions.begin() as s:
        s.execute(update(Asset).where(Asset.id == aid).values(silent_period_min=1.0))
    alert_id = _opened(ctx)  # last seen at 102
    with sessions.begin() as s:
        asset = s.get(Asset, aid)
        kw = dict(company_id=cid, asset=asset, model_version_id=mv, threshold=THRESHOLD, debounce_rows=3)
        evaluate(s, rows=_rows([0.2, 0.2], start=103.0) + _rows([2] * 6, start=150.0), return_to_normal_rows=2, **kw)
        alert = s.get(Alert, alert_id)
        # Back to normal at 104; the run from 150 reaches its debounce at 152, the silent period ends at 162.
        assert (alert.normal_since, alert.episodes) == (104.0, 1)
        evaluate(s, rows=_rows([2] * 8, start=156.0), return_to_normal_rows=2, **kw)
        alert = s.get(Alert, alert_id)
        assert (alert.normal_since, alert.episodes, alert.active_since) == (None, 2, 162.0)
