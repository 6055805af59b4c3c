"""`pdmctl models`: model versions of one company."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

models_app = typer.Typer(help="Model versions of one company.", no_args_is_help=True)


def _window(start: float, end: float) -> str:
    a, b = (datetime.fromtimestamp(t, UTC) for t in (start, end))
    end = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M}"
    return f"{a:%Y-%m-%d %H:%M} – {end} UTC"


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    company: Annotated[str, typer.Option(help="Company id.")],
    asset: Annotated[str | None, typer.Option(help="Only this asset.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Model versions of a company's assets: status (active / retired / rejected / fleet),
    training window, rows, reason."""
    from sqlalchemy import select

    from pdm.errors import NotFound
    from pdm.storage.session import session_factory
    from pdm.storage.tables import Asset, ModelVersion

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    _, cid = identity.for_company(ctx, engine, cfg, page="assets", company=company)
    with session_factory(engine)() as session:
        stmt = (
            select(ModelVersion, Asset.slug)
            .join(Asset, Asset.id == ModelVersion.asset_id)
            .where(ModelVersion.company_id == cid)
            .order_by(Asset.slug, ModelVersion.version)
        )
        if asset is not None:
            if session.execute(select(Asset.id).where(Asset.company_id == cid, Asset.slug == asset)).first() is None:
                raise NotFound(f"asset {asset!r} not found for company {company!r}")
            stmt = stmt.where(Asset.slug == asset)
        rows = [
            {
                "asset": slug,
                "version": mv.version,
                "detector": mv.detector,
                "status": mv.status,
                "trained_from": mv.trained_from,
                "trained_to": mv.trained_to,
                "rows": mv.metrics.get("rows"),
                "threshold": mv.threshold,
                "reason": mv.reason or "",
                "choice": mv.metrics.get("choice"),
                "holdout": mv.metrics.get("holdout"),
            }
            for mv, slug in session.execute(stmt).all()
        ]
    if as_json:
        print(json.dumps(rows))
        return
    # One line per version (not a table): the reasons are long and a narrow terminal would chop them.
    for r in rows:
        out.print(
            f"{r['asset']} v{r['version']} {r['detector']} {r['status']}: trained on "
            f"{_window(r['trained_from'], r['trained_to'])}, {r['rows']} rows, threshold {r['threshold']:.3g}"
            f"{' — ' + r['reason'] if r['reason'] else ''}",
            highlight=False,
        )
