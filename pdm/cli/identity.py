"""Who runs a ``pdmctl`` command: a user who logged in (``pdmctl login``), or the host's operator.

A command that reads or changes a company's data asks ``acting`` for its principal, and gets the
same answer the web app would give: a role that may open the matching page, pinned to its company
(another company is "not found"). Nothing here trusts a name typed on the command line.

The session token lives in a file of the user's own (``$PDMCTL_SESSION_FILE``, else
``$XDG_CONFIG_HOME/pdmctl/sessions.json``), mode 0600, one entry per database; a file others can
read is refused like ssh refuses such a key.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import typer
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from pdm.access import cli_sessions, local_admin
from pdm.access.tenancy import ADMIN, Principal, pages_for, require_company
from pdm.config import Settings
from pdm.errors import NotFound, PdmError

SESSION_FILE_ENV = "PDMCTL_SESSION_FILE"


class NotLoggedIn(PdmError):
    """No usable session for this database."""


def session_file() -> Path:
    if os.environ.get(SESSION_FILE_ENV):
        return Path(os.environ[SESSION_FILE_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "pdmctl" / "sessions.json"


def database_key(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def read_sessions(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise NotLoggedIn(f"session file {path} can be read by others (mode {mode:04o}): delete it and log in again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotLoggedIn(f"session file {path} is unreadable ({exc}): delete it and log in again") from exc
    return data if isinstance(data, dict) else {}


def write_sessions(path: Path, sessions: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(sessions, f, indent=1)
    os.chmod(tmp, 0o600)  # an older tmp file keeps its mode through O_CREAT
    os.replace(tmp, path)


def _command(ctx: typer.Context) -> str:
    return ctx.command_path.removeprefix(ctx.find_root().info_name or "").strip() or "pdmctl"


def _has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("cli_sessions")


def whoami(ctx: typer.Context, engine: Engine, settings: Settings) -> Principal:
    """The principal of this command; local-admin commands are audited in a transaction of their own."""
    from pdm.storage.session import session_factory

    if not _has_schema(engine):
        raise NotLoggedIn(
            f"database {database_key(settings.database_url)} is not initialised (or predates logins): "
            "run `pdmctl --local-admin db upgrade` on the host"
        )
    if ctx.find_root().params.get("local_admin"):
        with session_factory(engine).begin() as session:
            return local_admin.principal(session, var_dir=Path(settings.var_dir), command=_command(ctx))
    entry = read_sessions(session_file()).get(database_key(settings.database_url))
    token = entry.get("token") if isinstance(entry, dict) else None
    if isinstance(token, str):
        with session_factory(engine)() as session:
            principal = cli_sessions.principal_for(session, token=token)
        if principal is not None:
            return principal
    raise NotLoggedIn(
        f"not logged in to {database_key(settings.database_url)} (or the session ended): run `pdmctl login NAME`, "
        "or `pdmctl --local-admin ...` as the host's operator"
    )


def acting(ctx: typer.Context, engine: Engine, settings: Settings, *, page: str) -> Principal:
    """The principal, if its role may open ``page`` (a url path of ``ROLE_PAGES``) in the app."""
    principal = whoami(ctx, engine, settings)
    if page not in pages_for(principal):
        raise PdmError(f"{principal.username} ({principal.role}) may not do this: it needs the {page} page's role")
    return principal


def for_company(
    ctx: typer.Context, engine: Engine, settings: Settings, *, page: str, company: str
) -> tuple[Principal, int]:
    """The principal allowed ``page``, and the id of ``company`` if it may act on it (else NotFound)."""
    from pdm.storage.catalog import company_by_slug
    from pdm.storage.session import session_factory

    principal = acting(ctx, engine, settings, page=page)
    with session_factory(engine)() as session:
        company_id = company_by_slug(session, company).id
    try:
        return principal, require_company(principal, company_id)
    except NotFound:
        # Worded as for a company that does not exist, so a probe learns nothing.
        raise NotFound(f"company {company!r} not found") from None


def admin_around_upgrade(
    ctx: typer.Context, engine: Engine, settings: Settings, upgrade: Callable[[], None]
) -> Principal:
    """For the commands that create or migrate the schema: an admin checked first, or on a database
    without logins yet (new, or from before them) the host's operator, checked once it has the tables."""
    if _has_schema(engine):
        principal = admin(ctx, engine, settings)
        upgrade()
        return principal
    if not ctx.find_root().params.get("local_admin"):
        raise NotLoggedIn(
            f"database {database_key(settings.database_url)} has no users yet (new, or from before logins): "
            "the host's operator initialises it with `pdmctl --local-admin db upgrade`"
        )
    upgrade()
    return admin(ctx, engine, settings)


def admin(ctx: typer.Context, engine: Engine, settings: Settings) -> Principal:
    principal = whoami(ctx, engine, settings)
    if principal.role != ADMIN:
        raise PdmError(f"{principal.username} ({principal.role}) may not do this: it needs an admin")
    return principal
