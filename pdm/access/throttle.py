"""Login throttling by user name and source, with growing delays instead of a lock anyone can trigger.

A hard lock per user name lets anyone lock out anyone (admins included) by typing a name and
wrong passwords. Here failures are counted per (name, source), the source being the web
client's address or the command line's ``cli:<os user>@<host>``: after ``FREE_FAILURES`` within
``WINDOW_S`` (a day, so a slow attacker's count does not fall back as the delays
grow), each further failure doubles the wait before that source may try that name again,
up to ``MAX_DELAY_S``. A source that once logged in as the name is not slowed by failures from
elsewhere; other sources wait a short, capped delay once the name collects ``NAME_FREE_FAILURES``
from all sources (a spread-out guessing attack). The host's operator always gets in with
``pdmctl --local-admin``, which needs no password. An attempt refused while waiting is not
checked against the password (no oracle) and does not prolong the wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pdm.access import audit
from pdm.storage.tables import LoginAttempt

WINDOW_S = 24 * 3600
FREE_FAILURES = 3
BASE_DELAY_S = 2.0
MAX_DELAY_S = 15 * 60
NAME_FREE_FAILURES = 20
NAME_MAX_DELAY_S = 60.0
KNOWN_SOURCE_S = 90 * 24 * 3600


@dataclass(frozen=True)
class Wait:
    until: float
    failures: int
    scope: str  # "source": this source's failures; "name": failures of this name from everywhere


def _delay(failures: int, free: int, cap: float) -> float:
    over = failures - free
    return 0.0 if over < 0 else min(BASE_DELAY_S * 2.0**over, cap)


def _failures(session: Session, username: str, source: str | None, now: float) -> tuple[int, float]:
    stmt = select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.at > now - WINDOW_S,
    )
    if source is not None:
        stmt = stmt.where(LoginAttempt.source == source)
    count, last = session.execute(stmt).one()
    return int(count), float(last or 0.0)


def known_source(session: Session, *, username: str, source: str, now: float) -> bool:
    return (
        session.execute(
            select(LoginAttempt.id).where(
                LoginAttempt.username == username,
                LoginAttempt.source == source,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.at > now - KNOWN_SOURCE_S,
            )
        ).first()
        is not None
    )


def wait(session: Session, *, username: str, source: str, now: float) -> Wait | None:
    """When this source may try this name again, or None if it may now."""
    count, last = _failures(session, username, source, now)
    until = last + _delay(count, FREE_FAILURES, MAX_DELAY_S)
    if count > FREE_FAILURES - 1 and until > now:
        return Wait(until, count, "source")
    if known_source(session, username=username, source=source, now=now):
        return None
    count, last = _failures(session, username, None, now)
    until = last + _delay(count, NAME_FREE_FAILURES, NAME_MAX_DELAY_S)
    if count > NAME_FREE_FAILURES - 1 and until > now:
        return Wait(until, count, "name")
    return None


def failed(session: Session, *, username: str, source: str, now: float, company_id: int | None) -> None:
    """Count a failure; the one that starts a wait for this source is audited as ``login_throttled``."""
    session.add(LoginAttempt(username=username, source=source, at=now, succeeded=False))
    session.flush()
    count, _ = _failures(session, username, source, now)
    if count == FREE_FAILURES:
        audit.record(
            session,
            actor=username,
            action="login_throttled",
            target=username,
            company_id=company_id,
            now=now,
            details={"source": source, "failures": count, "delay_s": _delay(count, FREE_FAILURES, MAX_DELAY_S)},
        )


def succeeded(session: Session, *, username: str, source: str, now: float, company_id: int | None) -> None:
    """Forget this source's failures and remember it as known; a wait it ends is audited as unlocked."""
    count, _ = _failures(session, username, source, now)
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username, LoginAttempt.source == source))
    session.add(LoginAttempt(username=username, source=source, at=now, succeeded=True))
    if count >= FREE_FAILURES:
        audit.record(
            session,
            actor=username,
            action="login_unlocked",
            target=username,
            company_id=company_id,
            now=now,
            details={"source": source, "by": "login", "failures": count},
        )


def clear(session: Session, *, username: str, actor: str, now: float, company_id: int | None, by: str) -> int:
    """Forget every failure of a name (password set, admin unlock); audited when there were any."""
    count = failures(session, username=username)
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False)))
    if count:
        audit.record(
            session,
            actor=actor,
            action="login_unlocked",
            target=username,
            company_id=company_id,
            now=now,
            details={"by": by, "failures": count},
        )
    return count


def failures(session: Session, *, username: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False))
    ).scalar_one()
