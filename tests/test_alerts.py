"""Alerts: debounce, one open alert per asset (enforced by the database), updates, severity."""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pdm.alerts import ScoredRow, evaluate, list_alerts, open_counts_by_company, severity
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.tables import Alert, Asset, ModelVersion

THRESHOLD = 1.0


@pytest.fixture
def ctx(sessions, small_plant):
    with sessions.begin() as s:
        apply_plants(s, small_plant)
        company = company_by_slug(s, "acme")
        asset = list_assets(s, company_id=company.id)[0]
        mv = ModelVersion(company_id=company.id, asset_id=asset.id, version=1, detector="pca", created_at=0,
                          trained_from=0, trained_to=0, threshold=THRESHOLD, feature_names=["a"], metrics={},
                          active=True, envelope=b"-")
        s.add(mv)
        s.flush()
        return sessions, company.id, asset.id, mv.id


def _rows(scores, start=100.0):
    return [ScoredRow(ts=start + i, score=s, sensors=[{"tag": "vibration", "contribution": 0.8, "value": s}])
            for i, s in enumerate(scores)]


def _evaluate(sessions, cid, aid, mv, rows, debounce=3):
    with sessions.begin() as s:
        asset = list_assets(s, company_id=cid)[[a.id for a in list_assets(s, company_id=cid)].index(aid)]
        return evaluate(s, company_id=cid, asset=asset, model_version_id=mv, threshold=THRESHOLD, rows=rows,
                        debounce_rows=debounce)


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
        insert_ignore(s, Score.__table__, [{"asset_id": aid, "ts": r.ts, "company_id": cid, "model_version_id": mv,
                                            "score": r.score, "threshold": THRESHOLD} for r in first])
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
            s.add(Alert(company_id=cid, asset_id=aid, status="ACKNOWLEDGED", severity="low", opened_at=1,
                        last_seen_at=1, peak_score=2, threshold=1, sensors=[]))
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


@pytest.mark.parametrize("ratio, criticality, expected", [
    (1.2, 3, "low"), (2.0, 3, "medium"), (2.0, 5, "high"), (2.0, 1, "low"), (8.0, 3, "critical"), (4.0, 3, "high"),
])
def test_severity_grows_with_excess_and_criticality(ratio, criticality, expected):
    assert severity(ratio, criticality) == expected


# --- lifecycle, feedback, silent period, hysteresis, diagnostics -------------------------------------------

from pdm import feedback  # noqa: E402
from pdm.errors import NotFound  # noqa: E402
from pdm.feedback import InvalidInput, TransitionRefused  # noqa: E402


def _opened(ctx, start=100.0):
    sessions, cid, aid, mv = ctx
    return _evaluate(sessions, cid, aid, mv, _rows([2, 2, 2], start=start)).id


def test_full_lifecycle_records_who_and_when_and_the_audit_trail(ctx):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        feedback.acknowledge(s, company_id=cid, alert_id=alert_id, user="ana", now=1000.0)
        feedback.assign(s, company_id=cid, alert_id=alert_id, user="ana", assignee="bob", now=1001.0)
        feedback.start(s, company_id=cid, alert_id=alert_id, user="bob", now=1002.0, comment="on my way")
        feedback.comment(s, company_id=cid, alert_id=alert_id, user="bob", text="bearing is hot", now=1003.0)
        feedback.resolve(s, company_id=cid, alert_id=alert_id, user="bob", failure_mode="bearing_wear",
                         action_taken="replaced bearing", downtime_avoided_h=6, repair_cost=450.0, now=1004.0)
    with sessions() as s:
        a = s.get(Alert, alert_id)
        assert (a.status, a.acknowledged_by, a.acknowledged_at, a.started_by, a.assignee) == \
            ("RESOLVED", "ana", 1000.0, "bob", "bob")
        assert (a.closed_at, a.closed_by, a.failure_mode, a.action_taken, a.downtime_avoided_h, a.repair_cost) == \
            (1004.0, "bob", "bearing_wear", "replaced bearing", 6.0, 450.0)
        trail = [(e.kind, e.actor, e.from_status, e.to_status)
                 for e in feedback.alert_events(s, company_id=cid, alert_id=alert_id)]
    assert trail == [("opened", "system", None, "OPEN"), ("acknowledge", "ana", "OPEN", "ACKNOWLEDGED"),
                     ("assign", "ana", "ACKNOWLEDGED", "ACKNOWLEDGED"), ("start", "bob", "ACKNOWLEDGED", "IN_PROGRESS"),
                     ("comment", "bob", "IN_PROGRESS", "IN_PROGRESS"), ("resolve", "bob", "IN_PROGRESS", "RESOLVED")]


