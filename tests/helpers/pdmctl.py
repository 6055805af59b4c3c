"""Run ``pdmctl`` in this process (faster than a subprocess), capturing exit code, stdout and stderr."""

from __future__ import annotations

import io
import sys

from pdm.cli import main


def run_pdmctl(capsys, monkeypatch, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["pdmctl", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err
