"""The catalog: companies, sites, assets, endpoints and tags, kept in step with config.

``apply_plants`` is idempotent: applying the same file twice changes nothing, and a
changed file updates rows in place (readings and alerts keep their references).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.config import EndpointConfig, MqttEndpointConfig, NotificationsConfig, PlantConfig
from pdm.errors import NotFound
from pdm.storage.tables import Asset, Company, CostDefault, Endpoint, NotificationChannel, Site, Tag


@dataclass
class ApplySummary:
    companies: int = 0
    sites: int = 0
    assets: int = 0
    endpoints: int = 0
    tags: int = 0


def _upsert(session: Session, model, keys: dict, values: dict):
    row = session.execute(select(model).filter_by(**keys)).scalar_one_or_none()
    if row is None:
        row = model(**keys, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    return row


def endpoint_settings(ep: EndpointConfig | MqttEndpointConfig) -> dict:
    return ep.model_dump(mode="json", exclude={"nodes"})


def store_endpoint(
    session: Session,
    *,
    company_id: int,
    site_id: int,
    config: EndpointConfig | MqttEndpointConfig,
    assets: dict[str, Asset],
) -> Endpoint:
    """One endpoint of any kind and its tags (``assets`` by slug), added or updated in place: the plant
    file's way, which the engineer page's add forms take too."""
    endpoint = _upsert(
        session,
        Endpoint,
        {"company_id": company_id, "name": config.name},
        {
            "site_id": site_id,
            "endpoint_url": config.endpoint_url,
            "kind": config.kind,
            "settings": endpoint_settings(config),
            "enabled": config.enabled,
        },
    )
    for n in config.nodes:
        _upsert(
            session,
            Tag,
            {"asset_id": assets[n.asset].id, "name": n.tag},
            {"company_id": company_id, "endpoint_id": endpoint.id, "node_id": n.node_id, "unit": n.unit},
        )
    return endpoint


def apply_plants(session: Session, cfg: PlantConfig) -> ApplySummary:
    summary = ApplySummary()
    for c in cfg.companies:
        company = _upsert(session, Company, {"slug": c.id}, {"name": c.name or c.id, "locale": c.locale})
        summary.companies += 1
        for s in c.sites:
            site = _upsert(
                session,
                Site,
                {"company_id": company.id, "slug": s.id},
                {"name": s.name or s.id, "timezone": s.timezone},
            )
            summary.sites += 1
            assets = {}
            for a in s.assets:
                assets[a.id] = _upsert(
                    session,
                    Asset,
                    {"company_id": company.id, "slug": a.id},
                    {
                        "site_id": site.id,
                        "name": a.name or a.id,
                        "asset_class": a.asset_class,
                        "criticality": a.criticality,
                        "downtime_cost_per_hour": a.downtime_cost_per_hour,
                        "silent_period_min": a.silent_period_min,
                        "cost_overrides": a.costs.model_dump(mode="json", exclude_unset=True) if a.costs else None,
                        "detection": a.detection.changes() if a.detection else None,
                    },
                )
                summary.assets += 1
            for e in s.endpoints:
                store_endpoint(session, company_id=company.id, site_id=site.id, config=e, assets=assets)
                summary.endpoints += 1
                summary.tags += len(e.nodes)
        sync_channels(session, company_id=company.id, config=c.notifications)
    for asset_class, costs in cfg.cost_defaults.items():
        _upsert(
            session,
            CostDefault,
            {"asset_class": asset_class},
            {"costs": costs.model_dump(mode="json", exclude_unset=True)},
        )
    return summary


def list_companies(session: Session) -> list[Company]:
    return list(session.execute(select(Company).order_by(Company.slug)).scalars())


def company_by_slug(session: Session, slug: str) -> Company:
    company = session.execute(select(Company).where(Company.slug == slug)).scalar_one_or_none()
    if company is None:
        raise NotFound(f"company {slug!r} not found")
    return company


def list_assets(session: Session, *, company_id: int) -> list[Asset]:
    stmt = select(Asset).where(Asset.company_id == company_id).order_by(Asset.slug)
    return list(session.execute(stmt).scalars())


def get_asset(session: Session, *, company_id: int, asset_id: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.company_id != company_id:
        raise NotFound(f"asset {asset_id} not found")
    return asset


def note_training(session: Session, *, company_id: int, asset_id: int, note: str | None) -> None:
    """Keep why the asset's latest training gave no model (None: it gave one), for its page."""
    asset = get_asset(session, company_id=company_id, asset_id=asset_id)
    asset.training_note = None if note is None else note[:2000]
    asset.training_note_at = None if note is None else time.time()


def list_endpoints(session: Session, *, company_id: int) -> list[Endpoint]:
    stmt = select(Endpoint).where(Endpoint.company_id == company_id).order_by(Endpoint.name)
    return list(session.execute(stmt).scalars())


def list_tags(session: Session, *, company_id: int, asset_id: int | None = None) -> list[Tag]:
    stmt = select(Tag).where(Tag.company_id == company_id)
    if asset_id is not None:
        stmt = stmt.where(Tag.asset_id == asset_id)
    return list(session.execute(stmt.order_by(Tag.name)).scalars())


def endpoints_to_poll(session: Session) -> list[Endpoint]:
    """Every company's enabled endpoints: the worker serves the whole cluster."""
    stmt = select(Endpoint).where(Endpoint.enabled.is_(True)).order_by(Endpoint.company_id, Endpoint.name)
    return list(session.execute(stmt).scalars())


def all_assets(session: Session) -> list[Asset]:
    """Every company's assets, for the worker's train and score jobs."""
    return list(session.execute(select(Asset).order_by(Asset.company_id, Asset.slug)).scalars())


def sync_channels(session: Session, *, company_id: int, config: NotificationsConfig) -> int:
    """Make the company's channels match its config; returns how many are enabled.

    Channels no longer configured are disabled, not deleted: queued messages keep their channel.
    """
    wanted: dict[tuple[str, str], tuple[str, dict]] = {}
    smtp = config.smtp.model_dump(mode="json") if config.smtp else {}
    for route in config.email:
        wanted[("email", ",".join(route.to))] = (route.min_severity, smtp)
    for hook in config.webhooks:
        wanted[("webhook", hook.url)] = (hook.min_severity, {"timeout_s": hook.timeout_s})
    existing = session.execute(
        select(NotificationChannel).where(NotificationChannel.company_id == company_id)
    ).scalars()
    for channel in existing:
        key = (channel.kind, channel.target)
        channel.enabled = key in wanted
        if channel.enabled:
            channel.min_severity, channel.settings = wanted.pop(key)
    for (kind, target), (min_severity, settings) in wanted.items():
        session.add(
            NotificationChannel(
                company_id=company_id,
                kind=kind,
                target=target,
                min_severity=min_severity,
                settings=settings,
                enabled=True,
            )
        )
    session.flush()
    return len(config.email) + len(config.webhooks)
