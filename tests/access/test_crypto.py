"""Secrets at rest: Fernet tokens for endpoint passwords, the key outside the database, rotation."""

from __future__ import annotations

import stat

import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import select

from pdm.access import crypto
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import AuditEvent, Endpoint
from tests.helpers.pdmctl import run_pdmctl

SECRET = "opc-Pa55word-at-rest"


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    (tmp_path / "var").mkdir()
    return tmp_path / "var"


def test_key_file_is_made_once_owner_only_and_round_trips(var):
    token = crypto.encrypt(SECRET, var_dir=var)
    key = crypto.key_file(var)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert token.startswith("gAAAAA") and SECRET not in token
    first = key.read_bytes()
    assert crypto.decrypt(crypto.encrypt("x", var_dir=var), var_dir=var, where="w") == "x"
    assert key.read_bytes() == first  # made once, not per encryption
    assert crypto.decrypt(token, var_dir=var, where="endpoint plc: password_encrypted") == SECRET


def test_environment_key_wins_over_the_file(var, monkeypatch):
    crypto.encrypt("made with the file", var_dir=var)
    env_key = Fernet.generate_key()
    monkeypatch.setenv(crypto.KEY_ENV, f"{env_key.decode()}, {Fernet.generate_key().decode()}")
    token = crypto.encrypt(SECRET, var_dir=var)
    assert Fernet(env_key).decrypt(token.encode()).decode() == SECRET  # the first key encrypts


def test_wrong_or_missing_key_names_the_field_never_the_secret(var, monkeypatch):
    token = crypto.encrypt(SECRET, var_dir=var)
    monkeypatch.setenv(crypto.KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(crypto.SecretError) as err:
        crypto.decrypt(token, var_dir=var, where="endpoint plc: password_encrypted")
    assert str(err.value).startswith(
        "endpoint plc: password_encrypted cannot be decrypted with the key in $PDM_FERNET_KEY"
    )
    assert SECRET not in str(err.value) and token not in str(err.value)
    monkeypatch.delenv(crypto.KEY_ENV)
    crypto.key_file(var).unlink()
    with pytest.raises(
        crypto.SecretError,
        match=r"endpoint plc: password_encrypted cannot be decrypted: no encryption "
        r"key: set PDM_FERNET_KEY or restore .*fernet.key",
    ):
        crypto.decrypt(token, var_dir=var, where="endpoint plc: password_encrypted")


def test_malformed_key_is_reported_without_echoing_it(var, monkeypatch):
    monkeypatch.setenv(crypto.KEY_ENV, "not-a-key-abcdef")
    with pytest.raises(crypto.SecretError) as err:
        crypto.encrypt(SECRET, var_dir=var)
    assert "key 1 is not a Fernet key" in str(err.value) and "not-a-key-abcdef" not in str(err.value)


# ---- CLI: encrypt, config apply, rotate ------------------------------------------------------


def _plant(tmp_path, **endpoint) -> str:
    ep = {
        "name": "plc",
        "endpoint_url": "opc.tcp://127.0.0.1:4840/plc",
        "auth_method": "username",
        "username": "op",
        **endpoint,
        "nodes": [],
    }
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump({"companies": [{"id": "acme", "sites": [{"id": "s1", "endpoints": [ep]}]}]}))
    return str(path)


