"""``pdmctl``: the command line of the service.

Every failure the user can fix comes out as one line on stderr (exit 2 for configuration,
1 otherwise), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import click
import typer

try:
    from typer._click.exceptions import ClickException as TyperClickException
except ImportError:  # a typer that uses the standalone click
    TyperClickException = click.exceptions.ClickException

from pdm.cli import identity
from pdm.cli.alerts import alerts_app
from pdm.cli.assets import assets_app
from pdm.cli.audit import audit_app
from pdm.cli.bench import bench_app
from pdm.cli.certs import certs_app
from pdm.cli.common import DEFAULT_PLANTS, ConfigOpt, DatabaseOpt, SettingsOpt, out, setup_logging
from pdm.cli.common import company as _company
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings
from pdm.cli.endpoint import endpoint_app
from pdm.cli.login import login_commands
from pdm.cli.models import models_app
from pdm.cli.savings import savings_app
from pdm.cli.secrets import secrets_app
from pdm.cli.users import user_app
from pdm.config import FaultConfig, PlantConfig, load_plants, load_settings, parse_plants
from pdm.errors import ConfigError, PdmError

app = typer.Typer(
    help="Shared predictive maintenance service: ingest, detect, alert.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Plant configuration files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(alerts_app, name="alerts")
app.add_typer(assets_app, name="assets")
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(certs_app, name="certs")
app.add_typer(savings_app, name="savings")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(secrets_app, name="secrets")
for command in login_commands:
    app.command(command.__name__.removeprefix("cli_"))(command)


@app.callback()
def identity_options(
    local_admin: Annotated[
        bool,
        typer.Option(
            "--local-admin",
            help=(
                "Act as the host's operator: needs the service's secret key (var/secret.key or PDM_SECRET_KEY); "
                "audited as local_admin with your OS account."
            ),
        ),
    ] = False,
) -> None:
    """Commands on a company's data run as the user of `pdmctl login`, or with --local-admin on the host."""


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context, database: DatabaseOpt = None, settings: SettingsOpt = None, revision: str = "head"
) -> None:
    """Create or migrate the schema to the latest (or given) revision (an admin; a new database: --local-admin)."""
    from pdm.storage.session import upgrade

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    identity.admin_around_upgrade(ctx, engine, cfg, lambda: upgrade(engine, revision))
    out.print(f"database at revision {revision}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Migrate the schema down to REVISION ('base' drops everything); an admin only."""
    from pdm.storage.session import downgrade

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    identity.admin(ctx, engine, cfg)
    downgrade(engine, revision)
    out.print(f"database at revision {revision}")


@db_app.command("maintain")
def db_maintain(ctx: typer.Context, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Partitions ahead (PostgreSQL); raw readings past retention.raw_days into 1-minute aggregates."""
    from sqlalchemy import inspect

    from pdm.storage.retention import maintain

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    if not inspect(engine).has_table("readings_1m"):  # never initialised, or from before retention
        raise PdmError(
            f"database {engine.url.render_as_string()} has no readings_1m table: "
            "run `pdmctl --local-admin db upgrade` first"
        )
    identity.admin(ctx, engine, cfg)
    r = maintain(engine, cfg.retention)
    out.print(
        f"partitions created {len(r.partitions_created)}, dropped {len(r.partitions_dropped)}; "
        f"raw readings aggregated and removed {r.rows_aggregated}; aggregates expired {r.aggregates_deleted}; "
        f"{r.transactions} transactions" + (f"; left for next run: {', '.join(r.skipped)}" if r.skipped else "")
    )


@config_app.command("check")
def config_check(path: Path) -> None:
    """Validate a plant file without touching the database."""
    cfg = load_plants(path)
    assets = sum(1 for _ in cfg.iter_assets())
    endpoints = list(cfg.iter_endpoints())
    tags = sum(len(e.nodes) for _, _, e in endpoints)
    out.print(f"{path}: OK — {len(cfg.companies)} companies, {assets} assets, {len(endpoints)} endpoints, {tags} tags")


@config_app.command("apply")
def config_apply(ctx: typer.Context, path: Path, database: DatabaseOpt = None, settings: SettingsOpt = None) -> None:
    """Load a plant file into the database (idempotent)."""
    from pdm.access import audit
    from pdm.access.crypto import check_plant_secrets
    from pdm.storage.catalog import apply_plants
    from pdm.storage.session import session_factory, upgrade

    cfg = load_plants(path)
    service = _settings(settings, database)
    check_plant_secrets(cfg, str(path), var_dir=Path(service.var_dir))
    engine = _engine(service)
    actor = identity.admin_around_upgrade(ctx, engine, service, lambda: upgrade(engine)).username
    with session_factory(engine).begin() as session:
        before = audit.endpoint_snapshot(session)
        s = apply_plants(session, cfg)
        audit.record_endpoint_changes(session, actor=actor, before=before, after=audit.endpoint_snapshot(session))
    out.print(
        f"applied {path}: {s.companies} companies, {s.sites} sites, {s.assets} assets, "
        f"{s.endpoints} endpoints, {s.tags} tags"
    )


def parse_fault(text: str) -> FaultConfig:
    """``company/asset:kind:start_min:end_min[:ramp_min]``."""
    parts = text.split(":")
    if len(parts) not in (4, 5) or "/" not in parts[0]:
        raise ConfigError("--fault", "fault", text, "expected company/asset:kind:start_min:end_min[:ramp_min]")
    company, asset = parts[0].split("/", 1)
    data = {"company": company, "asset": asset, "kind": parts[1], "start_min": parts[2], "end_min": parts[3]}
    if len(parts) == 5:
        data["ramp_min"] = parts[4]
    from pdm.config import validate_model

    return validate_model(FaultConfig, data, "--fault")


def _plants_with(path: Path, faults: list[str] | None) -> PlantConfig:
    cfg = load_plants(path)
    if faults:
        data = cfg.model_dump(mode="json")
        data["simulation"]["faults"] = [parse_fault(f).model_dump(mode="json") for f in faults]
        cfg = parse_plants(data, f"{path} + --fault")
    return cfg


@app.command()
def simulate(
    config: ConfigOpt = DEFAULT_PLANTS,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: from config).")] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="Replace the fault schedule: company/asset:kind:start_min:end_min[:ramp_min]"),
    ] = None,
    demo_technician_after: Annotated[
        float | None,
        typer.Option(hidden=True, help="Demo only: close alerts as a technician after this many simulated minutes."),
    ] = None,
) -> None:
    """Serve the simulated plant's OPC UA endpoints until Ctrl-C."""
    from pdm.simulator import SimulatedPlant

    setup_logging()
    plants = _plants_with(config, fault)

    async def serve():
        async with SimulatedPlant(plants, speed=speed, seed=seed, source=str(config)) as plant:
            for _, _, ep in plants.iter_endpoints():
                out.print(f"serving {ep.endpoint_url}")
            for f in plant.faults:
                out.print(f"fault {f['kind']} on {f['company']}/{f['asset']}: {f['start']:%H:%M} → {f['end']:%H:%M}")
            if demo_technician_after is not None:
                from pdm.demo.run import demo_technician

                asyncio.create_task(demo_technician(plant, load_settings().database_url, demo_technician_after))
            await _until_signalled()

    asyncio.run(serve())


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


class WorkerRole(str, Enum):
    ingest = "ingest"
    scheduler = "scheduler"
    all = "all"


@app.command()
def worker(
    config: ConfigOpt = DEFAULT_PLANTS,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
    role: Annotated[
        WorkerRole,
        typer.Option(
            help=(
                "ingest: read a fair share of the endpoints (run as many as you like); scheduler: train, score "
                "and notify (one leader per database); all: both."
            )
        ),
    ] = WorkerRole.all,
    wait: Annotated[bool, typer.Option(help="Stand by for the scheduler lock instead of exiting.")] = False,
    verbose: bool = False,
) -> None:
    """Poll endpoints, train and score models, raise alerts (one scheduler per database)."""
    from pdm.runtime.worker import Worker

    setup_logging(verbose)
    plants = load_plants(config)
    cfg = _settings(settings, database)
    engine = _engine(cfg)

    async def run():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await Worker(engine=engine, settings=cfg, detection=plants.detection, role=role.value, wait=wait).run(stop)

    asyncio.run(run())


@app.command()
def train(
    ctx: typer.Context,
    company: Annotated[str, typer.Option(help="Company id.")],
    asset: Annotated[str, typer.Option(help="Asset id.")],
    config: ConfigOpt = DEFAULT_PLANTS,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Train a new model version for one asset now: the first model, or a challenger to the active one."""
    from sqlalchemy import select

    from pdm.errors import NotFound
    from pdm.models.lifecycle import shortage, train_asset
    from pdm.models.training import active_model
    from pdm.storage.session import session_factory
    from pdm.storage.tables import Asset

    plants = load_plants(config)
    cfg = _settings(settings, database)
    engine = _engine(cfg)
    # The plant engineer's page in the app, so technicians and reviewers may not.
    identity.for_company(ctx, engine, cfg, page="endpoints", company=company)
    with session_factory(engine).begin() as session:
        c = _company(session, company)
        a = session.execute(select(Asset).where(Asset.company_id == c.id, Asset.slug == asset)).scalar_one_or_none()
        if a is None:
            raise NotFound(f"asset {asset!r} not found for company {company!r}")
        version = train_asset(session, company_id=c.id, asset_id=a.id, detection=plants.detection)
        if version is None:
            raise PdmError(
                f"not enough data to train {company}/{asset}: "
                f"{shortage(session, company_id=c.id, asset_id=a.id, detection=plants.detection)}"
            )
        champion = active_model(session, company_id=c.id, asset_id=a.id)
        decision = "active" if version.active else f"rejected, version {champion.version} stays active"
        out.print(
            f"{company}/{asset}: version {version.version} ({version.detector}) {decision}: {version.reason}; "
            f"threshold {version.threshold:.3g}",
            highlight=False,
        )


@app.command()
def demo(
    config: ConfigOpt = DEFAULT_PLANTS,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
    headless: Annotated[bool, typer.Option(help="No Streamlit: run for --duration and print a summary.")] = False,
    duration: Annotated[float, typer.Option(help="Wall seconds to run (headless).", min=1)] = 120.0,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (headless).")] = False,
    fresh: Annotated[bool, typer.Option(help="Start from an empty SQLite database (deletes its file).")] = False,
) -> None:
    """Run the simulated plant, the worker and (unless --headless) the Streamlit app."""
    from pdm.demo import run as demo_mod
    from pdm.storage.session import make_engine

    plants = load_plants(config)
    cfg = _settings(settings, database)
    if headless:
        setup_logging()
        if database is None:
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix="pdm-demo-"))
            cfg = cfg.model_copy(update={"database_url": f"sqlite:///{tmp / 'demo.sqlite3'}", "var_dir": tmp})
        result = demo_mod.run_headless(
            make_engine(cfg.database_url), cfg, plants, duration=duration, speed=speed, seed=seed
        )
        if as_json:
            print(json.dumps(result))
        else:
            out.print(f"{result['readings']} readings, {len(result['alerts'])} alerts, {len(result['faults'])} faults")
            for a in result["alerts"]:
                out.print(f"  {a['opened_at']} {a['company']}/{a['asset']} {a['severity']}: {', '.join(a['sensors'])}")
        return
    if fresh:
        demo_mod.remove_sqlite_file(cfg.database_url)
    engine = make_engine(cfg.database_url)
    demo_mod.prepare_database(engine, plants)
    password = demo_mod.seed_demo_user(engine)
    raise typer.Exit(
        demo_mod.run_interactive(
            plants_path=config, plants=plants, database_url=cfg.database_url, port=cfg.streamlit_port, password=password
        )
    )


def main(args: list[str] | None = None) -> None:
    """Run ``pdmctl`` on ``args`` (default: the command line), every user-fixable failure as one line."""
    from sqlalchemy.exc import OperationalError

    try:
        app(args=args, standalone_mode=False)
    except OperationalError as exc:
        print(
            f"error: database: {str(exc.orig).strip().splitlines()[0]} "
            "(is it reachable, and initialised with `pdmctl --local-admin db upgrade`?)",
            file=sys.stderr,
        )
        sys.exit(1)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except PdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    # Typer 0.29 bundles its own click; older releases raise the standalone click's classes.
    except (typer.Abort, click.exceptions.Abort):
        sys.exit(130)
    except (TyperClickException, click.exceptions.ClickException) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (typer.Exit, click.exceptions.Exit) as exc:
        sys.exit(exc.exit_code)
