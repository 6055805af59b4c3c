"""`pdmctl alerts`: a company's alerts, for those who script."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli.common import DatabaseOpt, SettingsOpt, company as _company, engine as _engine, out, settings as _settings

alerts_app = typer.Typer(help="Alerts of one company.", no_args_is_help=True)


@alerts_app.command("list")
def alerts_list(company: Annotated[str, typer.Option(help="Company id.")], database: DatabaseOpt = None,
                settings: SettingsOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A company's alerts, open first, most severe first."""
    from pdm.alerts import list_alerts
    from pdm.demo import _iso
    from pdm.storage.session import session_factory

    with session_factory(_engine(_settings(settings, database)))() as session:
        c = _company(session, company)
        rows = [{"id": a.id, "asset": asset.slug, "status": a.status, "severity": a.severity,
                 "opened_at": _iso(a.opened_at), "last_seen_at": _iso(a.last_seen_at),
                 "sensors": [s["tag"] for s in a.sensors]} for a, asset in list_alerts(session, company_id=c.id)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "asset", "status", "severity", "opened at", "last seen", "sensors")
    for r in rows:
        table.add_row(str(r["id"]), r["asset"], r["status"], r["severity"], r["opened_at"], r["last_seen_at"],
                      ", ".join(r["sensors"]))
    out.print(table)