def _stored(url) -> tuple[dict, list[tuple[str, dict]]]:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        settings = s.execute(select(Endpoint.settings)).scalar_one()
        events = [(e.action, e.details) for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    engine.dispose()
    return settings, events


def test_encrypt_from_stdin_then_apply_and_rotate(var, tmp_path, db_url, capsys, monkeypatch):
    code, token, err = run_pdmctl(capsys, monkeypatch, "secrets", "encrypt", stdin=SECRET + "\n")
    assert code == 0 and err == "" and SECRET not in token
    token = token.strip()
    assert crypto.decrypt(token, var_dir=var, where="t") == SECRET
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "config", "apply", _plant(tmp_path, password_encrypted=token), "--database", db_url
    )
    assert code == 0, err
    settings, events = _stored(db_url)
    assert settings["password_encrypted"] == token and settings["password_env"] is None
    assert ("endpoint_added", {"endpoint_url": "opc.tcp://127.0.0.1:4840/plc"}) in events

    old_key = crypto.key_file(var).read_text()
    code, out, err = run_pdmctl(capsys, monkeypatch, "secrets", "rotate", "--retire-old", "--database", db_url)
    assert code == 0, err
    assert "re-encrypted 1 endpoint passwords" in out
    rotated, events = _stored(db_url)
    assert rotated["password_encrypted"] != token
    assert crypto.decrypt(rotated["password_encrypted"], var_dir=var, where="t") == SECRET
    assert crypto.key_file(var).read_text() != old_key and len(crypto.key_file(var).read_text().split()) == 1
    with pytest.raises(crypto.SecretError):  # the retired key's tokens no longer open
        crypto.decrypt(token, var_dir=var, where="t")
    assert events[-1] == ("secrets_rotated", {"endpoints": 1})


def test_apply_refuses_a_token_this_service_cannot_decrypt_and_keeps_what_is_stored(
    var, tmp_path, db_url, capsys, monkeypatch
):
    good = crypto.encrypt(SECRET, var_dir=var)
    assert (
        run_pdmctl(
            capsys, monkeypatch, "config", "apply", _plant(tmp_path, password_encrypted=good), "--database", db_url
        )[0]
        == 0
    )
    foreign = Fernet(Fernet.generate_key()).encrypt(b"other").decode()
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "config", "apply", _plant(tmp_path, password_encrypted=foreign), "--database", db_url
    )
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "companies[0].sites[0].endpoints[0].password_encrypted = '(hidden)'" in err
    assert "endpoint plc cannot be decrypted with the key in" in err and foreign not in err
    assert _stored(db_url)[0]["password_encrypted"] == good


def test_a_password_pasted_into_password_encrypted_is_not_echoed(var, tmp_path, capsys, monkeypatch):
    code, out, err = run_pdmctl(capsys, monkeypatch, "config", "check", _plant(tmp_path, password_encrypted=SECRET))
    assert code == 2 and "password_encrypted = '(hidden)'" in err and SECRET not in err


def test_encrypt_refuses_an_empty_password(var, capsys, monkeypatch):
    code, out, err = run_pdmctl(capsys, monkeypatch, "secrets", "encrypt", stdin="\n")
    assert code == 2 and err.strip() == "error: stdin: password = None: empty: give the password as one line on stdin"


def test_rotate_with_an_unknown_token_changes_nothing(var, tmp_path, sqlite_url, capsys, monkeypatch):
    token = crypto.encrypt(SECRET, var_dir=var)
    assert (
        run_pdmctl(
            capsys, monkeypatch, "config", "apply", _plant(tmp_path, password_encrypted=token), "--database", sqlite_url
        )[0]
        == 0
    )
    crypto.key_file(var).write_text(Fernet.generate_key().decode() + "\n")  # the key that made it is lost
    code, out, err = run_pdmctl(capsys, monkeypatch, "secrets", "rotate", "--database", sqlite_url)
    assert code == 1 and "endpoint acme/plc: password_encrypted cannot be decrypted" in err
    settings, events = _stored(sqlite_url)
    assert settings["password_encrypted"] == token and events[-1][0] != "secrets_rotated"


def test_new_key_prints_a_usable_fernet_key(capsys, monkeypatch):
    code, out, _ = run_pdmctl(capsys, monkeypatch, "secrets", "new-key")
    assert code == 0 and Fernet(out.strip().encode())


# ---- the engineer page: a typed password is write-only ---------------------------------------


def _page_text(at) -> str:
    from tests.helpers.app import page_text

    return page_text(at) + "\n".join(str(w.value) for w in at.text_input)


