"""`pdmctl secrets`: encrypt an endpoint password, make a key, rotate the key.

The password is never a command-line argument: it is read from stdin (one line) or a hidden prompt.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings
from pdm.errors import ConfigError

secrets_app = typer.Typer(help="Secrets at rest: endpoint passwords and the encryption key.", no_args_is_help=True)


def _read_secret() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True)
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@secrets_app.command("encrypt")
def secrets_encrypt(settings: SettingsOpt = None) -> None:
    """Read a password on stdin and print its token, for `password_encrypted:` in the plant file."""
    from pdm.access.crypto import encrypt

    secret = _read_secret()
    if not secret:
        raise ConfigError("stdin", "password", None, "empty: give the password as one line on stdin")
    print(encrypt(secret, var_dir=Path(_settings(settings, None).var_dir)))


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new Fernet key (for PDM_FERNET_KEY: put it first, keep the old one after a comma, rotate)."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def secrets_rotate(
    ctx: typer.Context,
    retire_old: Annotated[
        bool, typer.Option(help="Drop the older keys from the key file once everything is re-encrypted.")
    ] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Re-encrypt stored endpoint passwords and our private key with the newest key.

    With a key file, a new key is added first; with PDM_FERNET_KEY, put the new key first in it.
    """
    import os

    from pdm.access import audit, crypto
    from pdm.connectors.security import Pki, encrypt_key_file, private_key_password
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    var_dir = Path(cfg.var_dir)
    from_env = bool(os.environ.get(crypto.KEY_ENV, "").strip())
    if from_env and retire_old:
        raise ConfigError(f"${crypto.KEY_ENV}", "--retire-old", True, "remove the old keys from the variable instead")
    engine = _engine(cfg)
    actor = identity.admin(ctx, engine, cfg).username  # before a new key is written
    ring = crypto.load_keyring(var_dir) if from_env else crypto.add_new_key(var_dir)
    with session_factory(engine).begin() as session:
        names = crypto.rotate_endpoint_tokens(session, ring)
        key_files = {Pki(var_dir / "pki").own_key} | crypto.endpoint_key_files(session)
        audit.record(
            session, actor=actor, action="secrets_rotated", target=ring.source, details={"endpoints": len(names)}
        )
    for key_file in sorted(key_files):  # every encrypted private key moves to the newest passphrase too
        if key_file.exists() and private_key_password(key_file, var_dir=var_dir, field="private key") is not None:
            encrypt_key_file(key_file, var_dir=var_dir, field="private key")
            out.print(f"re-encrypted {key_file}")
    if retire_old:
        crypto.retire_old_keys(var_dir)
    out.print(
        f"re-encrypted {len(names)} endpoint passwords with the newest key of {ring.source}"
        + (" (older keys retired)" if retire_old else "")
    )
