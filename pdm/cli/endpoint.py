"""`pdmctl endpoint`: onboard an OPC UA server or an MQTT broker (test, browse) and watch endpoints (status).

``test`` and ``browse`` take the same security options as the plant file, validated by the
same ``EndpointConfig``; what is wrong comes out as one line: unreachable (retry later),
refused (certificate, credentials, policy: a person acts), or a bad option (exit 2).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings
from pdm.errors import PdmError

endpoint_app = typer.Typer(
    help="Endpoints (OPC UA servers, MQTT brokers): test one, browse it, show health.", no_args_is_help=True
)

Url = Annotated[str, typer.Argument(help="opc.tcp://host:port/path, or mqtt://host:port / mqtts://host:port")]
CaFile = Annotated[
    str | None, typer.Option("--ca-file", help="MQTT over TLS: the CA that signed the broker's certificate.")
]
Seconds = Annotated[float, typer.Option("--seconds", min=0.1, max=60, help="MQTT browse: how long to listen.")]
Policy = Annotated[
    str, typer.Option("--policy", help="None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss")
]
Mode = Annotated[
    str | None,
    typer.Option("--mode", help="None, Sign, SignAndEncrypt (default: SignAndEncrypt with a policy, else None)"),
]
Auth = Annotated[str, typer.Option("--auth", help="anonymous, username, certificate")]
User = Annotated[str | None, typer.Option("--username")]
PasswordEnv = Annotated[str | None, typer.Option("--password-env", help="Name of the variable holding the password.")]
PasswordEncrypted = Annotated[
    str | None,
    typer.Option(
        "--password-encrypted",
        help="The password as a token from `pdmctl secrets encrypt` (instead of --password-env).",
    ),
]
UserCert = Annotated[
    str | None, typer.Option("--user-certificate", help="X.509 user certificate (--auth certificate).")
]
UserKey = Annotated[str | None, typer.Option("--user-private-key", help="Its private key (PEM).")]
Cert = Annotated[str | None, typer.Option("--client-certificate", help="Default: <var_dir>/pki/own/cert.der")]
Key = Annotated[str | None, typer.Option("--client-private-key", help="Default: <var_dir>/pki/own/key.pem")]
TrustServer = Annotated[bool, typer.Option("--trust-server-certificate", help="Accept an unknown server certificate.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Connect and request timeout, seconds.")]


def _config(url, policy, mode, auth, username, password_env, cert, key, trust_server, timeout, **identity):
    from pdm.config import EndpointConfig, validate_model

    data = {
        "name": "cli",
        "endpoint_url": url,
        "security_policy": policy,
        "security_mode": mode or ("None" if policy == "None" else "SignAndEncrypt"),
        "auth_method": auth,
        "username": username,
        "password_env": password_env,
        "client_certificate": cert,
        "client_private_key": key,
        "trust_server_certificate": trust_server,
        "connect_timeout_s": timeout,
        "request_timeout_s": timeout,
        **identity,
    }
    return validate_model(EndpointConfig, data, "command line")


def _is_mqtt(url: str) -> bool:
    return url.startswith(("mqtt://", "mqtts://"))


def _mqtt(url, username, password_env, password_encrypted, ca_file, timeout, settings_path, database):
    """The connector of an MQTT broker, from the registry, with the settings a plant file would give."""
    from pdm.config import MqttEndpointConfig, validate_model
    from pdm.connectors import make_connector

    data = {
        "kind": "mqtt",
        "name": "cli",
        "endpoint_url": url,
        "client_id": "pdmctl-browse",
        "username": username,
        "password_env": password_env,
        "password_encrypted": password_encrypted,
        "ca_file": ca_file,
        "session_expiry_s": 0,  # a look, not a subscription the broker should keep
        "connect_timeout_s": timeout,
    }
    config = validate_model(MqttEndpointConfig, data, "command line")
    return make_connector(config, pki_dir=Path(_settings(settings_path, database).var_dir) / "pki")


def _connector(config, settings_path, database):
    from pdm.connectors.opcua import OpcUaConnector

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # our errors say it in one line
    return OpcUaConnector(config, pki_dir=Path(_settings(settings_path, database).var_dir) / "pki")


@endpoint_app.command("test")
def endpoint_test(
    url: Url,
    policy: Policy = "None",
    mode: Mode = None,
    auth: Auth = "anonymous",
    username: User = None,
    password_env: PasswordEnv = None,
    client_certificate: Cert = None,
    client_private_key: Key = None,
    trust_server_certificate: TrustServer = False,
    timeout: Timeout = 5.0,
    password_encrypted: PasswordEncrypted = None,
    user_certificate: UserCert = None,
    user_private_key: UserKey = None,
    node: Annotated[list[str] | None, typer.Option("--node", help="Node id to test-read.")] = None,
    ca_file: CaFile = None,
    settings: SettingsOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Connect, show the server's identity and limits, and test-read nodes (MQTT: log in to the broker)."""
    from pdm.connectors import is_good, status_name
    from pdm.connectors.browse import server_info

    if _is_mqtt(url):
        broker = _mqtt(url, username, password_env, password_encrypted, ca_file, timeout, settings, database)

        async def probe():
            async with broker:
                return await broker.probe()

        asyncio.run(probe())
        out.print(f"connected to {url} ({'TLS' if url.startswith('mqtts') else 'no TLS'}, {username or 'anonymous'})")
        return

    config = _config(
        url,
        policy,
        mode,
        auth,
        username,
        password_env,
        client_certificate,
        client_private_key,
        trust_server_certificate,
        timeout,
        password_encrypted=password_encrypted,
        user_certificate=user_certificate,
        user_private_key=user_private_key,
    )
    conn = _connector(config, settings, database)

    async def run():
        async with conn:
            return await server_info(conn.client), await conn.read(node or []), conn.max_nodes_per_read

    info, readings, chunk = asyncio.run(run())
    out.print(f"connected to {url} ({config.security_policy}/{config.security_mode}, {config.auth_method})")
    for key in ("ProductName", "ManufacturerName", "SoftwareVersion", "ProductUri", "State"):
        if key in info:
            out.print(f"  {key}: {info[key]}")
    limits = ", ".join(f"{k}={v if v else 'none'}" for k, v in info.items() if k.startswith("Max"))
    out.print(f"  limits: {limits}; reads will be split by {chunk}")
    out.print(f"  namespaces: {', '.join(info['namespaces'])}")
    bad = 0
    for r in readings:
        bad += not is_good(r.quality)
        out.print(f"  {r.node_id} = {r.value} ({status_name(r.quality)})")
    if bad:
        raise PdmError(f"{bad} of {len(readings)} test reads came back without a Good status")