def test_typed_password_is_stored_encrypted_never_shown_back_and_can_be_replaced(monkeypatch, tmp_path, caplog):
    import logging

    from tests.helpers.app import app_db, open_page
    from tests.helpers.dump import dump_tables
    from tests.helpers.engineer import endpoints, error_after, submit
    from tests.helpers.login import logged_in
    from tests.helpers.servers import InThread, SecureServer, Users

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asyncua")  # `pdmctl endpoint` quiets it for the process
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    db = app_db(tmp_path / "pdm.sqlite3")
    at = open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")
    with InThread(SecureServer(tmp_path / "server", users=Users("op", SECRET))) as srv:
        at.text_input(key="ep_password").input(SECRET)
        submit(
            at,
            name="line-9",
            url=srv.url,
            policy="Basic256Sha256",
            mode="SignAndEncrypt",
            auth="username",
            username="op",
            trust=True,
        )
        assert "Saved line-9" in at.success[0].value, [e.value for e in at.error]
        token = endpoints(db)["line-9"].settings["password_encrypted"]
        assert crypto.decrypt(token, var_dir=tmp_path / "var", where="t") == SECRET
        assert SECRET not in _page_text(at) and token not in _page_text(at)
        assert at.text_input(key="ep_password").value == ""  # the field was emptied
        assert "password is set (stored encrypted)" in _page_text(at)
        ep_id = endpoints(db)["line-9"].id

        at.text_input(key=f"pw_{ep_id}").input("not-the-password")
        at.button(key=f"FormSubmitter:pw_form_{ep_id}-Replace password").click().run()
        assert "not saved:" in error_after(at, "New password") and "credentials refused" in error_after(
            at, "New password"
        )
        assert endpoints(db)["line-9"].settings["password_encrypted"] == token  # the stored one is kept

        at.text_input(key=f"pw_{ep_id}").input(SECRET)
        at.button(key=f"FormSubmitter:pw_form_{ep_id}-Replace password").click().run()
        assert not at.exception and "Password replaced" in at.success[0].value
        replaced = endpoints(db)["line-9"].settings["password_encrypted"]
        assert replaced != token and crypto.decrypt(replaced, var_dir=tmp_path / "var", where="t") == SECRET
        assert "not-the-password" not in _page_text(at) and SECRET not in _page_text(at)
    events = _stored_events(db)
    assert ("endpoint_password_set", {}) in events and ("endpoint_added", {"endpoint_url": srv.url}) in events
    engine = make_engine(db)
    with session_factory(engine)() as s:  # the plaintext scan: every row of every table, and the logs
        dump = dump_tables(s)
    engine.dispose()
    assert replaced in dump
    assert "ActivateSessionRequest (identity token not logged)" in caplog.text  # the logs were really looked at
    for typed in (SECRET, "not-the-password"):
        assert typed not in dump and typed not in caplog.text


