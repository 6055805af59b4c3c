"""`pdmctl login`, roles on the command line, and `--local-admin`: nobody acts under a typed name."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from pdm.access import users
from pdm.storage.catalog import apply_plants, company_by_slug
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import AuditEvent, CliSession, HostKey
from tests.helpers.pdmctl import login_pdmctl, run_pdmctl
from tests.helpers.plants import small_plant_config

PW = "a long enough password"
ROLES = {"tina": ("technician", "acme"), "eric": ("engineer", "acme"), "rita": ("cluster_reviewer", None)}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The plant and its three users, made once: each test writes to a copy (argon2 hashing is slow on purpose)."""
    path = tmp_path_factory.mktemp("identity") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(s, small_plant_config())
        for name, (role, company) in ROLES.items():
            cid = company_by_slug(s, company).id if company else None
            users.add_user(s, username=name, password=PW, role=role, company_id=cid)
    engine.dispose()
    return path


@pytest.fixture
def url(tmp_path, template, monkeypatch) -> str:
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    shutil.copyfile(template, tmp_path / "id.db")
    return f"sqlite:///{tmp_path / 'id.db'}"


def as_user(capsys, monkeypatch, url, *args, stdin=""):
    return run_pdmctl(capsys, monkeypatch, *args, "--database", url, stdin=stdin, local_admin=False)


def _events(url, action) -> list[AuditEvent]:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        rows = list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())
    engine.dispose()
    return rows


