"""An OPC UA endpoint as declared in a plant file or the engineer page's form, and its node→tag map."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from pdm.config.base import (
    ENV_NAME,
    BackfillHours,
    Flag,
    PathText,
    PositiveSeconds,
    Real,
    Slug,
    Text,
    Whole,
    _Strict,
    secret_like,
)
from pdm.config.nodeids import node_id_problem

_OPC_URL = re.compile(r"^opc\.tcp://(?P<host>\[[^\]\s/]*\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?(?P<path>/\S*)?$")


def _node_id(value: str) -> str:
    problem = node_id_problem(value)
    if problem:
        raise ValueError(f"not an OPC UA node id: {problem}")
    return value


def _opc_url(url: str) -> str:
    """``opc.tcp://host[:port][/path]``: a host name, an IPv4 address or a bracketed IPv6 address,
    and a port from 1 to 65535 (4840 when left out)."""
    m = _OPC_URL.match(url) if len(url) <= 2048 else None
    if m is None:
        raise ValueError("expected opc.tcp://host[:port][/path] (an IPv6 host in brackets: opc.tcp://[::1]:4840)")
    host, port = m["host"], m["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError("the host in brackets is not an IPv6 address") from None
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    return url


def env_name(advice: str):
    """The name of an environment variable holding a secret; a value that looks like the secret
    itself is refused with ``advice`` (and never echoed: see pdm.config.base.SECRET_FIELDS)."""

    def check(name: str) -> str:
        if secret_like(name):
            raise ValueError(f"this looks like a password, not the name of an environment variable: {advice}")
        if not re.match(ENV_NAME, name):
            raise ValueError("not an environment variable name (letters, digits and _, not starting with a digit)")
        return name

    return AfterValidator(check)


EnvName = Annotated[
    str,
    env_name(
        "put the password in an environment variable and give its name here, "
        "or store it encrypted as password_encrypted (`pdmctl secrets encrypt`)"
    ),
]


class NodeMap(_Strict):
    """One OPC UA variable mapped to one tag of one asset."""

    # Parsed by asyncua's parser (the connector's) when loaded, not when first read.
    node_id: Annotated[str, AfterValidator(_node_id)]
    tag: Slug
    unit: Annotated[str, Field(max_length=32)] = ""
    asset: Slug


class EndpointConfig(_Strict):
    # Left out in plant files written before other kinds existed (pdm.config.kinds picks the model).
    kind: Literal["opcua"] = "opcua"
    name: Slug
    endpoint_url: Annotated[str, AfterValidator(_opc_url)]
    security_policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = "None"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field("None", validate_default=True)
    auth_method: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: Text | None = Field(None, validate_default=True)
    # The password as a Fernet token (``pdmctl secrets encrypt``, or typed in the endpoint form);
    # decrypted only when connecting, with the key of pdm.access.crypto (never in the database).
    password_encrypted: Annotated[str, Field(pattern=r"^gAAAAA[A-Za-z0-9_=-]{20,}$")] | None = Field(None, repr=False)
    # The name of an environment variable, never the secret itself.
    password_env: EnvName | None = Field(None, validate_default=True)
    # Paths of the client's application instance certificate (DER/PEM) and key (PEM); when
    # unset, the pair `pdmctl certs init` makes under <var_dir>/pki/own is used.
    client_certificate: PathText | None = None
    client_private_key: PathText | None = None
    # The X.509 identity of auth_method certificate, when it is not the application certificate:
    # a user certificate (DER/PEM) and its key (PEM, in clear or encrypted by `pdmctl certs encrypt-key`).
    user_certificate: PathText | None = None
    user_private_key: PathText | None = Field(None, validate_default=True)
    # Pin one server certificate (path): trusted without looking at the trust folder.
    server_certificate: PathText | None = None
    application_uri: Annotated[str, Field(pattern=r"^\S+:\S+$", max_length=2048)] | None = None
    # Accept a server certificate the trust folder does not know (tests, first commissioning).
    trust_server_certificate: Flag = False
    connect_timeout_s: PositiveSeconds = 5.0
    request_timeout_s: PositiveSeconds = 5.0
    # The longest wait between reconnect attempts. 20 s keeps data back within 30 s of a server's
    # return (longest wait + one poll + one connect: see pdm.ingest.reconnect.Backoff).
    reconnect_max_delay_s: PositiveSeconds = 20.0
    # poll: read every node each poll_interval_s. subscribe: the server reports changes
    # (sampled every sampling_interval_s, sent every publishing_interval_s); the worker still
    # stores what arrived every poll_interval_s.
    mode: Literal["poll", "subscribe"] = "poll"
    poll_interval_s: PositiveSeconds = 1.0
    # Explicit (asyncua's default is 50 ms); 0 is OPC UA's "as fast as the server can", else >= 10 ms.
    sampling_interval_s: Annotated[Real, Field(ge=0, le=86_400)] = 1.0
    publishing_interval_s: PositiveSeconds = 1.0
    queue_size: Annotated[Whole, Field(ge=0, le=10_000)] = 10
    deadband: Annotated[Real, Field(ge=0, le=1e9)] | None = None  # absolute, in the node's unit
    max_nodes_per_read: Annotated[Whole, Field(ge=1, le=100_000)] | None = None
    timestamp_source: Literal["source", "server", "received"] = "source"
    # A timestamp further ahead of the receive time than this is a clock gone wrong (a time zone
    # stamped as UTC), not a reading from the future; at least 1 s (clocks drift), at most a day.
    timestamp_max_future_s: Annotated[Real, Field(ge=1, le=86_400)] = 300.0
    # What times a reading whose timestamp is missing, before 2000, too far ahead or stuck:
    # the server's timestamp (when it is itself sane, else the receive time), or the receive time.
    timestamp_fallback: Literal["server", "received"] = "server"
    # Read back from the server's history at most this far after an outage or a take-over; older is a gap.
    backfill_max_h: BackfillHours = 24.0
    enabled: Flag = True
    nodes: list[NodeMap] = []

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: object) -> object:
        if kind != "opcua":
            raise ValueError("unknown endpoint kind: expected opcua or mqtt")
        return kind

    @field_validator("sampling_interval_s")
    @classmethod
    def _sampling_floor(cls, value: float) -> float:
        if 0 < value < 0.01:
            raise ValueError("must be 0 (as fast as the server can) or at least 0.01 s")
        return value

    @field_validator("client_certificate", "client_private_key", "user_certificate", "user_private_key")
    @classmethod
    def _a_path_not_a_pem(cls, value: str | None) -> str | None:
        if value is not None and ("-----BEGIN" in value or "\n" in value):
            raise ValueError("expected the path of a file, not its contents")
        return value

    # Cross-field rules as field validators (fields are checked in order, so the earlier ones
    # are in info.data): the error then names its field, and a form shows it next to it.
    @field_validator("security_mode")
    @classmethod
    def _mode_matches_policy(cls, mode: str, info: ValidationInfo) -> str:
        policy = info.data.get("security_policy", "None")
        if (policy == "None") != (mode == "None"):
            need = "None" if policy == "None" else "Sign or SignAndEncrypt"
            raise ValueError(f"security_policy {policy} needs security_mode {need}")
        return mode

    @field_validator("auth_method")
    @classmethod
    def _certificate_needs_secure_channel(cls, method: str, info: ValidationInfo) -> str:
        if method == "certificate" and info.data.get("security_policy", "None") == "None":
            raise ValueError("a certificate identity needs a security_policy other than None")
        return method

    @field_validator("username", "password_env")
    @classmethod
    def _required_for_username_auth(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.field_name == "password_env" and info.data.get("password_encrypted"):
            if value:
                raise ValueError("give either password_env or password_encrypted, not both")
            return value
        if info.data.get("auth_method") == "username" and not value:
            what = (
                "the name of the environment variable holding the password, or password_encrypted"
                if info.field_name == "password_env"
                else "the user name"
            )
            raise ValueError(f"required when auth_method is username ({what})")
        return value

    @field_validator("user_private_key")
    @classmethod
    def _user_identity_pair(cls, key: str | None, info: ValidationInfo) -> str | None:
        cert = info.data.get("user_certificate")
        if (cert is None) != (key is None):
            raise ValueError("user_certificate and user_private_key go together")
        if cert is not None and info.data.get("auth_method") != "certificate":
            raise ValueError("a user certificate is only used when auth_method is certificate")
        return key
