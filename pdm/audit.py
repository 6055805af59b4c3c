"""The security audit log: logins, failed logins, user changes, endpoint changes, alert closures.

Rows are written in the caller's transaction, so an action and its audit row commit or roll
back together. Only admins read the log. Details never hold a secret (no passwords, no tokens).
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.storage.tables import AuditEvent
from pdm.tenancy import ADMIN, Principal, require_role

ACTIONS = ("login", "login_failed", "login_locked", "logout", "user_added", "user_disabled", "user_enabled",
           "password_changed", "endpoint_added", "endpoint_enabled", "endpoint_disabled", "tag_mapped",
           "alert_resolved", "alert_false_alarm")
# Keys that must never reach the log even if a caller passes them by mistake.
_SECRET_KEYS = {"password", "token", "secret", "password_hash"}


def record(session: Session, *, actor: str, action: str, company_id: int | None = None, target: str = "",
           details: dict | None = None, now: float | None = None) -> AuditEvent:
    if action not in ACTIONS:
        raise ValueError(f"action = {action!r}: not an audit action")
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _SECRET_KEYS}
    event = AuditEvent(at=time.time() if now is None else now, actor=actor[:64], action=action,
                       company_id=company_id, target=target[:200], details=clean)
    session.add(event)
    return event


def list_events(session: Session, *, principal: Principal, action: str | None = None, actor: str | None = None,
                company_id: int | None = None, since: float | None = None, limit: int = 200) -> list[AuditEvent]:
    """Newest first; admins only (others get Forbidden, not an empty list that looks like 'nothing happened')."""
    require_role(principal, ADMIN)
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if company_id is not None:
        stmt = stmt.where(AuditEvent.company_id == company_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.execute(stmt).scalars())
