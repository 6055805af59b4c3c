"""Secrets at rest: endpoint passwords as Fernet tokens, and the passphrase of our private keys.

The key never enters the database. It comes from ``PDM_FERNET_KEY`` (one key, or several
separated by commas, newest first) or else from ``<var_dir>/fernet.key`` (one key a line,
newest first; made on the first encryption, mode 0600). With several keys the first one
encrypts and every one decrypts (``MultiFernet``): that is how ``pdmctl secrets rotate``
moves stored tokens to a new key before the old one is retired.

Errors name where the secret belongs and where the key came from, never the secret or the key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pdm.errors import PdmError

KEY_ENV = "PDM_FERNET_KEY"
KEY_FILE = "fernet.key"
# Private keys are encrypted with a passphrase derived from the Fernet key, so one secret
# (kept outside the database) unlocks everything at rest; HKDF keeps the two uses apart.
_PASSPHRASE_INFO = b"pdm private key passphrase v1"


class SecretError(PdmError):
    """A stored secret cannot be used: no key, a malformed key, or a token made with another key."""


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]
    source: str  # "$PDM_FERNET_KEY" or the key file's path, for messages

    @property
    def fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    def passphrases(self) -> list[bytes]:
        """One passphrase per key, newest first (the first one encrypts)."""
        return [_passphrase(k) for k in self.keys]


def _passphrase(key: bytes) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PASSPHRASE_INFO).derive(key)
    return base64.urlsafe_b64encode(derived)


def key_file(var_dir: Path | str) -> Path:
    return Path(var_dir) / KEY_FILE


def _parse(text: str, source: str, sep: str) -> tuple[bytes, ...]:
    keys = tuple(k.strip().encode() for k in text.split(sep) if k.strip() and not k.strip().startswith("#"))
    if not keys:
        raise SecretError(f"{source}: holds no key")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise SecretError(
                f"{source}: key {n} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `pdmctl secrets new-key`)"
            ) from None
    return keys


def write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a file only its owner can read (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_keyring(var_dir: Path | str, *, env: Mapping[str, str] | None = None, create: bool = False) -> Keyring:
    """The keys from ``PDM_FERNET_KEY``, else the key file; ``create`` makes the file when neither exists."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV, "").strip():
        return Keyring(_parse(env[KEY_ENV], f"${KEY_ENV}", ","), f"${KEY_ENV}")
    path = key_file(var_dir)
    if not path.exists():
        if not create:
            raise SecretError(f"no encryption key: set {KEY_ENV} or restore {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        except OSError as exc:
            raise SecretError(f"{path}: cannot create the key file ({exc.strerror})") from None
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key() + b"\n")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    return Keyring(_parse(text, str(path), "\n"), str(path))


def encrypt(plaintext: str, *, var_dir: Path | str, env: Mapping[str, str] | None = None) -> str:
    return load_keyring(var_dir, env=env, create=True).fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, var_dir: Path | str, where: str, env: Mapping[str, str] | None = None) -> str:
    """``where`` names the secret's owner and field, e.g. ``endpoint plc: password_encrypted``."""
    try:
        ring = load_keyring(var_dir, env=env)
    except SecretError as exc:
        raise SecretError(f"{where} cannot be decrypted: {exc}") from None
    try:
        return ring.fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretError(
            f"{where} cannot be decrypted with the key in {ring.source} (made with another key, or not a token of ours)"
        ) from None


def rotate_token(token: str, ring: Keyring, *, where: str) -> str:
    """The same secret encrypted with the newest key (tokens of any key in the ring are accepted)."""
    try:
        return ring.fernet.rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretError(f"{where} cannot be decrypted with the key in {ring.source}") from None


def add_new_key(var_dir: Path | str) -> Keyring:
    """Put a fresh key first in the key file (the older ones stay, so old tokens still decrypt)."""
    ring = load_keyring(var_dir, create=True, env={})
    keys = (Fernet.generate_key(), *ring.keys)
    write_private_file(key_file(var_dir), b"\n".join(keys) + b"\n")
    return Keyring(keys, ring.source)


def retire_old_keys(var_dir: Path | str) -> Keyring:
    ring = load_keyring(var_dir, env={})
    write_private_file(key_file(var_dir), ring.keys[0] + b"\n")
    return Keyring(ring.keys[:1], ring.source)


def rotate_endpoint_tokens(session, ring: Keyring) -> list[str]:
    """Re-encrypt every endpoint's ``password_encrypted`` with the newest key; returns the endpoints' names.

    Cluster-wide by design (an operator's maintenance task). One token that no key opens
    fails the whole rotation, in the caller's transaction, so nothing is half-rotated.
    """
    from sqlalchemy import select

    from pdm.storage.tables import Company, Endpoint

    done = []
    rows = session.execute(select(Endpoint, Company.slug).join(Company, Company.id == Endpoint.company_id))
    for ep, company in rows:
        token = (ep.settings or {}).get("password_encrypted")
        if token:
            where = f"endpoint {company}/{ep.name}: password_encrypted"
            ep.settings = {**ep.settings, "password_encrypted": rotate_token(token, ring, where=where)}
            done.append(f"{company}/{ep.name}")
    return done


def check_plant_secrets(cfg, source: str, *, var_dir: Path | str, env: Mapping[str, str] | None = None) -> None:
    """Refuse a plant file whose ``password_encrypted`` tokens this service cannot decrypt, before storing it."""
    from pdm.errors import ConfigError

    for ci, company in enumerate(cfg.companies):
        for si, site in enumerate(company.sites):
            for ei, ep in enumerate(site.endpoints):
                if ep.password_encrypted:
                    field = f"companies[{ci}].sites[{si}].endpoints[{ei}].password_encrypted"
                    try:
                        decrypt(ep.password_encrypted, var_dir=var_dir, where=f"endpoint {ep.name}", env=env)
                    except SecretError as exc:
                        raise ConfigError(source, field, "(hidden)", str(exc)) from None


def endpoint_key_files(session) -> set[Path]:
    """Private key files the endpoints name (client_private_key, user_private_key), for rotation."""
    from sqlalchemy import select

    from pdm.storage.tables import Endpoint

    return {
        Path(path)
        for (settings,) in session.execute(select(Endpoint.settings))
        for path in ((settings or {}).get("client_private_key"), (settings or {}).get("user_private_key"))
        if path
    }
