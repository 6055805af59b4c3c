"""What people do with an alert: its lifecycle, comments, assignment and closing feedback.

OPEN → ACKNOWLEDGED → IN_PROGRESS → RESOLVED | FALSE_ALARM, and back to OPEN by reopening.
Each step records who and when on the alert and appends an ``AlertEvent``: the audit trail
is append-only. A step not allowed from the current status raises ``TransitionRefused``;
another company's alert id raises ``NotFound``, exactly like an id that does not exist.
Resolving names a failure mode from the ``failure_modes`` table, which the cluster extends.
"""

from __future__ import annotations

import re
import time

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pdm.access import audit
from pdm.alerts.iso14224 import MECHANISMS
from pdm.alerts.rules import get_alert, open_alert, record_closing_data_time
from pdm.errors import InvalidInput, PdmError
from pdm.storage.tables import CLOSED_STATUSES, OPEN_STATUSES, Alert, AlertEvent, Asset, FailureMode

# action: (statuses it is allowed from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("OPEN",), "ACKNOWLEDGED"),
    "start": (("OPEN", "ACKNOWLEDGED"), "IN_PROGRESS"),
    "resolve": (OPEN_STATUSES, "RESOLVED"),
    "false_alarm": (OPEN_STATUSES, "FALSE_ALARM"),
    "reopen": (CLOSED_STATUSES, "OPEN"),
}
FEEDBACK_FIELDS = ("failure_mode", "action_taken", "downtime_avoided_h", "repair_cost", "false_alarm_reason")