def test_login_whoami_logout(url, capsys, monkeypatch):
    code, out, _ = as_user(capsys, monkeypatch, url, "login", "tina", "--password-stdin", stdin=PW + "\n")
    assert code == 0 and out.startswith("logged in as tina (technician, acme) until ")
    path = os.environ["PDMCTL_SESSION_FILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = json.loads(open(path).read())[url]["token"]
    engine = make_engine(url)
    with session_factory(engine)() as s:  # only the token's hash is in the database
        assert [r.token_sha256 for r in s.execute(select(CliSession)).scalars()] != [token]
    engine.dispose()
    assert as_user(capsys, monkeypatch, url, "whoami")[:2] == (0, "tina (technician, acme)\n")
    assert as_user(capsys, monkeypatch, url, "logout")[:2] == (0, f"logged out of {url}\n")
    code, _, err = as_user(capsys, monkeypatch, url, "whoami")
    assert code == 1 and err.startswith(f"error: not logged in to {url}")
    assert [e.details for e in _events(url, "login")] == [{"source": f"cli:{_account()}"}]
    assert [e.details for e in _events(url, "logout")] == [{"via": "cli"}]


def _account() -> str:
    from pdm.access.local_admin import os_account

    return os_account()


def test_a_password_change_or_a_disable_ends_the_session(url, capsys, monkeypatch):
    login_pdmctl(capsys, monkeypatch, url, "tina", PW)
    assert as_user(capsys, monkeypatch, url, "alerts", "list", "--company", "acme")[0] == 0
    assert (
        run_pdmctl(
            capsys,
            monkeypatch,
            "user",
            "set-password",
            "tina",
            "--password-stdin",
            "--database",
            url,
            stdin="another password\n",
        )[0]
        == 0
    )
    code, _, err = as_user(capsys, monkeypatch, url, "alerts", "list", "--company", "acme")
    assert code == 1 and "not logged in" in err
    login_pdmctl(capsys, monkeypatch, url, "tina", "another password")
    assert run_pdmctl(capsys, monkeypatch, "user", "disable", "tina", "--database", url)[0] == 0
    assert as_user(capsys, monkeypatch, url, "whoami")[0] == 1


def test_a_session_file_others_can_read_is_refused(url, capsys, monkeypatch):
    login_pdmctl(capsys, monkeypatch, url, "tina", PW)
    path = os.environ["PDMCTL_SESSION_FILE"]
    os.chmod(path, 0o644)
    code, _, err = as_user(capsys, monkeypatch, url, "whoami")
    assert (code, err) == (
        1,
        f"error: session file {path} can be read by others (mode 0644): delete it and log in again\n",
    )
    os.chmod(path, 0o600)
    open(path, "w").write("{not json")
    code, _, err = as_user(capsys, monkeypatch, url, "whoami")
    assert code == 1 and err.startswith(f"error: session file {path} is unreadable") and err.count("\n") == 1


def test_wrong_passwords_are_one_line_and_then_slowed(url, capsys, monkeypatch):
    for _ in range(3):
        code, _, err = as_user(capsys, monkeypatch, url, "login", "tina", "--password-stdin", stdin="nope nope\n")
        assert (code, err) == (1, "error: wrong user name or password\n")
    code, _, err = as_user(capsys, monkeypatch, url, "login", "tina", "--password-stdin", stdin=PW + "\n")
    assert code == 1 and err.startswith("error: too many failed logins: try again in ")
    assert not os.path.exists(os.environ["PDMCTL_SESSION_FILE"])


@pytest.mark.parametrize(
    "who, args, error",
    [
        (
            "tina",
            ["user", "add", "x1", "--role", "admin", "--password-stdin"],
            "tina (technician) may not do this: it needs an admin",
        ),
        ("eric", ["audit", "list"], "eric (engineer) may not do this: it needs an admin"),
        ("eric", ["db", "downgrade", "base"], "eric (engineer) may not do this: it needs an admin"),
        ("rita", ["user", "unlock", "tina"], "rita (cluster_reviewer) may not do this: it needs an admin"),
        (
            "tina",
            ["savings", "--company", "acme"],
            "tina (technician) may not do this: it needs the savings page's role",
        ),
        (
            "tina",
            ["endpoint", "status", "--company", "acme"],
            "tina (technician) may not do this: it needs the endpoints page's role",
        ),
        ("eric", ["endpoint", "status", "--company", "beta"], "company 'beta' not found"),
        ("eric", ["savings", "--cluster"], "eric (engineer) may not do this: it needs the cluster page's role"),
        (
            "rita",
            ["savings", "--company", "acme"],
            "rita (cluster_reviewer) may not do this: it needs the savings page's role",
        ),
        (
            "rita",
            ["alerts", "list", "--company", "acme"],
            "rita (cluster_reviewer) may not do this: it needs the alerts page's role",
        ),
        ("tina", ["models", "list", "--company", "beta"], "company 'beta' not found"),
        (
            "tina",
            ["train", "--company", "acme", "--asset", "P-1"],
            "tina (technician) may not do this: it needs the endpoints page's role",
        ),
    ],
)
def test_each_role_runs_what_the_app_lets_it_open(url, capsys, monkeypatch, who, args, error):
    login_pdmctl(capsys, monkeypatch, url, who, PW)
    code, _, err = as_user(capsys, monkeypatch, url, *args, stdin="x password\n")
    assert (code, err) == (1, f"error: {error}\n")


def test_what_each_role_may_do_it_does(url, capsys, monkeypatch):
    login_pdmctl(capsys, monkeypatch, url, "eric", PW)
    assert as_user(capsys, monkeypatch, url, "endpoint", "status", "--company", "acme")[0] == 0
    assert as_user(capsys, monkeypatch, url, "savings", "--company", "acme", "--format", "json")[0] == 0
    assert as_user(capsys, monkeypatch, url, "models", "list", "--company", "acme")[0] == 0
    login_pdmctl(capsys, monkeypatch, url, "rita", PW)
    code, out, _ = as_user(capsys, monkeypatch, url, "savings", "--cluster", "--format", "json")
    assert code == 0 and "summary" in json.loads(out)


def test_user_is_no_longer_an_option_of_a_step(url, capsys, monkeypatch):
    login_pdmctl(capsys, monkeypatch, url, "tina", PW)
    code, _, err = as_user(capsys, monkeypatch, url, "alerts", "ack", "1", "--company", "acme", "--user", "boss")
    assert code == 2 and "No such option: --user" in err


def test_local_admin_holds_the_host_key_and_is_audited(url, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PDM_SECRET_KEY", raising=False)
    assert run_pdmctl(capsys, monkeypatch, "whoami", "--database", url)[:2] == (0, f"local:{_account()} (admin)\n")
    engine = make_engine(url)
    with session_factory(engine)() as s:
        assert len(s.execute(select(HostKey)).all()) == 1
    engine.dispose()
    # A key made in another folder proves nothing about this host.
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "elsewhere"))
    code, _, err = run_pdmctl(capsys, monkeypatch, "user", "list", "--database", url)
    assert code == 1 and "is not the key this database knows" in err
    # A var/ that cannot hold a key is one line too.
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "a-file"))
    code, _, err = run_pdmctl(capsys, monkeypatch, "user", "list", "--database", url)
    assert (
        code == 1 and err.startswith("error: --local-admin: cannot read the host's secret key") and err.count("\n") == 1
    )
    events = _events(url, "local_admin")
    assert [(e.actor, e.target, e.details) for e in events] == [(f"local:{_account()}", "whoami", {"first_use": True})]


def test_an_old_database_is_upgraded_by_the_host_only(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(make_engine(url), "0012")  # from before logins on the command line
    code, _, err = as_user(capsys, monkeypatch, url, "db", "upgrade")
    assert code == 1 and "`pdmctl --local-admin db upgrade`" in err
    assert run_pdmctl(capsys, monkeypatch, "db", "upgrade", "--database", url)[0] == 0
    assert [e.target for e in _events(url, "local_admin")] == ["db upgrade"]


@pytest.mark.parametrize(
    "database, error",
    [
        (
            "postgresql://u:pw@h:0/db",
            "error: --database: database_url = 'postgresql://h:0/…': the port must be from 1 to 65535",
        ),
        ("nonsense", "error: --database: database_url = 'nonsense': not a database URL"),
    ],
)
def test_a_bad_database_option_is_checked_like_the_settings_file(capsys, monkeypatch, database, error):
    code, _, err = run_pdmctl(capsys, monkeypatch, "alerts", "list", "--company", "acme", "--database", database)
    assert code == 2 and err.startswith(error) and "pw" not in err and err.count("\n") == 1
