"""`pdmctl assets`: a company's assets, for those who script. ``forecast``: how long until each
asset's health indicator reaches its limit, soonest first (see ``pdm.models.health``).

Runs as the logged-in user (or ``--local-admin``) with the assets page's role; a company the
caller may not see is reported as not found.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

assets_app = typer.Typer(help="Assets of one company.", no_args_is_help=True)


@assets_app.command("forecast")
def forecast(
    ctx: typer.Context,
    company: Annotated[str, typer.Option("--company", help="Company id.")],
    window_days: Annotated[float, typer.Option("--window-days", help="Days of scores the trend is fitted on.")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Time until each asset's health indicator reaches its limit, with an 80 % interval."""
    from pdm.errors import InvalidInput
    from pdm.models.forecast import DAY_S
    from pdm.models.health import company_forecasts
    from pdm.savings.kanon import K_MIN
    from pdm.storage.session import session_factory

    if not 0.01 <= window_days <= 365:
        raise InvalidInput("--window-days", window_days, "expected 0.01 to 365 days")
    cfg = _settings(settings, database)
    engine = _engine(cfg)
    _, company_id = identity.for_company(ctx, engine, cfg, page="assets", company=company)
    with session_factory(engine)() as session:
        found = company_forecasts(
            session, company_id=company_id, pool_min_companies=K_MIN, window_s=window_days * DAY_S
        )
    if as_json:
        print(json.dumps([f.as_dict() for f in found], indent=2))
        return
    table = Table("asset", "class", "status", "forecast", "limit")
    for f in found:
        table.add_row(f.asset, f.asset_class, f.forecast.status, f.forecast.sentence(), f.limit)
    out.print(table if found else f"no asset of {company} has a model yet")