class TransitionRefused(PdmError):
    """The alert's current status does not allow this step."""


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def _text(field: str, value: str | None, *, limit: int, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(field, value, "required")
        return None
    if len(value) > limit:
        raise InvalidInput(field, value[:20] + "…", f"longer than {limit} characters")
    return value


def _amount(field: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value != value or value < 0:
        raise InvalidInput(field, value, "must be a number ≥ 0")
    return float(value)


def _step(
    session: Session,
    *,
    company_id: int,
    alert_id: int,
    user: str,
    action: str,
    now: float | None,
    comment: str | None = None,
    details: dict | None = None,
) -> tuple[Alert, str, float]:
    user = _text("user", user, limit=100)
    alert = get_alert(session, company_id=company_id, alert_id=alert_id, for_update=True)
    sources, target = TRANSITIONS[action]
    if alert.status not in sources:
        raise TransitionRefused(
            f"alert {alert_id} is {alert.status}: cannot {action.replace('_', ' ')} (only from {', '.join(sources)})"
        )
    now = time.time() if now is None else now
    session.add(
        AlertEvent(
            company_id=company_id,
            alert_id=alert.id,
            at=now,
            actor=user,
            kind=action,
            from_status=alert.status,
            to_status=target,
            details=details or {},
            comment=_text("comment", comment, limit=4000, required=False),
        )
    )
    alert.status = target
    return alert, user, now


def acknowledge(
    session: Session, *, company_id: int, alert_id: int, user: str, now: float | None = None, comment: str | None = None
) -> Alert:
    alert, user, now = _step(
        session, company_id=company_id, alert_id=alert_id, user=user, action="acknowledge", now=now, comment=comment
    )
    alert.acknowledged_at, alert.acknowledged_by = now, user
    return alert


def start(
    session: Session, *, company_id: int, alert_id: int, user: str, now: float | None = None, comment: str | None = None
) -> Alert:
    """Take the alert in hand; taking it straight from OPEN acknowledges it too."""
    alert, user, now = _step(
        session, company_id=company_id, alert_id=alert_id, user=user, action="start", now=now, comment=comment
    )
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, user
    alert.started_at, alert.started_by = now, user
    alert.assignee = alert.assignee or user
    return alert


def resolve(
    session: Session,
    *,
    company_id: int,
    alert_id: int,
    user: str,
    failure_mode: str,
    action_taken: str,
    downtime_avoided_h: float | None = None,
    repair_cost: float | None = None,
    now: float | None = None,
    comment: str | None = None,
) -> Alert:
    """Close as a real problem, with what it was, what was done and what it saved."""
    feedback = {
        "failure_mode": failure_mode,
        "action_taken": _text("action_taken", action_taken, limit=4000),
        "downtime_avoided_h": _amount("downtime_avoided_h", downtime_avoided_h),
        "repair_cost": _amount("repair_cost", repair_cost),
    }
    asset = session.get(Asset, get_alert(session, company_id=company_id, alert_id=alert_id).asset_id)
    if failure_mode not in failure_mode_codes(session, asset_class=asset.asset_class):
        raise InvalidInput("failure_mode", failure_mode, "unknown failure mode (see the failure_modes list)")
    alert, user, now = _step(
        session,
        company_id=company_id,
        alert_id=alert_id,
        user=user,
        action="resolve",
        now=now,
        comment=comment,
        details=feedback,
    )
    _close(alert, user, now, feedback)
    record_closing_data_time(session, alert)
    _audit_closure(session, alert, user, now, "alert_resolved")
    return alert


def mark_false_alarm(
    session: Session, *, company_id: int, alert_id: int, user: str, reason: str, now: float | None = None
) -> Alert:
    reason = _text("reason", reason, limit=4000)
    alert, user, now = _step(
        session,
        company_id=company_id,
        alert_id=alert_id,
        user=user,
        action="false_alarm",
        now=now,
        details={"false_alarm_reason": reason},
    )
    _close(alert, user, now, {"false_alarm_reason": reason})
    record_closing_data_time(session, alert)
    _audit_closure(session, alert, user, now, "alert_false_alarm")
    return alert


def _audit_closure(session: Session, alert: Alert, user: str, now: float, action: str) -> None:
    # Closures are security-relevant (they drive the savings figures): every path that closes an
    # alert — page, CLI, demo — comes through resolve or mark_false_alarm, so into the audit log.
    audit.record(session, actor=user, action=action, company_id=alert.company_id, target=f"alert {alert.id}", now=now)


def _close(alert: Alert, user: str | None, now: float | None, feedback: dict) -> None:
    alert.closed_at, alert.closed_by = now, user
    for field in FEEDBACK_FIELDS:
        setattr(alert, field, feedback.get(field))


def reopen(
    session: Session, *, company_id: int, alert_id: int, user: str, now: float | None = None, comment: str | None = None
) -> Alert:
    """Back to OPEN; the earlier closing and its feedback stay in the audit trail."""
    alert = get_alert(session, company_id=company_id, alert_id=alert_id, for_update=True)
    other = open_alert(session, company_id=company_id, asset_id=alert.asset_id)
    # The partial unique index would refuse it too, but only at commit and with a database error.
    if other is not None and other.id != alert.id:
        raise TransitionRefused(f"alert {alert_id} cannot reopen: its asset already has open alert {other.id}")
    alert, user, now = _step(
        session, company_id=company_id, alert_id=alert_id, user=user, action="reopen", now=now, comment=comment
    )
    _close(alert, None, None, {})
    alert.closed_data_at = None
    alert.acknowledged_at = alert.acknowledged_by = alert.started_at = alert.started_by = None
    return alert


def comment(
    session: Session, *, company_id: int, alert_id: int, user: str, text: str, now: float | None = None
) -> AlertEvent:
    return _note(
        session,
        company_id=company_id,
        alert_id=alert_id,
        user=user,
        kind="comment",
        now=now,
        comment=_text("text", text, limit=4000),
    )


def assign(
    session: Session, *, company_id: int, alert_id: int, user: str, assignee: str | None, now: float | None = None
) -> Alert:
    """Give the alert to someone (None or blank: to nobody)."""
    assignee = _text("assignee", assignee, limit=100, required=False)
    event = _note(
        session,
        company_id=company_id,
        alert_id=alert_id,
        user=user,
        kind="assign",
        now=now,
        details={"assignee": assignee},
    )
    alert = session.get(Alert, event.alert_id)
    alert.assignee = assignee
    return alert


def _note(
    session: Session,
    *,
    company_id: int,
    alert_id: int,
    user: str,
    kind: str,
    now: float | None,
    comment: str | None = None,
    details: dict | None = None,
) -> AlertEvent:
    user = _text("user", user, limit=100)
    alert = get_alert(session, company_id=company_id, alert_id=alert_id)
    event = AlertEvent(
        company_id=company_id,
        alert_id=alert.id,
        at=time.time() if now is None else now,
        actor=user,
        kind=kind,
        from_status=alert.status,
        to_status=alert.status,
        comment=comment,
        details=details or {},
    )
    session.add(event)
    return event


def alert_events(session: Session, *, company_id: int, alert_id: int) -> list[AlertEvent]:
    """The alert's audit trail, oldest first."""
    get_alert(session, company_id=company_id, alert_id=alert_id)
    stmt = (
        select(AlertEvent)
        .where(AlertEvent.company_id == company_id, AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.id)
    )  # append-only: insertion order is the true order
    return list(session.execute(stmt).scalars())


def list_failure_modes(session: Session, *, asset_class: str | None = None) -> list[FailureMode]:
    """Cluster-wide failure modes, plus those for ``asset_class`` if given."""
    stmt = select(FailureMode).order_by(FailureMode.label)
    if asset_class is not None:
        stmt = stmt.where(or_(FailureMode.asset_class.is_(None), FailureMode.asset_class == asset_class))
    return list(session.execute(stmt).scalars())


def failure_mode_codes(session: Session, *, asset_class: str | None = None) -> set[str]:
    return {m.code for m in list_failure_modes(session, asset_class=asset_class)}


def add_failure_mode(
    session: Session, *, code: str, label: str, asset_class: str | None = None, iso14224: str | None = None
) -> FailureMode:
    """The cluster operator extends the list (cluster-wide data: no company), filed under an ISO 14224
    failure mechanism when given."""
    code = _text("code", code, limit=64)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", code):
        raise InvalidInput("code", code, "use lowercase letters, digits and _, starting with a letter (e.g. belt_slip)")
    if code in failure_mode_codes(session):
        raise InvalidInput("code", code, "failure mode already exists")
    if iso14224 is not None and iso14224 not in MECHANISMS:
        raise InvalidInput("iso14224", iso14224, "not an ISO 14224 failure mechanism (1.0 to 6.4, e.g. 2.4 for wear)")
    mode = FailureMode(code=code, label=_text("label", label, limit=200), asset_class=asset_class, iso14224=iso14224)
    session.add(mode)
    session.flush()
    return mode
