"""`pdmctl user`: add, list, disable, enable and set-password.

A password is never a command-line argument (it would land in shell history and ``ps``):
it is prompted for, or read from stdin with ``--password-stdin`` for scripts.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import company as _company
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

user_app = typer.Typer(help="Users who log in to the web app.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="User name (lower case).")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]
ACTOR = "pdmctl"


@contextmanager
def _session(database: str | None, settings):
    from pdm.storage.session import session_factory

    with session_factory(_engine(_settings(settings, database))).begin() as session:
        yield session


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def add(
    username: NameArg,
    role: Annotated[str, typer.Option("--role", help="technician, engineer, cluster_reviewer or admin.")],
    company: Annotated[str | None, typer.Option("--company", help="Company id (technician, engineer).")] = None,
    password_stdin: StdinOpt = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Add a user; technicians and engineers need --company."""
    from pdm.access import users

    password = _password(password_stdin)
    with _session(database, settings) as session:
        company_id = _company(session, company).id if company else None
        users.add_user(session, username=username, password=password, role=role, company_id=company_id, actor=ACTOR)
    out.print(f"user {username} added ({role}{', ' + company if company else ''})")


@user_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json")] = False, database: DatabaseOpt = None, settings: SettingsOpt = None
) -> None:
    """All users with role, company and state."""
    from pdm.access import users
    from pdm.storage.tables import Company

    with _session(database, settings) as session:
        slugs = {c.id: c.slug for c in session.query(Company)}
        rows = [
            {"user": u.username, "role": u.role, "company": slugs.get(u.company_id), "enabled": u.enabled}
            for u in users.list_users(session)
        ]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("user", "role", "company", "enabled")
    for r in rows:
        table.add_row(r["user"], r["role"], r["company"] or "", "yes" if r["enabled"] else "no")
    out.print(table)


@user_app.command("disable")
def disable(username: NameArg, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Disable a user: refused at login, and open sessions end at once."""
    from pdm.access import users

    with _session(database, settings) as session:
        users.set_enabled(session, username=username, enabled=False, actor=ACTOR)
    out.print(f"user {username} disabled")


@user_app.command("enable")
def enable(username: NameArg, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Enable a disabled user again."""
    from pdm.access import users

    with _session(database, settings) as session:
        users.set_enabled(session, username=username, enabled=True, actor=ACTOR)
    out.print(f"user {username} enabled")


@user_app.command("set-password")
def set_password(
    username: NameArg, password_stdin: StdinOpt = False, database: DatabaseOpt = None, settings: SettingsOpt = None
) -> None:
    """Set a new password (ends the user's sessions and clears a login lock)."""
    from pdm.access import users

    password = _password(password_stdin)
    with _session(database, settings) as session:
        users.set_password(session, username=username, password=password, actor=ACTOR)
    out.print(f"password of {username} changed")
