"""An OPC UA endpoint as declared in a plant file or the engineer page's form, and its node→tag map."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from pdm.config.base import PositiveSeconds, Slug, _Strict


class NodeMap(_Strict):
    """One OPC UA variable mapped to one tag of one asset."""

    node_id: Annotated[str, Field(min_length=3)]
    tag: Slug
    unit: str = ""
    asset: Slug


class EndpointConfig(_Strict):
    name: Slug
    endpoint_url: Annotated[str, Field(pattern=r"^opc\.tcp://[^\s/:]+(:\d{1,5})?(/\S*)?$")]
    security_policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = "None"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = Field("None", validate_default=True)
    auth_method: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = Field(None, validate_default=True)
    # The password as a Fernet token (``pdmctl secrets encrypt``, or typed in the endpoint form);
    # decrypted only when connecting, with the key of pdm.access.crypto (never in the database).
    password_encrypted: Annotated[str, Field(pattern=r"^gAAAAA[A-Za-z0-9_=-]{20,}$")] | None = Field(None, repr=False)
    # The name of an environment variable, never the secret itself.
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(None, validate_default=True)
    # Paths of the client's application instance certificate (DER/PEM) and key (PEM); when
    # unset, the pair `pdmctl certs init` makes under <var_dir>/pki/own is used.
    client_certificate: str | None = None
    client_private_key: str | None = None
    # The X.509 identity of auth_method certificate, when it is not the application certificate:
    # a user certificate (DER/PEM) and its key (PEM, in clear or encrypted by `pdmctl certs encrypt-key`).
    user_certificate: str | None = None
    user_private_key: str | None = Field(None, validate_default=True)
    # Pin one server certificate (path): trusted without looking at the trust folder.
    server_certificate: str | None = None
    application_uri: Annotated[str, Field(pattern=r"^\S+:\S+$")] | None = None
    # Accept a server certificate the trust folder does not know (tests, first commissioning).
    trust_server_certificate: bool = False
    connect_timeout_s: PositiveSeconds = 5.0
    request_timeout_s: PositiveSeconds = 5.0
    # The longest wait between reconnect attempts. 20 s keeps data back within 30 s of a server's
    # return (longest wait + one poll + one connect: see pdm.ingest.poller.Backoff).
    reconnect_max_delay_s: PositiveSeconds = 20.0
    # poll: read every node each poll_interval_s. subscribe: the server reports changes
    # (sampled every sampling_interval_s, sent every publishing_interval_s); the worker still
    # stores what arrived every poll_interval_s.
    mode: Literal["poll", "subscribe"] = "poll"
    poll_interval_s: PositiveSeconds = 1.0
    sampling_interval_s: Annotated[float, Field(ge=0, le=86_400)] = 1.0  # explicit: asyncua's default is 50 ms
    publishing_interval_s: PositiveSeconds = 1.0
    queue_size: Annotated[int, Field(ge=0, le=10_000)] = 10
    deadband: Annotated[float, Field(ge=0)] | None = None  # absolute, in the node's unit
    max_nodes_per_read: Annotated[int, Field(ge=1, le=100_000)] | None = None
    timestamp_source: Literal["source", "server", "received"] = "source"
    enabled: bool = True
    nodes: list[NodeMap] = []

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
