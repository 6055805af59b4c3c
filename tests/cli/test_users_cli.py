"""`pdmctl user` and `pdmctl audit` through the real entry point; passwords only from stdin or a prompt."""

from __future__ import annotations

import json

import pytest

from pdm.access import local_admin, users
from pdm.storage.catalog import apply_plants
from pdm.storage.session import make_engine, session_factory, upgrade
from tests.helpers.pdmctl import run_pdmctl


@pytest.fixture
def url(tmp_path, small_plant) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(s, small_plant)
    engine.dispose()
    return url


def pdmctl(capsys, monkeypatch, url, *args, stdin: str = "") -> tuple[int, str, str]:
    return run_pdmctl(capsys, monkeypatch, *args, "--database", url, stdin=stdin)


def _login(url, name, password):
    engine = make_engine(url)
    with session_factory(engine)() as s:
        try:
            return users.authenticate(s, username=name, password=password)
        finally:
            s.commit()
            engine.dispose()


def test_add_list_disable_and_set_password(url, capsys, monkeypatch):
    run = lambda *a, stdin="": pdmctl(capsys, monkeypatch, url, *a, stdin=stdin)  # noqa: E731
    assert run(
        "user", "add", "ana", "--role", "technician", "--company", "acme", "--password-stdin", stdin="first password\n"
    )[:2] == (0, "user ana added (technician, acme)\n")
    assert run("user", "add", "root", "--role", "admin", "--password-stdin", stdin="root password\n")[0] == 0
    code, out, _ = run("user", "list", "--json")
    assert code == 0 and json.loads(out) == [
        {"user": "ana", "role": "technician", "company": "acme", "enabled": True},
        {"user": "root", "role": "admin", "company": None, "enabled": True},
    ]
    assert _login(url, "ana", "first password").role == "technician"
    assert run("user", "set-password", "ana", "--password-stdin", stdin="second password\n")[0] == 0
    assert _login(url, "ana", "second password").username == "ana"
    assert run("user", "disable", "ana")[:2] == (0, "user ana disabled\n")
    with pytest.raises(users.LoginRefused):
        _login(url, "ana", "second password")
    code, out, _ = run("audit", "list", "--json")
    actions = [(r["actor"], r["action"], r["target"]) for r in json.loads(out)]
    operator = f"local:{local_admin.os_account()}"
    assert (operator, "user_disabled", "ana") in actions and ("ana", "login_failed", "ana") in actions
    assert (operator, "password_changed", "ana") in actions and ("ana", "login", "ana") in actions
    assert (operator, "local_admin", "user disable") in actions  # the operator's own commands, audited as such
    code, out, _ = run("audit", "list", "--action", "login_failed", "--json")
    assert {r["action"] for r in json.loads(out)} == {"login_failed"}
    # No password, hash or token anywhere in what the audit log prints.
    assert "password" not in json.dumps([r["details"] for r in json.loads(run("audit", "list", "--json")[1])])


def test_password_is_never_an_argument_and_bad_input_is_one_line(url, capsys, monkeypatch):
    run = lambda *a, stdin="": pdmctl(capsys, monkeypatch, url, *a, stdin=stdin)  # noqa: E731
    import typer

    from pdm.cli.users import user_app

    group = typer.main.get_command(user_app)
    for name in ("add", "set-password"):
        options = {o for p in group.commands[name].params for o in p.opts}
        assert "--password-stdin" in options and "--password" not in options
    code, _, err = run("user", "add", "ana", "--role", "technician", "--password-stdin", stdin="long enough pw\n")
    assert (code, err) == (1, "error: company = None: a technician belongs to one company\n")
    code, _, err = run("user", "add", "ana", "--role", "chief", "--password-stdin", stdin="long enough pw\n")
    assert code == 1 and err.startswith("error: role = 'chief'") and err.count("\n") == 1
    code, _, err = run(
        "user", "add", "ana", "--role", "engineer", "--company", "nope", "--password-stdin", stdin="long enough pw\n"
    )
    assert (code, err) == (1, "error: company 'nope' not found\n")
    code, _, err = run("user", "disable", "ghost")
    assert (code, err) == (1, "error: user 'ghost' not found\n")
    code, _, err = run("audit", "list", "--action", "dance")
    assert code == 1 and err.startswith("error: --action = 'dance'")


def test_password_prompt_asks_twice(url, capsys, monkeypatch):
    code, out, _ = pdmctl(
        capsys,
        monkeypatch,
        url,
        "user",
        "add",
        "rev",
        "--role",
        "cluster_reviewer",
        stdin="prompted password\nprompted password\n",
    )
    assert code == 0 and "user rev added" in out
    assert _login(url, "rev", "prompted password").role == "cluster_reviewer"
