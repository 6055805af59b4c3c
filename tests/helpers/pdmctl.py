"""Run ``pdmctl`` in this process (faster than a subprocess), capturing exit code, stdout and stderr.

Commands run as the host's operator (``--local-admin``) unless ``local_admin=False``: the tests of
logins and roles say so, the others test what a command does, not who may run it."""

from __future__ import annotations

import io
import sys

from pdm.cli import main


def run_pdmctl(capsys, monkeypatch, *args: str, stdin: str = "", local_admin: bool = True) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["pdmctl", *(["--local-admin"] if local_admin else []), *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def login_pdmctl(capsys, monkeypatch, database: str, username: str, password: str) -> None:
    """``pdmctl login`` as ``username``; later commands of the test run as that user."""
    code, out, err = run_pdmctl(
        capsys,
        monkeypatch,
        "login",
        username,
        "--password-stdin",
        "--database",
        database,
        stdin=password + "\n",
        local_admin=False,
    )
    assert code == 0, err
