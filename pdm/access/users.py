"""Users: argon2 password hashes, throttled login, and signed session tokens.

Login is throttled by user name and source with growing delays (``pdm/access/throttle.py``),
never locked outright, so nobody can lock another user out.

Session tokens are ``payload.signature`` with an HMAC-SHA256 over the payload; the key comes
from ``PDM_SECRET_KEY`` or ``<var_dir>/secret.key`` (created on first use, mode 0600). A token
carries the user's ``token_epoch``: changing the password or disabling the user voids it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.access import audit, throttle
from pdm.access.tenancy import Principal, check_role
from pdm.errors import NotFound, PdmError
from pdm.storage.tables import User

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
    """This source must wait before trying this name again (growing delays, never a lock)."""

    def __init__(self, until: float, now: float):
        self.until = until
        wait_s = max(1, round(until - now))
        when = f"{wait_s} s" if wait_s < 120 else f"{round(wait_s / 60)} min"
        super().__init__(f"too many failed logins: try again in {when}")


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
    audit.record(session, actor=actor, action="password_changed", company_id=user.company_id, target=username)
    throttle.clear(
        session, username=username, actor=actor, now=time.time(), company_id=user.company_id, by="password_changed"
    )
    return user


def unlock(session: Session, *, username: str, actor: str) -> int:
    """Forget a name's failed logins (every source); the number forgotten. Audited when there were any."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return throttle.clear(
        session, username=username, actor=actor, now=time.time(), company_id=user.company_id if user else None, by=actor
    )


def authenticate(
    session: Session, *, username: str, password: str, source: str = "", now: float | None = None
) -> Principal:
    """The principal, or LoginRefused. Writes the attempt and its audit row in ``session``.

    ``source`` is where the attempt comes from (web client address, ``cli:user@host``): throttling
    slows that source, not the user everywhere.
    """
    now = time.time() if now is None else now
    username = (username or "").strip().lower()[:64]
    source = (source or "")[:128]
    wait = throttle.wait(session, username=username, source=source, now=now)
    if wait is not None:
        audit.record(
            session,
            actor=username,
            action="login_locked",
            target=username,
            now=now,
            details={"source": source, "scope": wait.scope, "failures": wait.failures},
        )
        raise LoginLocked(wait.until, now)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    company_id = user.company_id if user else None
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None or not user.enabled:
        audit.record(
            session,
            actor=username,
            action="login_failed",
            target=username,
            now=now,
            company_id=company_id,
            details={"source": source},
        )
        throttle.failed(session, username=username, source=source, now=now, company_id=company_id)
        raise LoginRefused("wrong user name or password")
    throttle.succeeded(session, username=username, source=source, now=now, company_id=company_id)
    audit.record(
        session,
        actor=username,
        action="login",
        company_id=company_id,
        target=username,
        now=now,
        details={"source": source},
    )
    return Principal(user.username, user.role, user.company_id)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


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


def _well_formed(data: object) -> bool:
    """A payload ``issue_token`` could have written: a name, an integer epoch, a finite expiry."""
    if not isinstance(data, dict):
        return False
    name, epoch, expiry = data.get("u"), data.get("e"), data.get("x")
    return (
        isinstance(name, str)
        and isinstance(epoch, int)
        and not isinstance(epoch, bool)
        and not isinstance(expiry, bool)
        # An int is finite however large (math.isfinite would overflow converting it to float).
        and (isinstance(expiry, int) or (isinstance(expiry, float) and math.isfinite(expiry)))
    )


def principal_from_token(session: Session, *, token: str, key: bytes, now: float | None = None) -> Principal | None:
    """The principal a token stands for, or None (bad signature, expired, user disabled or changed)."""
    try:
        payload, signature = token.split(".", 1)
        # Bytes, not str: compare_digest raises TypeError on a str with non-ASCII characters.
        if not hmac.compare_digest(signature.encode("utf-8", "replace"), _sign(key, payload).encode()):
            return None
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, AttributeError, UnicodeError):
        return None
    if not _well_formed(data):
        return None
    now = time.time() if now is None else now
    # A token never outlives TOKEN_TTL_S, whatever expiry a holder of the key wrote into it.
    if not now <= data["x"] <= now + TOKEN_TTL_S:
        return None
    user = session.execute(select(User).where(User.username == data["u"])).scalar_one_or_none()
    if user is None or not user.enabled or user.token_epoch != data.get("e"):
        return None
    return Principal(user.username, user.role, user.company_id)
