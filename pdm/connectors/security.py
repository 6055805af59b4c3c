"""Certificates for OPC UA: our client's own pair, and the folder of servers we trust.

Layout (the one UA SDKs use, so operators recognise it), under ``<var_dir>/pki``::

    own/cert.der  own/key.pem    this client's application instance certificate and key
                                 (the key PEM-encrypted with a passphrase derived from the
                                 Fernet key of ``pdm.access.crypto``, so no private key lies in clear)
    trusted/                     server certificates we accept (DER or PEM, any file name)
    rejected/                    certificates we refused, kept so a person can trust them

An unknown server certificate is never accepted silently: it is copied to ``rejected/`` and
the connection is refused with the command that trusts it, unless the endpoint says
``trust_server_certificate: true``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from pdm.access import crypto
from pdm.errors import EndpointRefused

log = logging.getLogger(__name__)

POLICY_NAMES = ("Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")


class _HideIdentityTokens(logging.Filter):
    """asyncua logs every request it sends at DEBUG, ActivateSession included, whose user name
    token carries the password (in clear when the server's token policy does not encrypt it):
    that one record is rewritten without its parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if any(
            type(a).__name__ == "ActivateSessionRequest"
            for a in (record.args or ())
            if not isinstance(record.args, dict)
        ):
            record.msg, record.args = "Sending: ActivateSessionRequest (identity token not logged)", ()
        return True


_HIDE_TOKENS = _HideIdentityTokens()
_SENDING_LOGGER = "asyncua.client.ua_client.UASocketProtocol"


def hide_identity_tokens_in_logs() -> None:
    """Idempotent; a filter on the logger that makes the record, so no handler ever sees the token."""
    logger = logging.getLogger(_SENDING_LOGGER)
    if _HIDE_TOKENS not in logger.filters:
        logger.addFilter(_HIDE_TOKENS)


def policy_class(name: str):
    from asyncua.crypto import security_policies as sp

    return {
        "None": sp.SecurityPolicyNone,
        "Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
        "Aes128_Sha256_RsaOaep": sp.SecurityPolicyAes128Sha256RsaOaep,
        "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss,
    }[name]


def policy_name(uri: str) -> str:
    """``http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256`` → ``Basic256Sha256``."""
    return uri.rpartition("#")[2] or uri


def default_pki_dir() -> Path:
    return Path(os.environ.get("PDM_VAR_DIR", "var")) / "pki"


def default_application_uri() -> str:
    # Servers check that the certificate's URI SAN equals the URI the client announces.
    return f"urn:{socket.gethostname()}:pdm:client"


@dataclass(frozen=True)
class Pki:
    root: Path

    @property
    def var_dir(self) -> Path:
        """Where the Fernet key file lives: the folder above ``pki``."""
        return self.root.parent

    @property
    def own_cert(self) -> Path:
        return self.root / "own" / "cert.der"

    @property
    def own_key(self) -> Path:
        return self.root / "own" / "key.pem"

    @property
    def trusted(self) -> Path:
        return self.root / "trusted"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"


def to_der(data: bytes) -> bytes:
    if data.lstrip().startswith(b"-----BEGIN"):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


def thumbprint(der: bytes) -> str:
    """SHA-1 of the DER certificate: the thumbprint OPC UA tools display."""
    return hashlib.sha1(der).hexdigest()


def describe(der: bytes) -> str:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "unreadable certificate"


def private_key_password(path: Path, *, var_dir: Path, field: str = "client_private_key") -> bytes | None:
    """The passphrase that opens this PEM key: None for a key in clear (older installs keep working)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EndpointRefused(f"{field} {str(path)!r} cannot be read: {exc.strerror}") from None
    if b"ENCRYPTED" not in data:
        return None
    try:
        ring = crypto.load_keyring(var_dir)
    except crypto.SecretError as exc:
        raise EndpointRefused(f"{field} {str(path)!r} is encrypted and {exc}") from None
    for passphrase in ring.passphrases():
        try:
            load_pem_private_key(data, password=passphrase)
        except (ValueError, TypeError):
            continue
        return passphrase
    raise EndpointRefused(f"{field} {str(path)!r} cannot be decrypted with the key in {ring.source}")


def load_private_key(path: Path, *, var_dir: Path, field: str = "client_private_key"):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    password = private_key_password(path, var_dir=var_dir, field=field)
    try:
        return load_pem_private_key(Path(path).read_bytes(), password=password), password
    except (ValueError, TypeError) as exc:
        raise EndpointRefused(f"{field} {str(path)!r} is not a PEM private key ({exc})") from None


def write_encrypted_key(path: Path, key, *, var_dir: Path) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat

    passphrase = crypto.load_keyring(var_dir, create=True).passphrases()[0]
    crypto.write_private_file(
        Path(path), key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase))
    )


def encrypt_key_file(path: Path, *, var_dir: Path, field: str = "private key") -> None:
    """Rewrite a PEM key (in clear, or under an older key's passphrase) under the newest passphrase."""
    key, _ = load_private_key(path, var_dir=var_dir, field=field)
    write_encrypted_key(path, key, var_dir=var_dir)


async def init_client_certificate(
    pki: Pki, application_uri: str, *, encrypt_existing: bool = False
) -> tuple[Path, Path, bool]:
    """Make our certificate and key if missing or no longer valid; returns (cert, key, created).

    A new key is written encrypted from the start; an existing key in clear is kept as it is
    unless ``encrypt_existing``.
    """
    from asyncua.crypto import cert_gen, uacrypto
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    host = socket.gethostname()
    before = pki.own_cert.read_bytes() if pki.own_cert.exists() else None
    pki.own_cert.parent.mkdir(parents=True, exist_ok=True)
    if pki.own_key.exists():
        key, password = load_private_key(pki.own_key, var_dir=pki.var_dir)
        if encrypt_existing and password is None:
            write_encrypted_key(pki.own_key, key, var_dir=pki.var_dir)
    else:
        key, before = cert_gen.generate_private_key(), None  # a new key always gets a new certificate
        write_encrypted_key(pki.own_key, key, var_dir=pki.var_dir)
    if before is None or uacrypto.check_certificate(x509.load_der_x509_certificate(before), application_uri, host):
        cert = cert_gen.generate_self_signed_app_certificate(
            key,
            application_uri,
            {"organizationName": "pdm"},
            [x509.UniformResourceIdentifier(application_uri), x509.DNSName(host)],
            extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
            days=365,
        )
        pki.own_cert.write_bytes(cert.public_bytes(Encoding.DER))
    os.chmod(pki.own_key, 0o600)  # the key is the client's identity
    return pki.own_cert, pki.own_key, pki.own_cert.read_bytes() != before


def _known(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    out = set()
    for path in folder.iterdir():
        if path.is_file():
            try:
                out.add(thumbprint(to_der(path.read_bytes())))
            except (OSError, ValueError):
                log.warning("ignoring unreadable certificate %s", path)
    return out


def check_server_certificate(
    der: bytes, *, pki: Pki, url: str, accept_unknown: bool = False, pinned: str | None = None
) -> None:
    """Raise ``EndpointRefused`` unless this server certificate is one we trust."""
    thumb = thumbprint(der)
    if pinned is not None:
        try:
            expected = thumbprint(to_der(Path(pinned).read_bytes()))
        except OSError as exc:
            raise EndpointRefused(f"server_certificate {pinned!r} cannot be read: {exc.strerror}") from None
        if expected != thumb:
            raise EndpointRefused(
                f"{url}: the server's certificate ({describe(der)}, SHA-1 {thumb}) is not the "
                f"one pinned in server_certificate {pinned!r}"
            )
        return
    if thumb in _known(pki.trusted) or accept_unknown:
        return
    pki.rejected.mkdir(parents=True, exist_ok=True)
    saved = pki.rejected / f"{thumb}.der"
    saved.write_bytes(der)
    raise EndpointRefused(
        f"{url}: server certificate {describe(der)} (SHA-1 {thumb}) is not trusted. If it is the right server, "
        f"trust it with `pdmctl certs trust {saved}` (copies it to {pki.trusted}/), "
        "or set trust_server_certificate: true on this endpoint"
    )


def trust(path: Path, pki: Pki) -> Path:
    der = to_der(Path(path).read_bytes())
    pki.trusted.mkdir(parents=True, exist_ok=True)
    target = pki.trusted / f"{thumbprint(der)}.der"
    target.write_bytes(der)
    if Path(path).resolve().parent == pki.rejected.resolve():
        Path(path).unlink()
    return target
