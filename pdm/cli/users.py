"""`pdmctl user`: add, list, disable, enable and set-password.

Only an admin may (a logged-in admin, or the host's operator with ``pdmctl --local-admin``, which
is how the first admin is made). A password is never a command-line argument (it would land in
shell history and ``ps``): it is prompted for, or read from stdin with ``--password-stdin``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out, read_password
from pdm.cli.common import company as _company
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

user_app = typer.Typer(help="Users who log in to the web app.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="User name (lower case).")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]


def _admin(ctx: typer.Context, database: str | None, settings):
    """Sessions on the database and the admin's name for the audit trail; checked before any prompt."""
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    return session_factory(engine), identity.admin(ctx, engine, cfg).username


@user_app.command("add")
def add(
    ctx: typer.Context,
    username: NameArg,
    role: Annotated[str, typer.Option("--role", help="technician, engineer, cluster_reviewer or admin.")],
    company: Annotated[str | None, typer.Option("--company", help="Company id (technician, engineer).")] = None,
    password_stdin: StdinOpt = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Add a user; technicians and engineers need --company."""
    from pdm.access import users

    factory, actor = _admin(ctx, database, settings)
    password = read_password(password_stdin, confirm=True)
    with factory.begin() as session:
        company_id = _company(session, company).id if company else None
        users.add_user(session, username=username, password=password, role=role, company_id=company_id, actor=actor)
    out.print(f"user {username} added ({role}{', ' + company if company else ''})")


@user_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """All users with role, company and state."""
    from pdm.access import users
    from pdm.storage.tables import Company

    factory, actor = _admin(ctx, database, settings)
    with factory.begin() as session:
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
def disable(ctx: typer.Context, username: NameArg, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Disable a user: refused at login, and open sessions end at once."""
    from pdm.access import users

    factory, actor = _admin(ctx, database, settings)
    with factory.begin() as session:
        users.set_enabled(session, username=username, enabled=False, actor=actor)
    out.print(f"user {username} disabled")


@user_app.command("enable")
def enable(ctx: typer.Context, username: NameArg, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Enable a disabled user again."""
    from pdm.access import users

    factory, actor = _admin(ctx, database, settings)
    with factory.begin() as session:
        users.set_enabled(session, username=username, enabled=True, actor=actor)
    out.print(f"user {username} enabled")


@user_app.command("set-password")
def set_password(
    ctx: typer.Context,
    username: NameArg,
    password_stdin: StdinOpt = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Set a new password (ends the user's sessions and clears a login lock)."""
    from pdm.access import users

    factory, actor = _admin(ctx, database, settings)
    password = read_password(password_stdin, confirm=True)
    with factory.begin() as session:
        users.set_password(session, username=username, password=password, actor=actor)
    out.print(f"password of {username} changed")


@user_app.command("unlock")
def unlock(ctx: typer.Context, username: NameArg, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Forget a user name's failed logins from every source (audited as login_unlocked)."""
    from pdm.access import users

    factory, actor = _admin(ctx, database, settings)
    with factory.begin() as session:
        forgotten = users.unlock(session, username=username, actor=actor)
    out.print(f"{username}: {forgotten} failed logins forgotten")
