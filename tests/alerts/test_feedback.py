"""Alert feedback: the lifecycle from open to resolved or false alarm, refused transitions, bad input,
other companies, the failure-mode list, and the audit trail of every closure."""

import pytest
from sqlalchemy import select

from pdm.alerts import feedback
from pdm.alerts.feedback import TransitionRefused
from pdm.errors import InvalidInput, NotFound
from pdm.storage.catalog import company_by_slug
from pdm.storage.tables import Alert
from tests.helpers.alerts import alert_context
from tests.helpers.alerts import opened_alert as _opened


@pytest.fixture
def ctx(sessions, small_plant):
    return alert_context(sessions, small_plant)


def test_full_lifecycle_records_who_and_when_and_the_audit_trail(ctx):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        feedback.acknowledge(s, company_id=cid, alert_id=alert_id, user="ana", now=1000.0)
        feedback.assign(s, company_id=cid, alert_id=alert_id, user="ana", assignee="bob", now=1001.0)
        feedback.start(s, company_id=cid, alert_id=alert_id, user="bob", now=1002.0, comment="on my way")
        feedback.comment(s, company_id=cid, alert_id=alert_id, user="bob", text="bearing is hot", now=1003.0)
        feedback.resolve(
            s,
            company_id=cid,
            alert_id=alert_id,
            user="bob",
            failure_mode="bearing_wear",
            action_taken="replaced bearing",
            downtime_avoided_h=6,
            repair_cost=450.0,
            now=1004.0,
        )
    with sessions() as s:
        a = s.get(Alert, alert_id)
        assert (a.status, a.acknowledged_by, a.acknowledged_at, a.started_by, a.assignee) == (
            "RESOLVED",
            "ana",
            1000.0,
            "bob",
            "bob",
        )
        assert (a.closed_at, a.closed_by, a.failure_mode, a.action_taken, a.downtime_avoided_h, a.repair_cost) == (
            1004.0,
            "bob",
            "bearing_wear",
            "replaced bearing",
            6.0,
            450.0,
        )
        trail = [
            (e.kind, e.actor, e.from_status, e.to_status)
            for e in feedback.alert_events(s, company_id=cid, alert_id=alert_id)
        ]
    assert trail == [
        ("opened", "system", None, "OPEN"),
        ("acknowledge", "ana", "OPEN", "ACKNOWLEDGED"),
        ("assign", "ana", "ACKNOWLEDGED", "ACKNOWLEDGED"),
        ("start", "bob", "ACKNOWLEDGED", "IN_PROGRESS"),
        ("comment", "bob", "IN_PROGRESS", "IN_PROGRESS"),
        ("resolve", "bob", "IN_PROGRESS", "RESOLVED"),
    ]


@pytest.mark.parametrize(
    "status, action",
    [
        ("ACKNOWLEDGED", "acknowledge"),
        ("IN_PROGRESS", "acknowledge"),
        ("IN_PROGRESS", "start"),
        ("RESOLVED", "start"),
        ("RESOLVED", "false_alarm"),
        ("FALSE_ALARM", "resolve"),
        ("OPEN", "reopen"),
    ],
)
def test_refused_transitions_change_nothing(ctx, status, action):
    sessions, cid, aid, mv = ctx
    alert_id = _opened(ctx)
    with sessions.begin() as s:
        s.get(Alert, alert_id).status = status
    calls = {
        "acknowledge": lambda s: feedback.acknowledge(s, company_id=cid, alert_id=alert_id, user="u"),
        "start": lambda s: feedback.start(s, company_id=cid, alert_id=alert_id, user="u"),
        "reopen": lambda s: feedback.reopen(s, company_id=cid, alert_id=alert_id, user="u"),
        "false_alarm": lambda s: feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="u", reason="x"),
        "resolve": lambda s: feedback.resolve(
            s, company_id=cid, alert_id=alert_id, user="u", failure_mode="other", action_taken="x"
        ),
    }
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


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"failure_mode": "rust"}, "failure_mode"),
        ({"action_taken": "  "}, "action_taken"),
        ({"downtime_avoided_h": -1}, "downtime_avoided_h"),
        ({"repair_cost": float("nan")}, "repair_cost"),
        ({"user": ""}, "user"),
    ],
)
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
    actions = [
        lambda s: feedback.acknowledge(s, company_id=other, alert_id=alert_id, user="eve"),
        lambda s: feedback.comment(s, company_id=other, alert_id=alert_id, user="eve", text="hi"),
        lambda s: feedback.assign(s, company_id=other, alert_id=alert_id, user="eve", assignee="eve"),
        lambda s: feedback.alert_events(s, company_id=other, alert_id=alert_id),
        lambda s: feedback.mark_false_alarm(s, company_id=other, alert_id=alert_id, user="eve", reason="x"),
        lambda s: feedback.resolve(
            s, company_id=other, alert_id=alert_id, user="eve", failure_mode="other", action_taken="x"
        ),
    ]
    for act in actions:
        with pytest.raises(NotFound, match=f"alert {alert_id} not found"):
            with sessions.begin() as s:
                act(s)
    with pytest.raises(NotFound):
        with sessions() as s:
            feedback.acknowledge(s, company_id=cid, alert_id=alert_id + 999, user="ana")


def test_failure_modes_are_a_list_the_cluster_extends(sessions):
    with sessions.begin() as s:
        assert {"bearing_wear", "other"} <= feedback.failure_mode_codes(s)
        feedback.add_failure_mode(s, code="belt_slip", label="Belt slip", asset_class="fan")
    with sessions() as s:
        assert "belt_slip" in feedback.failure_mode_codes(s, asset_class="fan")
        assert "belt_slip" not in feedback.failure_mode_codes(s, asset_class="centrifugal_pump")
        with pytest.raises(InvalidInput, match="code = 'belt_slip'"):
            feedback.add_failure_mode(s, code="belt_slip", label="again")


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
