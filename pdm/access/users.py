"""Users: argon2 password hashes, login with throttling, and signed session tokens.

Throttling is per user name (existing or not, so a probe cannot tell them apart): after
``MAX_FAILURES`` failures within ``WINDOW_S`` the name is locked until ``LOCK_S`` after the
last of those failures; a locked name is refused without even checking the password.

Session tokens are ``payload.signature`` with an HMAC-SHA256 over the payload; the key comes
from ``PDM_SECRET_KEY`` or ``<var_dir>/secret.key`` (created on first use, mode 0600). A token
carries the user's ``token_epoch``: changing the password or disabling the user voids it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pdm.access import audit
from pdm.access.tenancy import Principal, check_role
from pdm.errors import NotFound, PdmError
from pdm.storage.tables import LoginAttempt, User

MAX_FAILURES = 5
WINDOW_S = 15 * 60
LOCK_S = 15 * 60
TOKEN_TTL_S = 12 * 3600
MIN_PASSWORD = 8
SECRET_ENV = "PDM_SECRET_KEY"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost one argon2 verify.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class LoginRefused(PdmError):
    """Wrong name or password, disabled user, or a locked name: the message never says which."""


class LoginLocked(LoginRefused):
    def __init__(self, until: float):
        self.until = until
        super().__init__(f"too many failed logins: try again after {time.strftime('%H:%M', time.localtime(until))}")


def _check_name(username: str) -> str:
    if not _NAME.match(username or ""):
        raise PdmError(f"username = {username!r}: 2-64 characters, lower-case letters, digits, . _ @ -")
    return username


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise PdmError(f"password: at least {MIN_PASSWORD} characters")
    return password


def get_user(session: Session, *, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def add_user(
    session: Session, *, username: str, password: str, role: str, company_id: int | None, actor: str = "system"
) -> User:
    check_role(role, company_id)
    _check_name(username)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise PdmError(f"username = {username!r}: already exists")
    user = User(
        username=username,
        role=role,
        company_id=company_id,
        password_hash=_hasher.hash(_check_password(password)),
        enabled=True,
        created_at=time.time(),
        token_epoch=0,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user_added", company_id=company_id, target=username, details={"role": role}
    )
    return user


def list_users(session: Session, *, company_id: int | None = None) -> list[User]:
    stmt = select(User).order_by(User.username)
    if company_id is not None:
        stmt = stmt.where(User.company_id == company_id)
    return list(session.execute(stmt).scalars())


def set_enabled(session: Session, *, username: str, enabled: bool, actor: str = "system") -> User:
    user = get_user(session, username=username)
    user.enabled = enabled
    user.token_epoch += 1  # a disabled user's open sessions end now, not at token expiry
    audit.record(
        session,
        actor=actor,
        action="user_enabled" if enabled else "user_disabled",
        company_id=user.company_id,
        target=username,
    )
    return user


def set_password(session: Session, *, username: str, password: str, actor: str = "system") -> User:
    user = get_user(session, username=username)
    user.password_hash = _hasher.hash(_check_password(password))
    user.token_epoch += 1
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    audit.record(session, actor=actor, action="password_changed", company_id=user.company_id, target=username)
    return user


def locked_until(session: Session, *, username: str, now: float | None = None) -> float | None:
    now = time.time() if now is None else now
    recent = list(
        session.execute(
            select(LoginAttempt.at)
            .where(LoginAttempt.username == username, LoginAttempt.at > now - WINDOW_S)
            .order_by(LoginAttempt.at.desc())
            .limit(MAX_FAILURES)
        ).scalars()
    )
    if len(recent) < MAX_FAILURES:
        return None
    until = recent[0] + LOCK_S
    return until if until > now else None


def authenticate(session: Session, *, username: str, password: str, now: float | None = None) -> Principal:
    """The principal, or LoginRefused. Writes the attempt and its audit row in ``session``."""
    now = time.time() if now is None else now
    username = (username or "").strip().lower()[:64]
    until = locked_until(session, username=username, now=now)
    if until is not None:
        audit.record(session, actor=username, action="login_locked", target=username, now=now)
        raise LoginLocked(until)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None or not user.enabled:
        session.add(LoginAttempt(username=username, at=now))
        audit.record(
            session,
            actor=username,
            action="login_failed",
            target=username,
            now=now,
            company_id=user.company_id if user else None,
        )
        raise LoginRefused("wrong user name or password")
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    audit.record(session, actor=username, action="login", company_id=user.company_id, target=username, now=now)
    return Principal(user.username, user.role, user.company_id)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def failures(session: Session, *, username: str) -> int:
    return session.execute(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.username == username)
    ).scalar_one()


# --- session tokens -------------------------------------------------------------------------


def secret_key(var_dir: Path) -> bytes:
    """From the environment, else a key file under var/ made on first use (never in the database)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = Path(var_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def issue_token(
    session: Session, *, username: str, key: bytes, now: float | None = None, ttl_s: float = TOKEN_TTL_S
) -> str:
    user = get_user(session, username=username)
    now = time.time() if now is None else now
    payload = _b64(json.dumps({"u": user.username, "e": user.token_epoch, "x": int(now + ttl_s)}).encode())
    return f"{payload}.{_sign(key, payload)}"


def principal_from_token(session: Session, *, token: str, key: bytes, now: float | None = None) -> Principal | None:
    """The principal a token stands for, or None (bad signature, expired, user disabled or changed)."""
    try:
        payload, signature = token.split(".", 1)
        if not hmac.compare_digest(signature, _sign(key, payload)):
            return None
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, AttributeError):
        return None
    if data.get("x", 0) < (time.time() if now is None else now):
        return None
    user = session.execute(select(User).where(User.username == data.get("u"))).scalar_one_or_none()
    if user is None or not user.enabled or user.token_epoch != data.get("e"):
        return None
    return Principal(user.username, user.role, user.company_id)
