"""Command-line sessions: what ``pdmctl login`` opens and every later command checks.

The web app's tokens are signed with the host's secret key, which a technician's own account
on the host cannot read; a command-line session is therefore a random token whose SHA-256 is
kept in ``cli_sessions``. It expires like the web session (12 h), and ends at logout, at a
password change or when the user is disabled (``token_epoch``), checked on every command.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pdm.access import audit, users
from pdm.access.tenancy import Principal
from pdm.storage.tables import CliSession, User

TTL_S = users.TOKEN_TTL_S


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def open_session(
    session: Session, *, principal: Principal, source: str, now: float | None = None, ttl_s: float = TTL_S
) -> tuple[str, float]:
    """A new token for an authenticated principal, and when it expires."""
    now = time.time() if now is None else now
    user = users.get_user(session, username=principal.username)
    token = secrets.token_urlsafe(32)
    # Expired sessions of this user go now: the table holds live sessions only.
    session.execute(delete(CliSession).where(CliSession.user_id == user.id, CliSession.expires_at < now))
    session.add(
        CliSession(
            token_sha256=_digest(token),
            user_id=user.id,
            token_epoch=user.token_epoch,
            created_at=now,
            expires_at=now + ttl_s,
            source=source[:128],
        )
    )
    return token, now + ttl_s


def principal_for(session: Session, *, token: str, now: float | None = None) -> Principal | None:
    """Who the token stands for, or None (unknown, expired, user disabled or password changed)."""
    now = time.time() if now is None else now
    row = session.execute(
        select(CliSession, User)
        .join(User, User.id == CliSession.user_id)
        .where(CliSession.token_sha256 == _digest(token))
    ).first()
    if row is None:
        return None
    cli, user = row
    if cli.expires_at < now or not user.enabled or user.token_epoch != cli.token_epoch:
        return None
    return Principal(user.username, user.role, user.company_id)


def close_session(session: Session, *, token: str) -> Principal | None:
    """End the session (audited as a logout); who it was, or None if it was already over."""
    principal = principal_for(session, token=token)
    session.execute(delete(CliSession).where(CliSession.token_sha256 == _digest(token)))
    if principal is not None:
        audit.record(
            session,
            actor=principal.username,
            action="logout",
            company_id=principal.company_id,
            target=principal.username,
            details={"via": "cli"},
        )
    return principal