def _stored_events(url):
    engine = make_engine(url)
    with session_factory(engine)() as s:
        events = [(e.action, e.details) for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    engine.dispose()
    return events


def test_typed_password_and_variable_together_are_refused_next_to_the_field(monkeypatch, tmp_path):
    from tests.helpers.app import app_db, open_page
    from tests.helpers.engineer import error_after, submit
    from tests.helpers.login import logged_in

    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    at = open_page(
        logged_in(monkeypatch, app_db(tmp_path / "pdm.sqlite3"), "eve", "engineer", "alpha", timeout=60), "endpoints"
    )
    at.text_input(key="ep_password").input(SECRET)
    submit(at, name="x", url="opc.tcp://h:4840", auth="username", username="op", password_env="PLC_PW")
    assert "give either password_env or password_encrypted" in error_after(at, "Password environment variable")
    assert SECRET not in _page_text(at) and at.text_input(key="ep_password").value == ""


def test_an_unusable_key_is_shown_next_to_the_password_field(monkeypatch, tmp_path):
    from tests.helpers.app import app_db, open_page
    from tests.helpers.engineer import error_after, submit
    from tests.helpers.login import logged_in

    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv(crypto.KEY_ENV, "broken-key")
    at = open_page(
        logged_in(monkeypatch, app_db(tmp_path / "pdm.sqlite3"), "eve", "engineer", "alpha", timeout=60), "endpoints"
    )
    at.text_input(key="ep_password").input(SECRET)
    submit(at, name="x", url="opc.tcp://h:4840", auth="username", username="op")
    assert (
        error_after(at, "Password") == "$PDM_FERNET_KEY: key 1 is not a Fernet key (32 url-safe base64-encoded "
        "bytes; make one with `pdmctl secrets new-key`)"
    )
    assert SECRET not in _page_text(at)


def test_endpoint_test_command_takes_an_encrypted_password(var, tmp_path, capsys, monkeypatch):
    from tests.helpers.servers import InThread, SecureServer, Users

    token = crypto.encrypt(SECRET, var_dir=var)
    wrong = crypto.encrypt("nope", var_dir=var)
    with InThread(SecureServer(tmp_path / "server", users=Users("op", SECRET))) as srv:
        args = (
            "endpoint",
            "test",
            srv.url,
            "--policy",
            "Basic256Sha256",
            "--auth",
            "username",
            "--username",
            "op",
            "--trust-server-certificate",
            "--password-encrypted",
        )
        code, out, err = run_pdmctl(capsys, monkeypatch, *args, token)
        assert code == 0 and "connected to" in out, err
        code, out, err = run_pdmctl(capsys, monkeypatch, *args, wrong)
    assert code == 1 and err.count("\n") == 1 and "credentials refused" in err and "password_encrypted" in err
    assert "nope" not in err and SECRET not in out + err


def test_rotate_moves_private_keys_to_the_new_key(var, tmp_path, sqlite_url, capsys, monkeypatch):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from pdm.connectors.security import private_key_password
    from tests.helpers.servers import user_certificate

    assert run_pdmctl(capsys, monkeypatch, "certs", "init")[0] == 0
    cert, key = user_certificate(tmp_path / "user")
    assert run_pdmctl(capsys, monkeypatch, "certs", "encrypt-key", str(key))[0] == 0
    path = _plant(tmp_path, password_encrypted=crypto.encrypt(SECRET, var_dir=var))
    plant = yaml.safe_load(open(path))
    plant["companies"][0]["sites"][0]["endpoints"].append(
        {
            "name": "plc-cert",
            "endpoint_url": "opc.tcp://127.0.0.1:4840/cert",
            "security_policy": "Basic256Sha256",
            "security_mode": "SignAndEncrypt",
            "auth_method": "certificate",
            "user_certificate": str(cert),
            "user_private_key": str(key),
        }
    )
    open(path, "w").write(yaml.safe_dump(plant))
    assert run_pdmctl(capsys, monkeypatch, "config", "apply", path, "--database", sqlite_url)[0] == 0
    code, out, err = run_pdmctl(capsys, monkeypatch, "secrets", "rotate", "--retire-old", "--database", sqlite_url)
    assert code == 0, err
    own = var / "pki" / "own" / "key.pem"
    assert f"re-encrypted {own}" in out and f"re-encrypted {key}" in out
    (only_key,) = crypto.load_keyring(var).keys  # the old key is gone: both files open with the new one alone
    for pem in (own, key):
        assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert load_pem_private_key(pem.read_bytes(), password=private_key_password(pem, var_dir=var))


def test_endpoint_browse_takes_a_user_certificate(var, tmp_path, capsys, monkeypatch):
    from tests.helpers.servers import CertUsers, InThread, SecureServer, user_certificate

    cert, key = user_certificate(tmp_path / "user")
    with InThread(SecureServer(tmp_path / "server", users=CertUsers(cert.read_bytes()))) as srv:
        args = (
            "endpoint",
            "browse",
            srv.url,
            "--policy",
            "Basic256Sha256",
            "--auth",
            "certificate",
            "--trust-server-certificate",
            "--depth",
            "1",
        )
        code, out, err = run_pdmctl(
            capsys, monkeypatch, *args, "--user-certificate", str(cert), "--user-private-key", str(key)
        )
        assert code == 0 and "o0 [Object]" in out, err
        code, out, err = run_pdmctl(capsys, monkeypatch, *args)  # the application certificate is not a user here
    assert code == 1 and "BadUserAccessDenied" in err and err.count("\n") == 1
