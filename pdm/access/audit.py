"""The security audit log: logins, failed logins, user changes, endpoint changes, alert closures.

Rows are written in the caller's transaction, so an action and its audit row commit or roll
back together. Only admins read the log. Details never hold a secret (no passwords, no tokens).
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.access.tenancy import ADMIN, Principal, require_role
from pdm.storage.tables import AuditEvent

ACTIONS = (
    "login",
    "login_failed",
    "login_locked",
    "login_throttled",
    "login_unlocked",
    "local_admin",
    "logout",
    "user_added",
    "user_disabled",
    "user_enabled",
    "password_changed",
    "endpoint_added",
    "endpoint_enabled",
    "endpoint_disabled",
    "tag_mapped",
    "alert_resolved",
    "alert_false_alarm",
    "endpoint_changed",
    "endpoint_password_set",
    "secrets_rotated",
    "share_notes_changed",
)
# Keys that must never reach the log even if a caller passes them by mistake.
_SECRET_KEYS = {"password", "token", "secret", "password_hash", "password_encrypted"}


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    company_id: int | None = None,
    target: str = "",
    details: dict | None = None,
    now: float | None = None,
) -> AuditEvent:
    if action not in ACTIONS:
        raise ValueError(f"action = {action!r}: not an audit action")
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _SECRET_KEYS}
    event = AuditEvent(
        at=time.time() if now is None else now,
        actor=actor[:64],
        action=action,
        company_id=company_id,
        target=target[:200],
        details=clean,
    )
    session.add(event)
    return event


def list_events(
    session: Session,
    *,
    principal: Principal,
    action: str | None = None,
    actor: str | None = None,
    company_id: int | None = None,
    since: float | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
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


def endpoint_snapshot(session: Session) -> dict[tuple[int, str], tuple[dict, bool]]:
    """Every endpoint's settings and enabled flag, keyed (company id, name): taken before a change.

    Cluster-wide by design: ``pdmctl config apply`` loads every company of a plant file.
    """
    from pdm.storage.tables import Endpoint

    return {
        (e.company_id, e.name): (dict(e.settings or {}), bool(e.enabled))
        for e in session.execute(select(Endpoint)).scalars()
    }


def record_endpoint_changes(session: Session, *, actor: str, before: dict, after: dict) -> list[AuditEvent]:
    """One row per endpoint added, enabled, disabled or changed between two snapshots.

    A change lists the names of the fields that changed, never their values (a token or a path
    is nobody's business in the log).
    """
    events = []
    for (company_id, name), (settings, enabled) in sorted(after.items()):
        old = before.get((company_id, name))
        if old is None:
            events.append(
                record(
                    session,
                    actor=actor,
                    action="endpoint_added",
                    company_id=company_id,
                    target=name,
                    details={"endpoint_url": settings.get("endpoint_url")},
                )
            )
            continue
        old_settings, old_enabled = old
        if old_enabled != enabled:
            events.append(
                record(
                    session,
                    actor=actor,
                    company_id=company_id,
                    target=name,
                    action="endpoint_enabled" if enabled else "endpoint_disabled",
                )
            )
        fields = sorted(
            k
            for k in settings.keys() | old_settings.keys()
            if k != "enabled" and settings.get(k) != old_settings.get(k)
        )
        if fields:
            events.append(
                record(
                    session,
                    actor=actor,
                    action="endpoint_changed",
                    company_id=company_id,
                    target=name,
                    details={"fields": fields},
                )
            )
    return events
