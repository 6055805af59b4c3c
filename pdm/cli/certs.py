"""`pdmctl certs`: this client's OPC UA certificate and the servers it trusts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pdm.cli.common import SettingsOpt, out
from pdm.cli.common import settings as _settings
from pdm.errors import ConfigError

certs_app = typer.Typer(help="OPC UA certificates: our own, and the servers we trust.", no_args_is_help=True)


def _pki(settings_path):
    from pdm.connectors.security import Pki

    return Pki(Path(_settings(settings_path, None).var_dir) / "pki")


@certs_app.command("init")
def certs_init(
    application_uri: Annotated[
        str | None, typer.Option(help="Must equal the endpoints' application_uri (default: urn:<host>:pdm:client).")
    ] = None,
    encrypt_existing: Annotated[
        bool, typer.Option(help="Encrypt an existing private key that is still in clear.")
    ] = False,
    settings: SettingsOpt = None,
) -> None:
    """Create the client certificate and key (kept if they exist and are still valid); the key is encrypted."""
    from pdm.connectors.security import (
        default_application_uri,
        init_client_certificate,
        private_key_password,
        thumbprint,
    )

    pki = _pki(settings)
    uri = application_uri or default_application_uri()
    cert, key, created = asyncio.run(init_client_certificate(pki, uri, encrypt_existing=encrypt_existing))
    state = (
        "encrypted"
        if private_key_password(key, var_dir=pki.var_dir)
        else "in clear: run `pdmctl certs init --encrypt-existing`"
    )
    out.print(
        f"{'created' if created else 'kept'} {cert} (key {key}, {state}), application URI {uri}, "
        f"SHA-1 {thumbprint(cert.read_bytes())}"
    )
    out.print(f"servers that check clients must trust {cert}; trusted servers go in {pki.trusted}/")


@certs_app.command("trust")
def certs_trust(
    path: Annotated[Path, typer.Argument(help="Server certificate (DER or PEM), e.g. from rejected/.")],
    settings: SettingsOpt = None,
) -> None:
    """Trust a server certificate (copies it into the trust folder)."""
    from pdm.connectors.security import describe, trust

    try:
        target = trust(path, _pki(settings))
    except OSError as exc:
        raise ConfigError("certs trust", "path", str(path), exc.strerror or str(exc)) from None
    except ValueError as exc:
        raise ConfigError("certs trust", "path", str(path), f"not a certificate: {exc}") from None
    out.print(f"trusted {describe(target.read_bytes())} as {target}")


@certs_app.command("list")
def certs_list(settings: SettingsOpt = None) -> None:
    """Our certificate, trusted and rejected server certificates."""
    from pdm.connectors.security import describe, thumbprint, to_der

    pki = _pki(settings)
    files = [("own", pki.own_cert)] if pki.own_cert.exists() else []
    for kind, folder in (("trusted", pki.trusted), ("rejected", pki.rejected)):
        files += [(kind, p) for p in sorted(folder.glob("*")) if p.is_file()] if folder.is_dir() else []
    for kind, path in files:
        der = to_der(path.read_bytes())
        out.print(f"{kind:8} {thumbprint(der)} {describe(der)}  {path}", highlight=False, markup=False)
    if not files:
        out.print(f"no certificates under {pki.root}: run `pdmctl certs init`")


@certs_app.command("encrypt-key")
def certs_encrypt_key(
    path: Annotated[Path, typer.Argument(help="A PEM private key, e.g. a user_private_key.")],
    settings: SettingsOpt = None,
) -> None:
    """Encrypt a PEM private key in place with the service's key (for user_private_key / client_private_key)."""
    from pdm.connectors.security import encrypt_key_file

    encrypt_key_file(path, var_dir=_pki(settings).var_dir, field="path")
    out.print(f"encrypted {path} (mode 0600); it opens only with the key in $PDM_FERNET_KEY or the key file")
