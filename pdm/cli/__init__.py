"""``pdmctl``: the root app lives in ``main.py``; each command group has its own module."""

from pdm.cli.main import app, main

__all__ = ["app", "main"]
