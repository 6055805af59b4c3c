"""The audit log: written with the action, readable by admins only, never holding a secret."""

from __future__ import annotations

import pytest

from pdm.access import audit
from pdm.access.tenancy import Forbidden, Principal
from tests.helpers.dump import dump_tables

ADMIN = Principal("root", "admin")


def test_admin_reads_newest_first_with_filters(sessions):
    with sessions.begin() as s:
        audit.record(s, actor="ana", action="login", now=1.0)
        audit.record(s, actor="bob", action="login_failed", now=2.0)
        audit.record(s, actor="ana", action="logout", now=3.0)
    with sessions() as s:
        assert [e.action for e in audit.list_events(s, principal=ADMIN)] == ["logout", "login_failed", "login"]
        assert [e.actor for e in audit.list_events(s, principal=ADMIN, action="login_failed")] == ["bob"]
        assert len(audit.list_events(s, principal=ADMIN, actor="ana")) == 2
        assert [e.at for e in audit.list_events(s, principal=ADMIN, since=2.5)] == [3.0]


@pytest.mark.parametrize("role,company", [("technician", 1), ("engineer", 1), ("cluster_reviewer", None)])
def test_only_admins_read_the_log(sessions, role, company):
    with sessions() as s, pytest.raises(Forbidden):
        audit.list_events(s, principal=Principal("x", role, company))


def test_secrets_are_dropped_and_unknown_actions_refused(sessions):
    with sessions.begin() as s:
        event = audit.record(
            s, actor="root", action="user_added", target="ana", details={"role": "admin", "password": "hunter2hunter2"}
        )
    assert event.details == {"role": "admin"}
    with sessions() as s, pytest.raises(ValueError, match="action = 'dance'"):
        audit.record(s, actor="root", action="dance")


def test_no_plaintext_secret_reaches_the_database_or_the_logs(sessions, monkeypatch, caplog, tmp_path):
    import logging

    from pdm.access import crypto, users
    from pdm.config import EndpointConfig, parse_plants
    from pdm.connectors.browse import check_endpoint
    from pdm.storage.catalog import apply_plants, company_by_slug
    from pdm.storage.tables import Site
    from pdm.ui.engineer import save_endpoint

    secret, user_pw, at_rest = "opc-S3cret-value-42", "user-S3cret-value-43", "enc-S3cret-value-44"
    monkeypatch.setenv("PLC_PASSWORD", secret)
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    token = crypto.encrypt(at_rest, var_dir=tmp_path)  # as `pdmctl secrets encrypt` makes it
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asyncua")  # `pdmctl endpoint` quiets it for the process
    ep = {
        "name": "plc",
        "endpoint_url": "opc.tcp://127.0.0.1:1/plc",
        "auth_method": "username",
        "username": "operator",
        "password_env": "PLC_PASSWORD",
        "nodes": [],
    }
    with sessions.begin() as s:
        enc = {
            **ep,
            "name": "plc3",
            "endpoint_url": "opc.tcp://127.0.0.1:1/three",
            "password_env": None,
            "password_encrypted": token,
        }
        apply_plants(
            s,
            parse_plants(
                {"companies": [{"id": "acme", "sites": [{"id": "site", "assets": [], "endpoints": [ep, enc]}]}]}
            ),
        )
        cid = company_by_slug(s, "acme").id
        site_id = s.query(Site.id).filter_by(company_id=cid).scalar()
        config = EndpointConfig.model_validate({**ep, "name": "plc2", "endpoint_url": "opc.tcp://127.0.0.1:1/two"})
        save_endpoint(s, company_id=cid, site_id=site_id, config=config)
        audit.record(
            s,
            actor="eng",
            action="endpoint_added",
            company_id=cid,
            target="plc2",
            details={"endpoint_url": config.endpoint_url},
        )
        users.add_user(s, username="eng", password=user_pw, role="engineer", company_id=cid)
    # Connecting reads the password from the environment: a refused connection must not log it either.
    errors = check_endpoint(config, tmp_path / "pki")
    assert "ok" not in errors
    # The token is decrypted to connect (then the server is unreachable): nothing of it is logged.
    errors = check_endpoint(EndpointConfig.model_validate(enc), tmp_path / "pki")
    assert "unreachable" in errors["endpoint_url"] and at_rest not in str(errors)
    with sessions() as s:
        dump = dump_tables(s)
    assert "PLC_PASSWORD" in dump and token in dump  # the reference and the token are stored ...
    assert crypto.key_file(tmp_path).read_text().strip() not in dump  # ... never the key
    for value in (secret, user_pw, at_rest):  # ... never the secret, nor a user's password
        assert value not in dump
        assert value not in caplog.text


def test_config_apply_audits_endpoints_added_changed_and_disabled(db_url, tmp_path, capsys, monkeypatch):
    import yaml

    from pdm.access import local_admin
    from tests.helpers.pdmctl import run_pdmctl

    def apply(**changes) -> list[tuple[str, str, dict]]:
        ep = {"name": "plc", "endpoint_url": "opc.tcp://127.0.0.1:4840/plc", "nodes": [], **changes}
        other = {"name": "plc2", "endpoint_url": "opc.tcp://127.0.0.1:4840/two", "nodes": []}
        path = tmp_path / "plants.yaml"
        path.write_text(
            yaml.safe_dump({"companies": [{"id": "acme", "sites": [{"id": "s", "endpoints": [ep, other]}]}]})
        )
        code, _, err = run_pdmctl(capsys, monkeypatch, "config", "apply", str(path), "--database", db_url)
        assert code == 0, err
        from pdm.storage.session import make_engine, session_factory

        engine = make_engine(db_url)
        with session_factory(engine)() as s:
            events = audit.list_events(s, principal=ADMIN, actor=f"local:{local_admin.os_account()}")
            out = [(e.action, e.target, e.details) for e in reversed(events) if e.action.startswith("endpoint_")]
        engine.dispose()
        return out

    assert apply() == [
        ("endpoint_added", "plc", {"endpoint_url": "opc.tcp://127.0.0.1:4840/plc"}),
        ("endpoint_added", "plc2", {"endpoint_url": "opc.tcp://127.0.0.1:4840/two"}),
    ]
    assert len(apply()) == 2  # the same file again changes nothing, so nothing new is logged
    assert apply(poll_interval_s=5.0, auth_method="username", username="op", password_env="PLC_PW")[2:] == [
        ("endpoint_changed", "plc", {"fields": ["auth_method", "password_env", "poll_interval_s", "username"]})
    ]
    assert apply(poll_interval_s=5.0, auth_method="username", username="op", password_env="PLC_PW", enabled=False)[
        3:
    ] == [("endpoint_disabled", "plc", {})]


def test_no_private_key_in_clear_on_disk_after_certs_init(tmp_path, capsys, monkeypatch):
    from pdm.access import crypto
    from tests.helpers.pdmctl import run_pdmctl

    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    code, out, err = run_pdmctl(capsys, monkeypatch, "certs", "init")
    assert code == 0 and "created" in out, err
    files = [p for p in (tmp_path / "var").rglob("*") if p.is_file()]
    pem_keys = [p for p in files if b"PRIVATE KEY-----" in p.read_bytes()]
    assert pem_keys == [tmp_path / "var" / "pki" / "own" / "key.pem"]
    for path in files:  # PKCS#8 and the older RSA header: neither appears in clear anywhere
        data = path.read_bytes()
        assert b"-----BEGIN PRIVATE KEY-----" not in data and b"-----BEGIN RSA PRIVATE KEY-----" not in data
    assert pem_keys[0].read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
