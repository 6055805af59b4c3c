"""What every command group shares: options, settings, engine, the company lookup."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pdm.config import Settings, load_settings, validate_model

DEFAULT_PLANTS = Path("config/plants.example.yaml")
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Plant configuration (YAML).")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help="Database URL (default: settings).")]
SettingsOpt = Annotated[Path | None, typer.Option("--settings", help="Settings file (TOML).")]
out = Console(soft_wrap=True)  # a long path must not be broken across lines in scripts


def read_password(from_stdin: bool, *, confirm: bool = False) -> str:
    """The first line of stdin (for scripts), else a hidden prompt: never a command-line argument."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def settings(settings_path: Path | None, database: str | None) -> Settings:
    loaded = load_settings(settings_path)
    if not database:
        return loaded
    # Validated like the settings file's own value (model_copy would skip every check).
    return validate_model(Settings, {**loaded.model_dump(), "database_url": database}, "--database")


def engine(settings: Settings):
    from pdm.storage.session import make_engine

    return make_engine(settings.database_url)


def company(session, slug: str):
    from pdm.storage.catalog import company_by_slug

    return company_by_slug(session, slug)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # asyncua logs every reconnect attempt at WARNING; our ingest logs down/up once instead.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
