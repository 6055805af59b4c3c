"""`pdmctl models`: model versions of one company."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli.common import DatabaseOpt, SettingsOpt, company as _company, engine as _engine, out, settings as _settings

models_app = typer.Typer(help="Model versions of one company.", no_args_is_help=True)


@models_app.command("list")
def models_list(company: Annotated[str, typer.Option(help="Company id.")], database: DatabaseOpt = None,
                settings: SettingsOpt = None) -> None:
    """Model versions of a company's assets."""
    from sqlalchemy import select

    from pdm.storage.session import session_factory
    from pdm.storage.tables import Asset, ModelVersion

    with session_factory(_engine(_settings(settings, database)))() as session:
        c = _company(session, company)
        rows = session.execute(select(ModelVersion, Asset.slug).join(Asset, Asset.id == ModelVersion.asset_id)
                               .where(ModelVersion.company_id == c.id).order_by(Asset.slug, ModelVersion.version)).all()
    table = Table("asset", "version", "detector", "active", "threshold", "rows")
    for mv, slug in rows:
        table.add_row(slug, str(mv.version), mv.detector, "yes" if mv.active else "", f"{mv.threshold:.3g}",
                      str(mv.metrics.get("rows", "")))
    out.print(table)
