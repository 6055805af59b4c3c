"""`pdmctl alerts`: a company's alerts and the technician's steps, for those who script.

Every command names its company (``--company``) and runs as the logged-in user (``pdmctl login``)
or the host's operator (``pdmctl --local-admin``): the step is recorded under that identity, and a
user of another company finds neither the company nor its alerts. An unknown alert, another
company's alert or a refused step is one line on stderr, exit 1.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from pdm.cli import identity, similar
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

alerts_app = typer.Typer(help="Alerts of one company.", no_args_is_help=True)

CompanyOpt = Annotated[str, typer.Option("--company", help="Company id.")]
AlertArg = Annotated[int, typer.Argument(help="Alert id.")]
CommentOpt = Annotated[str | None, typer.Option("--comment", help="A note kept with this step.")]
JsonOpt = Annotated[bool, typer.Option("--json")]


@contextmanager
def _tenant(ctx: typer.Context, company: str, database: str | None, settings, *, write: bool):
    """A session, the company id the caller may act on, and the caller's name for the trail."""
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    principal, company_id = identity.for_company(ctx, engine, cfg, page="alerts", company=company)
    factory = session_factory(engine)
    with factory.begin() if write else factory() as session:
        yield session, company_id, principal.username


def _iso(ts: float | None) -> str | None:
    from pdm.demo.run import _iso as iso

    return None if ts is None else iso(ts)


