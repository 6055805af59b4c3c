"""Login throttling by name and source (SQLite and PostgreSQL): growing delays, never a lock anyone can set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pdm.access import throttle, users
from pdm.storage.tables import AuditEvent

PW = "correct horse battery"  # ana's (tests/access/conftest.py), and root's here
ATTACKER = "web:203.0.113.9"
OFFICE = "web:10.0.0.5"


def _login(sessions, name, password, now, source):
    with sessions() as s:
        try:
            return users.authenticate(s, username=name, password=password, now=now, source=source)
        finally:
            s.commit()


def _fail(sessions, name, now, source) -> type[Exception]:
    with pytest.raises(users.LoginRefused) as refused:
        _login(sessions, name, "wrong-password", now, source)
    return type(refused.value)


def _audit(sessions, action) -> list[dict]:
    with sessions() as s:
        return [e.details for e in s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars()]


def test_delays_grow_per_source_and_the_right_password_waits_too(sessions, company_id):
    t = 1000.0
    for i in range(throttle.FREE_FAILURES):
        assert _fail(sessions, "ana", t + i, ATTACKER) is users.LoginRefused
    last = t + throttle.FREE_FAILURES - 1
    # Now the source waits 2 s; during the wait even the right password is refused, with no hint.
    with pytest.raises(users.LoginLocked, match="try again in 1 s"):
        _login(sessions, "ana", PW, last + 1, ATTACKER)
    # The refused attempt did not prolong the wait, and each new failure doubles it.
    waits = []
    now = last + throttle.BASE_DELAY_S
    for _ in range(4):
        assert _fail(sessions, "ana", now, ATTACKER) is users.LoginRefused
        with sessions() as s:
            wait = throttle.wait(s, username="ana", source=ATTACKER, now=now)
        waits.append(round(wait.until - now))
        now = wait.until
    assert waits == [4, 8, 16, 32]
    assert _login(sessions, "ana", PW, now, ATTACKER).username == "ana"
    assert [d["source"] for d in _audit(sessions, "login_throttled")] == [ATTACKER]
    assert _audit(sessions, "login_unlocked") == [{"source": ATTACKER, "by": "login", "failures": 7}]


def test_the_delay_is_capped(sessions, company_id):
    # Failures counted straight into the throttle, each when the last wait ended (the login path
    # that leads there is the first test's; here 30 argon2 checks would only cost time).
    now = 5000.0
    with sessions.begin() as s:
        for _ in range(30):
            wait = throttle.wait(s, username="ana", source=ATTACKER, now=now)
            now = wait.until if wait else now
            throttle.failed(s, username="ana", source=ATTACKER, now=now, company_id=company_id)
    with sessions() as s:
        assert throttle.wait(s, username="ana", source=ATTACKER, now=now).until - now == throttle.MAX_DELAY_S


def test_an_attacker_cannot_lock_out_the_user_or_an_admin(sessions, company_id):
    with sessions.begin() as s:
        users.add_user(s, username="root", password=PW, role="admin", company_id=None)
    t = 10_000.0
    assert _login(sessions, "ana", PW, t, OFFICE).username == "ana"  # the office is a known source of ana
    now = t + 1
    with sessions.begin() as s:  # counted straight into the throttle: 60 argon2 checks would only cost time
        for name in ("ana", "root"):
            for _ in range(throttle.NAME_FREE_FAILURES + 10):
                # Many addresses (a botnet), each within its free failures.
                source = f"web:198.51.100.{int(now) % 250}"
                throttle.failed(s, username=name, source=source, now=now, company_id=None)
                now += 0.5
    # ana, from the office, gets in at once.
    assert _login(sessions, "ana", PW, now, OFFICE).username == "ana"
    # From a new place the name-wide delay applies, but it is short, never a lock.
    with pytest.raises(users.LoginLocked) as locked:
        _login(sessions, "root", PW, now, "web:192.0.2.1")
    assert locked.value.until - now <= throttle.NAME_MAX_DELAY_S
    assert _login(sessions, "root", PW, locked.value.until, "web:192.0.2.1").username == "root"


def test_unlock_and_set_password_forget_failures_and_are_audited(sessions, company_id):
    for i in range(throttle.FREE_FAILURES):
        _fail(sessions, "ana", 100.0 + i, ATTACKER)
    assert _fail(sessions, "ana", 103.0, ATTACKER) is users.LoginLocked  # refused while waiting: not counted
    with sessions.begin() as s:
        assert users.unlock(s, username="ana", actor="root") == throttle.FREE_FAILURES
        assert users.unlock(s, username="ana", actor="root") == 0  # nothing left: no second audit row
    with sessions() as s:
        assert throttle.wait(s, username="ana", source=ATTACKER, now=104.0) is None
    for i in range(throttle.FREE_FAILURES):
        _fail(sessions, "ana", 200.0 + i, ATTACKER)
    with sessions.begin() as s:
        users.set_password(s, username="ana", password="a fresh password", actor="root")
    assert [(d["by"], d["failures"]) for d in _audit(sessions, "login_unlocked")] == [
        ("root", throttle.FREE_FAILURES),
        ("password_changed", throttle.FREE_FAILURES),
    ]
    assert len(_audit(sessions, "login_throttled")) == 2


def test_unknown_names_are_throttled_alike(sessions, company_id):
    for i in range(throttle.FREE_FAILURES):
        assert _fail(sessions, "nobody", 300.0 + i, ATTACKER) is users.LoginRefused
    # Same words and the same wait as for a real name: a probe cannot tell them apart.
    assert _fail(sessions, "nobody", 300.0 + throttle.FREE_FAILURES, ATTACKER) is users.LoginLocked