@endpoint_app.command("browse")
def endpoint_browse(
    url: Url,
    depth: Annotated[int, typer.Option(min=1, max=10)] = 2,
    max_nodes: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    root: Annotated[str | None, typer.Option(help="Start node (default: Objects).")] = None,
    policy: Policy = "None",
    mode: Mode = None,
    auth: Auth = "anonymous",
    username: User = None,
    password_env: PasswordEnv = None,
    client_certificate: Cert = None,
    client_private_key: Key = None,
    trust_server_certificate: TrustServer = False,
    timeout: Timeout = 5.0,
    password_encrypted: PasswordEncrypted = None,
    user_certificate: UserCert = None,
    user_private_key: UserKey = None,
    ca_file: CaFile = None,
    seconds: Seconds = 3.0,
    settings: SettingsOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Print the address space as a tree (MQTT: the topics and Sparkplug B metrics heard for --seconds),
    with node ids ready for the plant file."""
    from pdm.connectors.browse import browse

    if _is_mqtt(url):
        broker = _mqtt(url, username, password_env, password_encrypted, ca_file, timeout, settings, database)

        async def listen():
            async with broker:
                return await broker.browse(max_nodes=max_nodes, seconds=seconds)

        heard, cut = asyncio.run(listen())
        for n in heard:
            line = f"{'  ' * (n.depth - 1)}{n.name} [{n.node_class}] {n.node_id} {n.data_type} = {n.value!r}"
            out.print(line, highlight=False, markup=False)
        if cut:
            out.print(f"… stopped after {max_nodes} topics and metrics (--max-nodes)")
        return

    config = _config(
        url,
        policy,
        mode,
        auth,
        username,
        password_env,
        client_certificate,
        client_private_key,
        trust_server_certificate,
        timeout,
        password_encrypted=password_encrypted,
        user_certificate=user_certificate,
        user_private_key=user_private_key,
    )
    conn = _connector(config, settings, database)

    async def run():
        async with conn:
            start = conn._node(root) if root else None
            return await browse(conn.client, root=start, depth=depth, max_nodes=max_nodes)

    nodes, truncated = asyncio.run(run())
    for n in nodes:
        detail = f" {n.data_type} = {n.value!r}" if n.node_class == "Variable" else ""
        out.print(f"{'  ' * (n.depth - 1)}{n.name} [{n.node_class}] {n.node_id}{detail}", highlight=False, markup=False)
    if truncated:
        out.print(f"… stopped after {max_nodes} nodes (--max-nodes)")


@endpoint_app.command("status")
def endpoint_status(
    ctx: typer.Context,
    company: Annotated[str, typer.Option(help="Company id.")],
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Health of a company's endpoints: state, last read, readings/s, errors (1 h), spool, reading worker."""
    from pdm.ingest.health import endpoint_health
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    _, cid = identity.for_company(ctx, engine, cfg, page="endpoints", company=company)
    with session_factory(engine)() as session:
        rows = endpoint_health(session, company_id=cid)
    table = Table(
        "endpoint",
        "enabled",
        "state",
        "last read",
        "readings/s",
        "errors 1h",
        "spool rows",
        "history",
        "backfilled",
        "worker",
        "last error",
    )
    for r in rows:
        table.add_row(
            r["name"],
            "yes" if r["enabled"] else "no",
            r["state"],
            r["last_read"],
            f"{r['readings_per_s']:.3g}",
            str(r["errors_last_hour"]),
            str(r["spool_rows"]),
            r["history"],
            str(r["backfilled"]),
            r["worker"] or "none",
            r["last_error"] or "",
        )
    out.print(table)