def _row(alert, asset) -> dict:
    return {
        "id": alert.id,
        "asset": asset.slug,
        "status": alert.status,
        "severity": alert.severity,
        "opened_at": _iso(alert.opened_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "assignee": alert.assignee,
        "sensors": [s["tag"] for s in alert.sensors],
    }


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    company: CompanyOpt,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
    status: Annotated[list[str] | None, typer.Option(help="Only this status (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A company's alerts, open first, most severe first."""
    from pdm.alerts.rules import list_alerts

    statuses = [s.upper() for s in status or []]
    _check_statuses(statuses)
    with _tenant(ctx, company, database, settings, write=False) as (session, cid, _):
        rows = [_row(a, asset) for a, asset in list_alerts(session, company_id=cid, statuses=statuses or None)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "asset", "status", "severity", "opened at", "last seen", "assignee", "sensors")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["asset"],
            r["status"],
            r["severity"],
            r["opened_at"],
            r["last_seen_at"],
            r["assignee"] or "",
            ", ".join(r["sensors"]),
        )
    out.print(table)


def _check_statuses(statuses: list[str]) -> None:
    from pdm.errors import InvalidInput
    from pdm.storage.tables import CLOSED_STATUSES, OPEN_STATUSES

    for s in statuses:
        if s not in OPEN_STATUSES + CLOSED_STATUSES:
            raise InvalidInput("--status", s, f"expected one of {', '.join(OPEN_STATUSES + CLOSED_STATUSES)}")


@alerts_app.command("show")
def alerts_show(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One alert: diagnostics, feedback and its audit trail."""
    from pdm.alerts.feedback import FEEDBACK_FIELDS, alert_events
    from pdm.alerts.rules import get_alert
    from pdm.models.fleet_scoring import version_label
    from pdm.storage.catalog import get_asset

    with _tenant(ctx, company, database, settings, write=False) as (session, cid, _):
        alert = get_alert(session, company_id=cid, alert_id=alert_id)
        detail = {
            **_row(alert, get_asset(session, company_id=cid, asset_id=alert.asset_id)),
            "peak_score": alert.peak_score,
            "threshold": alert.threshold,
            "sensors": alert.sensors,
            "model_version_id": alert.model_version_id,
            "model": version_label(session, company_id=cid, version_id=alert.model_version_id),
            "closed_at": _iso(alert.closed_at),
            **{f: getattr(alert, f) for f in FEEDBACK_FIELDS},
            "events": [
                {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "to_status": e.to_status, "comment": e.comment}
                for e in alert_events(session, company_id=cid, alert_id=alert_id)
            ],
        }
    if as_json:
        print(json.dumps(detail, indent=2))
        return
    for key, value in detail.items():
        if key not in ("events", "sensors") and value is not None:
            out.print(f"{key}: {value}")
    for s in detail["sensors"]:
        normal = f" (normal {s['low']}..{s['high']})" if "low" in s else ""
        out.print(f"sensor {s.get('tag')}: value {s.get('value')}, share {s.get('contribution', 0):.0%}{normal}")
    for e in detail["events"]:
        out.print(
            f"{e['at']}  {e['actor']}  {e['kind']} → {e['to_status']}" + (f": {e['comment']}" if e["comment"] else "")
        )


def _step(ctx: typer.Context, company: str, database, settings, fn, **kwargs) -> None:
    with _tenant(ctx, company, database, settings, write=True) as (session, cid, user):
        result = fn(session, company_id=cid, user=user, **kwargs)
        status = getattr(result, "status", None) or result.to_status
    out.print(f"alert {kwargs['alert_id']}: {status}")


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    comment: CommentOpt = None,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Acknowledge an OPEN alert."""
    from pdm.alerts.feedback import acknowledge

    _step(ctx, company, database, settings, acknowledge, alert_id=alert_id, comment=comment)


@alerts_app.command("start")
def alerts_start(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    comment: CommentOpt = None,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Take an alert in hand (IN_PROGRESS)."""
    from pdm.alerts.feedback import start

    _step(ctx, company, database, settings, start, alert_id=alert_id, comment=comment)


@alerts_app.command("resolve")
def alerts_resolve(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    failure_mode: Annotated[str, typer.Option(help="A failure mode code (see `failure-modes`).")],
    action: Annotated[str, typer.Option(help="Action taken.")],
    downtime_avoided_h: Annotated[float | None, typer.Option(help="Hours of downtime avoided.")] = None,
    repair_cost: Annotated[float | None, typer.Option(help="Repair cost.")] = None,
    comment: CommentOpt = None,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Close as a real problem, with its feedback."""
    from pdm.alerts.feedback import resolve

    _step(
        ctx,
        company,
        database,
        settings,
        resolve,
        alert_id=alert_id,
        failure_mode=failure_mode,
        action_taken=action,
        downtime_avoided_h=downtime_avoided_h,
        repair_cost=repair_cost,
        comment=comment,
    )


@alerts_app.command("false-alarm")
def alerts_false_alarm(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    reason: Annotated[str, typer.Option(help="Why it was not a real problem.")],
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Close as a false alarm, saying why."""
    from pdm.alerts.feedback import mark_false_alarm

    _step(ctx, company, database, settings, mark_false_alarm, alert_id=alert_id, reason=reason)


@alerts_app.command("reopen")
def alerts_reopen(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    comment: CommentOpt = None,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Reopen a closed alert."""
    from pdm.alerts.feedback import reopen

    _step(ctx, company, database, settings, reopen, alert_id=alert_id, comment=comment)


@alerts_app.command("comment")
def alerts_comment(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    text: Annotated[str, typer.Option("--text", help="The comment.")],
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Add a comment to the alert's trail."""
    from pdm.alerts.feedback import comment as add_comment

    _step(ctx, company, database, settings, add_comment, alert_id=alert_id, text=text)


@alerts_app.command("assign")
def alerts_assign(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    to: Annotated[str, typer.Option("--to", help="Assignee ('' for nobody).")],
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Give the alert to someone."""
    from pdm.alerts.feedback import assign

    _step(ctx, company, database, settings, assign, alert_id=alert_id, assignee=to)


@alerts_app.command("failure-modes")
def alerts_failure_modes(
    ctx: typer.Context,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
    add: Annotated[str | None, typer.Option(help="Add this code (cluster-wide).")] = None,
    label: Annotated[str | None, typer.Option(help="Label of the added code.")] = None,
    asset_class: Annotated[str | None, typer.Option(help="Only for this asset class.")] = None,
    iso14224: Annotated[str | None, typer.Option(help="ISO 14224 failure mechanism of the code (e.g. 2.4).")] = None,
) -> None:
    """The failure modes a resolution can name; --add extends the cluster's list (reviewers, admins)."""
    from pdm.alerts.feedback import add_failure_mode, list_failure_modes
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    factory = session_factory(engine)
    if add is not None:
        identity.acting(ctx, engine, cfg, page="failure-modes")
        with factory.begin() as session:
            add_failure_mode(session, code=add, label=label or add, asset_class=asset_class, iso14224=iso14224)
    with factory() as session:
        for m in list_failure_modes(session):
            # Plain print: tab-separated for scripts (rich would expand the tabs): code, label, asset class
            # (empty: every class), ISO 14224 failure mechanism (empty: not filed).
            print("\t".join([m.code, m.label, m.asset_class or "", m.iso14224 or ""]))


# Past cases like an alert: their own module, under the same command group.
alerts_app.command("similar")(similar.alerts_similar)
alerts_app.command("similar-feedback")(similar.alerts_similar_feedback)
alerts_app.command("share-notes")(similar.alerts_share_notes)
alerts_app.command("knowledge")(similar.alerts_knowledge)
