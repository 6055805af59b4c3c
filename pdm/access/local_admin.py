"""The host's operator acting without a password: ``pdmctl --local-admin``.

Whoever runs the service holds its secret key (``PDM_SECRET_KEY`` or ``var/secret.key``, mode
0600), the same key that signs the web sessions. The first local-admin command on a database
records the key's fingerprint (an HMAC, never the key); every later one must hold that key, so
a key made in another folder, or an account that cannot read the service's ``var/``, is refused.
Every such command is audited as ``local_admin`` with the operator's OS account and host, so the
audit trail tells the operator's actions from a logged-in admin's.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import socket
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.access import audit, users
from pdm.access.tenancy import ADMIN, Principal
from pdm.errors import PdmError
from pdm.storage.tables import HostKey


class LocalAdminRefused(PdmError):
    """The process does not hold the host's secret key."""


def os_account() -> str:
    """``user@host`` of this process, for the audit trail and the throttle's source."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = "uid-unknown"
    return f"{name}@{socket.gethostname()}"


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, b"pdm host key fingerprint", hashlib.sha256).hexdigest()


def host_key(var_dir: Path) -> bytes:
    try:
        return users.secret_key(var_dir)
    except OSError as exc:
        raise LocalAdminRefused(
            f"--local-admin: cannot read the host's secret key under {var_dir} ({exc.strerror or exc}): "
            "run it as the service's own account, where the web app runs"
        ) from exc


def principal(session: Session, *, var_dir: Path, command: str, now: float | None = None) -> Principal:
    """The local admin, after checking the key against the database; audited in ``session``."""
    now = time.time() if now is None else now
    fingerprint = _fingerprint(host_key(var_dir))
    account = os_account()
    known = session.execute(select(HostKey.fingerprint)).scalars().all()
    if known and fingerprint not in known:
        raise LocalAdminRefused(
            f"--local-admin: the secret key under {var_dir} (or PDM_SECRET_KEY) is not the key this database "
            "knows: run it where the service runs, with the service's var/ or PDM_SECRET_KEY"
        )
    if not known:
        session.add(HostKey(fingerprint=fingerprint, created_at=now, created_by=account[:64]))
    actor = f"local:{account}"[:64]
    audit.record(
        session,
        actor=actor,
        action="local_admin",
        target=command[:200],
        now=now,
        details={"first_use": True} if not known else None,
    )
    return Principal(actor, ADMIN, None)