@pytest.mark.parametrize("status, action", [
    ("ACKNOWLEDGED", "acknowledge"), ("IN_PROGRESS", "acknowledge"), ("IN_PROGRESS", "start"),
    ("RESOLVED", "start"), ("RESOLVED", "false_alarm"), ("FALSE_ALARM", "resolve"), ("OPEN", "reopen"),
])
def test_refused_transitions_change_nothing(ctx, status, action):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        s.get(Alert, alert_id).status = status
    calls = {"acknowledge": lambda s: feedback.acknowledge(s, company_id=cid, alert_id=alert_id, user="u"),
             "start": lambda s: feedback.start(s, company_id=cid, alert_id=alert_id, user="u"),
             "reopen": lambda s: feedback.reopen(s, company_id=cid, alert_id=alert_id, user="u"),
             "false_alarm": lambda s: feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="u",
                                                                 reason="x"),
             "resolve": lambda s: feedback.resolve(s, company_id=cid, alert_id=alert_id, user="u",
                                                   failure_mode="other", action_taken="x")}
    with pytest.raises(TransitionRefused, match=f"alert {alert_id} is {status}: cannot"):
        with sessions.begin() as s:
            calls[action](s)
    with sessions() as s:
        assert s.get(Alert, alert_id).status == status
        assert [e.kind for e in feedback.alert_events(s, company_id=cid, alert_id=alert_id)] == ["opened"]


def test_false_alarm_then_reopen_clears_the_closing(ctx):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="ana", reason="sensor was unplugged")
    with sessions.begin() as s:
        a = s.get(Alert, alert_id)
        assert a.status == "FALSE_ALARM" and a.false_alarm_reason == "sensor was unplugged"
        feedback.reopen(s, company_id=cid, alert_id=alert_id, user="ana")
    with sessions() as s:
        a = s.get(Alert, alert_id)
        assert (a.status, a.closed_at, a.false_alarm_reason) == ("OPEN", None, None)
        kinds = [e.kind for e in feedback.alert_events(s, company_id=cid, alert_id=alert_id)]
    assert kinds == ["opened", "false_alarm", "reopen"]


def test_reopen_refused_while_the_asset_has_another_open_alert(ctx):
    sessions, cid, aid, mv = ctx
    first = _opened(ctx)
    with sessions.begin() as s:
        feedback.mark_false_alarm(s, company_id=cid, alert_id=first, user="ana", reason="test", now=0.0)
    second = _opened(ctx, start=5000.0)
    assert second != first
    with pytest.raises(TransitionRefused, match="already has open alert"):
        with sessions.begin() as s:
            feedback.reopen(s, company_id=cid, alert_id=first, user="ana")


@pytest.mark.parametrize("kwargs, field", [
    ({"failure_mode": "rust"}, "failure_mode"), ({"action_taken": "  "}, "action_taken"),
    ({"downtime_avoided_h": -1}, "downtime_avoided_h"), ({"repair_cost": float("nan")}, "repair_cost"),
    ({"user": ""}, "user"),
])
def test_bad_feedback_names_the_field_and_changes_nothing(ctx, kwargs, field):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    args = {"user": "ana", "failure_mode": "bearing_wear", "action_taken": "fixed", **kwargs}
    with pytest.raises(InvalidInput) as err:
        with sessions.begin() as s:
            feedback.resolve(s, company_id=cid, alert_id=alert_id, **args)
    assert str(err.value).startswith(f"{field} = ")
    with sessions() as s:
        assert s.get(Alert, alert_id).status == "OPEN"


