"""Users on SQLite and PostgreSQL: argon2 hashes, throttled login, session tokens that can be revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pdm.access import throttle, users
from pdm.access.tenancy import Principal
from pdm.errors import NotFound, PdmError
from pdm.storage.tables import AuditEvent

KEY = b"k" * 32
PW = "correct horse battery"  # ana's, from tests/access/conftest.py


def _login(sessions, name, password, now):
    with sessions() as s:
        try:
            return users.authenticate(s, username=name, password=password, now=now)
        finally:
            s.commit()  # refused attempts are recorded too


def test_password_is_stored_as_argon2_hash_only(sessions, company_id):
    with sessions() as s:
        user = users.get_user(s, username="ana")
    assert user.password_hash.startswith("$argon2id$") and PW not in user.password_hash


def test_login_gives_the_principal_and_audits(sessions, company_id):
    assert _login(sessions, "ana", PW, 1000.0) == Principal("ana", "technician", company_id)
    with pytest.raises(users.LoginRefused, match="wrong user name or password"):
        _login(sessions, "ana", "nope-nope", 1001.0)
    with pytest.raises(users.LoginRefused, match="wrong user name or password"):
        _login(sessions, "nobody", PW, 1002.0)  # same words: no hint that a name exists
    with sessions() as s:
        actions = [(e.actor, e.action) for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert actions[-3:] == [("ana", "login"), ("ana", "login_failed"), ("nobody", "login_failed")]


def test_set_password_clears_the_wait_and_disable_refuses_login(sessions, company_id):
    for i in range(throttle.FREE_FAILURES + 2):
        with pytest.raises(users.LoginRefused):
            _login(sessions, "ana", "wrong-password", 1.0 + i)
    with pytest.raises(users.LoginLocked):
        _login(sessions, "ana", PW, 7.0)
    with sessions.begin() as s:
        users.set_password(s, username="ana", password="a new password", actor="root")
    assert _login(sessions, "ana", "a new password", 10.0).username == "ana"
    with sessions.begin() as s:
        users.set_enabled(s, username="ana", enabled=False, actor="root")
    with pytest.raises(users.LoginRefused):
        _login(sessions, "ana", "a new password", 20.0)


def test_tokens_expire_and_are_revoked(sessions, company_id):
    with sessions() as s:
        token = users.issue_token(s, username="ana", key=KEY, now=100.0, ttl_s=60)
        assert users.principal_from_token(s, token=token, key=KEY, now=120.0).company_id == company_id
        assert users.principal_from_token(s, token=token, key=KEY, now=200.0) is None  # expired
        assert users.principal_from_token(s, token=token, key=b"other" * 8, now=120.0) is None  # wrong key
        payload, sig = token.split(".")
        assert users.principal_from_token(s, token=payload[:-2] + "xx." + sig, key=KEY, now=120.0) is None
        assert users.principal_from_token(s, token="garbage", key=KEY) is None
    with sessions.begin() as s:
        users.set_password(s, username="ana", password="another password")
    with sessions() as s:
        assert users.principal_from_token(s, token=token, key=KEY, now=120.0) is None


def test_bad_input_is_one_line_naming_the_field(sessions, company_id):
    with sessions.begin() as s:
        with pytest.raises(PdmError, match="username = 'Bad Name'"):
            users.add_user(s, username="Bad Name", password=PW, role="admin", company_id=None)
        with pytest.raises(PdmError, match="password: at least 8"):
            users.add_user(s, username="bob", password="short", role="admin", company_id=None)
        with pytest.raises(PdmError, match="already exists"):
            users.add_user(s, username="ana", password=PW, role="technician", company_id=company_id)
        with pytest.raises(NotFound):
            users.set_enabled(s, username="ghost", enabled=False)


def test_key_file_is_made_once_outside_the_database(tmp_path, monkeypatch):
    monkeypatch.delenv(users.SECRET_ENV, raising=False)
    key = users.secret_key(tmp_path / "var")
    assert key == users.secret_key(tmp_path / "var") and len(key) >= 32
    assert oct((tmp_path / "var" / "secret.key").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(users.SECRET_ENV, "from-env")
    assert users.secret_key(tmp_path / "var") == b"from-env"
