"""`pdmctl alerts similar|similar-feedback|share-notes|knowledge`: past cases like an alert, across
members (``pdm.alerts.similar``), a technician's verdict on one, whether a company shares its notes,
and what the members learned per failure mode (``pdm.alerts.knowledge``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pdm.cli import identity
from pdm.cli.common import DatabaseOpt, SettingsOpt, out
from pdm.cli.common import engine as _engine
from pdm.cli.common import settings as _settings

CompanyOpt = Annotated[str, typer.Option("--company", help="Company id.")]
AlertArg = Annotated[int, typer.Argument(help="Alert id.")]


def _session(ctx: typer.Context, company: str, database, settings, *, page: str):
    from pdm.storage.session import session_factory

    cfg = _settings(settings, database)
    engine = _engine(cfg)
    principal, company_id = identity.for_company(ctx, engine, cfg, page=page, company=company)
    return session_factory(engine), company_id, principal.username


def alerts_similar(
    ctx: typer.Context,
    alert_id: AlertArg,
    company: CompanyOpt,
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many cases.")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Closed alerts of the same asset class, across members, most like this one, and what is known of
    their failure modes."""
    from pdm.alerts.knowledge import knowledge
    from pdm.alerts.rules import get_alert
    from pdm.alerts.similar import seen_before
    from pdm.savings.kanon import K_MIN
    from pdm.storage.tables import Asset

    factory, company_id, _ = _session(ctx, company, database, settings, page="alerts")
    with factory() as session:
        found = seen_before(session, company_id=company_id, alert_id=alert_id, min_companies=K_MIN, limit=limit)
        asset_class = session.get_one(Asset, get_alert(session, company_id=company_id, alert_id=alert_id).asset_id)
        seen_modes = {c.failure_mode for c in found.cases if c.real}
        modes = [
            k
            for k in knowledge(session, company_id=company_id, min_companies=K_MIN, asset_class=asset_class.asset_class)
            if k.failure_mode in seen_modes
        ]
    if as_json:
        print(json.dumps({**found.as_dict(), "modes": [k.as_dict() for k in modes]}, indent=2))
        return
    if not found.shown:
        out.print(f"no past cases shown: {found.reason}")
        return
    out.print(
        f"{found.real_share:.0%} of the most similar cases were real failures ({found.companies} companies in the pool)"
    )
    for c in found.cases:
        where = f" {c.company}/{c.asset}" if c.asset else ""
        what = c.failure_mode if c.real else "false alarm"
        action = f"; action: {c.action_taken}" if c.action_taken else ""
        out.print(f"[{c.ref}] {c.similarity:.2f}{where}: {what}, downtime avoided {c.downtime_avoided_h} h{action}")
    for k in modes:
        out.print(_knowledge_line(k))


def _knowledge_line(k) -> str:
    source = f"{k.companies} companies" if k.pooled else "this company only"
    actions = "; ".join(f"{text} ({n})" for text, n in k.actions) or "no shared notes"
    return (
        f"{k.label} on {k.asset_class} ({k.iso14224}): {k.cases} cases from {source}; lead time {k.lead_time_h} h, "
        f"repair cost {k.repair_cost}, downtime avoided {k.downtime_avoided_h} h; actions: {actions}"
    )


def alerts_knowledge(
    ctx: typer.Context,
    company: CompanyOpt,
    asset_class: Annotated[str | None, typer.Option("--asset-class", help="Only this asset class.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Per failure mode and asset class: cases, typical signature, lead time, cost, actions that worked."""
    from pdm.alerts.knowledge import knowledge
    from pdm.savings.kanon import K_MIN

    factory, company_id, _ = _session(ctx, company, database, settings, page="alerts")
    with factory() as session:
        found = knowledge(session, company_id=company_id, min_companies=K_MIN, asset_class=asset_class)
    if as_json:
        print(json.dumps([k.as_dict() for k in found], indent=2))
        return
    for k in found:
        out.print(_knowledge_line(k))
    if not found:
        out.print("no confirmed failure yet")


def alerts_similar_feedback(
    ctx: typer.Context,
    alert_id: AlertArg,
    case: Annotated[str, typer.Argument(help="The case's [ref] from `alerts similar`.")],
    verdict: Annotated[str, typer.Argument(help="helpful or not-same.")],
    company: CompanyOpt,
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Say whether a suggested past case helped; the ranking learns from it."""
    from pdm.alerts.similar import give_feedback

    factory, company_id, user = _session(ctx, company, database, settings, page="alerts")
    with factory.begin() as session:
        give_feedback(
            session, company_id=company_id, alert_id=alert_id, ref=case, verdict=verdict.replace("-", "_"), by=user
        )
    out.print(f"alert {alert_id}: case {case} marked {verdict}")


def alerts_share_notes(
    ctx: typer.Context,
    company: CompanyOpt,
    share: Annotated[bool, typer.Option("--on/--off", help="Show this company's notes on others' similar cases.")],
    database: DatabaseOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Whether other members see this company's names and notes on their similar cases (engineers; audited)."""
    from pdm.alerts.similar import set_share_notes

    factory, company_id, user = _session(ctx, company, database, settings, page="costs")
    with factory.begin() as session:
        before = set_share_notes(session, company_id=company_id, share=share, actor=user)
    out.print(f"{company}: notes shared {'on' if share else 'off'} (was {'on' if before else 'off'})")