def test_another_company_can_never_act_on_an_alert(ctx):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions() as s:
        other = company_by_slug(s, "beta").id
    actions = [lambda s: feedback.acknowledge(s, company_id=other, alert_id=alert_id, user="eve"),
               lambda s: feedback.comment(s, company_id=other, alert_id=alert_id, user="eve", text="hi"),
               lambda s: feedback.assign(s, company_id=other, alert_id=alert_id, user="eve", assignee="eve"),
               lambda s: feedback.alert_events(s, company_id=other, alert_id=alert_id),
               lambda s: feedback.mark_false_alarm(s, company_id=other, alert_id=alert_id, user="eve", reason="x"),
               lambda s: feedback.resolve(s, company_id=other, alert_id=alert_id, user="eve",
                                          failure_mode="other", action_taken="x")]
    for act in actions:
        with pytest.raises(NotFound, match=f"alert {alert_id} not found"):
            with sessions.begin() as s:
                act(s)
    with pytest.raises(NotFound):
        with sessions() as s:
            feedback.acknowledge(s, company_id=cid, alert_id=alert_id + 999, user="ana")


def test_hysteresis_keeps_a_run_going_just_under_the_threshold(ctx):
    sessions, cid, aid, mv = ctx
    # 0.95 is under the threshold (1.0) but above 0.9 x threshold: the run goes on.
    alert = _evaluate(sessions, cid, aid, mv, _rows([1.5, 0.95, 1.2]))
    assert alert is not None and alert.opened_at == 100.0
    # Without hysteresis the same scores open nothing.
    with sessions.begin() as s:
        s.execute(Alert.__table__.delete())
        assert evaluate(s, company_id=cid, asset=s.get(Asset, aid), model_version_id=mv, threshold=THRESHOLD,
                        rows=_rows([1.5, 0.95, 1.2], start=2000.0), debounce_rows=3, clear_ratio=1.0) is None


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


def test_normal_ranges_come_from_the_detector():
    import numpy as np

    from pdm.alerts import add_normal_ranges

    class Fitted:
        feature_low_, feature_high_, feature_median_ = np.array([1.0, 10.0]), np.array([2.0, 20.0]), np.array([1.5, 15])

    sensors = [{"tag": "b", "contribution": 0.9, "value": 30.0}, {"tag": "zz", "contribution": 0.1, "value": 1}]
    out = add_normal_ranges(sensors, Fitted(), ["a", "b"])
    assert out[0] == {"tag": "b", "contribution": 0.9, "value": 30.0, "low": 10.0, "high": 20.0, "median": 15.0}
    assert out[1] == sensors[1] and add_normal_ranges(sensors, object(), ["a", "b"]) == sensors


def test_failure_modes_are_a_list_the_cluster_extends(sessions):
    with sessions.begin() as s:
        assert {"bearing_wear", "other"} <= feedback.failure_mode_codes(s)
        feedback.add_failure_mode(s, code="belt_slip", label="Belt slip", asset_class="fan")
    with sessions() as s:
        assert "belt_slip" in feedback.failure_mode_codes(s, asset_class="fan")
        assert "belt_slip" not in feedback.failure_mode_codes(s, asset_class="centrifugal_pump")
        with pytest.raises(InvalidInput, match="code = 'belt_slip'"):
            feedback.add_failure_mode(s, code="belt_slip", label="again")


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


def test_every_closure_lands_in_the_audit_log_whatever_path_closed_it(ctx):
    """Pages, CLI and the demo close alerts through feedback: the audit row comes from there."""
    from pdm.storage.tables import AuditEvent

    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="ana", reason="test run")
    with sessions() as s:
        rows = s.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.company_id, AuditEvent.target)).all()
    assert [tuple(r) for r in rows] == [("alert_false_alarm", "ana", cid, f"alert {alert_id}")]
