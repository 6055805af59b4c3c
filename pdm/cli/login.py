"""`pdmctl login`, `logout` and `whoami`: a command-line session like the web app's.

The password is prompted for (or one line on stdin with ``--password-stdin``), checked and
throttled exactly as at the web login, with ``cli:<os user>@<host>`` as the source.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out, read_password
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings


def cli_login(
    username: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Log in: later commands on this database run as this user, for 12 hours or until logout."""
    from pdm.access import cli_sessions, local_admin, users
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    password = read_password(password_stdin)
    source = f"cli:{local_admin.os_account()}"
    with session_factory(engine)() as session:
        try:
            principal = users.authenticate(session, username=username, password=password, source=source)
            token, expires = cli_sessions.open_session(session, principal=principal, source=source)
        finally:
            session.commit()  # a refused attempt and its audit row count too
        company = _company_slug(session, principal.company_id)
    path = identity.session_file()
    key = identity.database_key(cfg.database_url)
    sessions = {k: v for k, v in identity.read_sessions(path).items() if k != key}
    sessions[key] = {"token": token, "user": principal.username, "expires_at": expires}
    identity.write_sessions(path, sessions)
    out.print(
        f"logged in as {principal.username} ({principal.role}{company}) until "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(expires))}",
        highlight=False,
    )


def cli_logout(database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """End this database's command-line session (the token stops working everywhere)."""
    from pdm.access import cli_sessions
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    path = identity.session_file()
    key = identity.database_key(cfg.database_url)
    sessions = identity.read_sessions(path)
    entry = sessions.pop(key, None)
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        out.print(f"not logged in to {key}")
        return
    with session_factory(_engine(cfg)).begin() as session:
        cli_sessions.close_session(session, token=entry["token"])
    identity.write_sessions(path, sessions)
    out.print(f"logged out of {key}")


def cli_whoami(ctx: typer.Context, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Who the next command on this database runs as."""
    cfg = _settings(settings, database)
    engine = _engine(cfg)
    principal = identity.whoami(ctx, engine, cfg)
    from pdm.storage.session import session_factory

    with session_factory(engine)() as session:
        company = _company_slug(session, principal.company_id)
    out.print(f"{principal.username} ({principal.role}{company})", highlight=False)


def _company_slug(session, company_id: int | None) -> str:
    from pdm.storage.tables import Company

    found = session.get(Company, company_id) if company_id is not None else None
    return f", {found.slug}" if found is not None else ""


login_commands = (cli_login, cli_logout, cli_whoami)
