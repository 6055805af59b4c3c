"""`pdmctl audit list`: the security audit log, newest first.

Admins only: a logged-in admin (``pdmctl login``) or the host's operator (``--local-admin``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import company as _company
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

audit_app = typer.Typer(help="Security audit log.", no_args_is_help=True)


@audit_app.command("list")
def list_(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option("--action", help="Only this action (e.g. login_failed).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this actor.")] = None,
    company: Annotated[str | None, typer.Option("--company", help="Only this company id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Logins, failed logins, user, endpoint and alert-closure events."""
    from pdm.access import audit
    from pdm.demo.run import _iso
    from pdm.errors import PdmError
    from pdm.storage.session import session_factory

    if action is not None and action not in audit.ACTIONS:
        raise PdmError(f"--action = {action!r}: expected one of {', '.join(audit.ACTIONS)}")
    cfg = _settings(settings, database)
    engine = _engine(cfg)
    principal = identity.admin(ctx, engine, cfg)
    with session_factory(engine)() as session:
        company_id = _company(session, company).id if company else None
        events = audit.list_events(
            session, principal=principal, action=action, actor=user, company_id=company_id, limit=limit
        )
        rows = [
            {
                "at": _iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "company_id": e.company_id,
                "target": e.target,
                "details": e.details,
            }
            for e in events
        ]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("at", "actor", "action", "company", "target", "details")
    for r in rows:
        table.add_row(
            r["at"],
            r["actor"],
            r["action"],
            str(r["company_id"] or ""),
            r["target"],
            json.dumps(r["details"]) if r["details"] else "",
        )
    out.print(table)
