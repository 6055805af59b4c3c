"""`pdmctl savings`: what predictive maintenance saved, as CSV, printable HTML or JSON.

``--company C`` exports that company's closed alerts (one CSV row each); ``--cluster`` the
cross-company aggregates (per company, asset class and month, never an alert row).
A bad period or format is one line naming the value (exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

# One command with options (``pdmctl savings --company C``): a callback that runs without a subcommand.
savings_app = typer.Typer(help="Savings traced to confirmed alerts, as CSV, HTML or JSON.")
FORMATS = ("csv", "html", "json")


@savings_app.callback(invoke_without_command=True)
def savings(
    ctx: typer.Context,
    company: Annotated[str | None, typer.Option("--company", help="Company id.")] = None,
    cluster: Annotated[bool, typer.Option("--cluster", help="Aggregates over every member.")] = False,
    period: Annotated[str | None, typer.Option(help="YYYY, YYYYQ1..4 or YYYY-MM (UTC).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, html or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Export the savings of one company (--company) or of the cluster (--cluster)."""
    from pdm.errors import InvalidInput
    from pdm.savings import report
    from pdm.savings.figures import cluster_view, member_view
    from pdm.savings.periods import parse_period
    from pdm.storage.session import session_factory
    from pdm.storage.tables import Company

    if (company is None) == (not cluster):
        raise InvalidInput("--company/--cluster", company, "give exactly one of --company C or --cluster")
    if fmt not in FORMATS:
        raise InvalidInput("--format", fmt, f"expected one of {', '.join(FORMATS)}")
    parse_period(period, "--period")  # before touching the database
    cfg = _settings(settings, database)
    engine = _engine(cfg)
    # The same pages as in the app: the cluster page for --cluster, the company's savings page otherwise.
    if company is None:
        identity.acting(ctx, engine, cfg, page="cluster")
        with session_factory(engine)() as session:
            view, title = cluster_view(session, period=period), "Cluster savings"
    else:
        _, company_id = identity.for_company(ctx, engine, cfg, page="savings", company=company)
        with session_factory(engine)() as session:
            found = session.get_one(Company, company_id)
            view = member_view(session, company_id=company_id, period=period)
            title = f"Savings — {found.name or found.slug}"
    text = {
        "csv": report.to_csv,
        "json": report.to_json,
        "html": lambda v: report.to_html(v, title=f"{title} — {v['period']}"),
    }[fmt](view)
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"{fmt} written to {output} (total {view['summary']['savings']})")
