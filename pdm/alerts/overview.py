"""Health at a glance: one state per asset ("how are my machines right now?") for the overview page.

States, first match wins (the most urgent thing a person should see first):

- ``alert``: the asset has an open alert (OPEN, ACKNOWLEDGED or IN_PROGRESS); its severity and summary.
- ``no data``: no reading received for ``stale_s`` (15 min) of the wall clock, or none ever. Judged on the
  newest reading's ``received_at``, not its timestamp: a replayed or accelerated plant runs on its own clock,
  but a reading that *arrived* five minutes ago is live whatever time it carries.
- ``stopped``: the running rule (``pdm.models.running``: the ``running_tag`` reading above ``running_above``)
  says the machine is off, from that tag's newest reading. The rule is the asset's own ``detection`` (stored
  with it) over the ``detection`` config when the caller has one (the app has no plant file, so a rule set
  only per class or globally is not known to it), else the rule training found and stored with the active
  model (``metrics["running"]``).
- ``no model``: no active model version yet, so nothing can be watched.
- ``watch``: no alert, but within the last ``WATCH_WINDOW_S`` of the asset's own scores (its data clock)
  some score reached ``WATCH_RATIO`` of its threshold. The maximum, not the latest: a score that crosses
  80 % and dips back is what the debounce may soon turn into an alert.
- ``healthy``: everything else.

Everything is read in a handful of statements for a whole company (no query per asset): the newest
reading per tag and the newest score per asset are index seeks on their primary keys.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pdm.config import DetectionConfig
from pdm.storage.tables import OPEN_STATUSES, Alert, Asset, Company, ModelVersion, Reading, Score, Site, Tag

ALERT, NO_DATA, STOPPED, NO_MODEL, WATCH, HEALTHY = "alert", "no data", "stopped", "no model", "watch", "healthy"
STATES = (ALERT, NO_DATA, STOPPED, NO_MODEL, WATCH, HEALTHY)  # most urgent first: the page's order too
STALE_S = 15 * 60.0
WATCH_RATIO = 0.8
WATCH_WINDOW_S = 10 * 60.0


@dataclass(frozen=True)
class AssetHealth:
    asset_id: int
    name: str
    site_id: int
    site: str
    state: str
    detail: str  # the state in words, beyond its name: why, or the open alert's one-line summary
    alert_id: int | None = None
    severity: str | None = None
    last_received_at: float | None = None  # wall clock of the newest reading's arrival
    worst_ratio: float | None = None  # highest score / threshold in the watch window
    alert_status: str | None = None  # an open alert's status (OPEN, ACKNOWLEDGED, ...)
    alert_sensors: str = ""  # its top contributing sensors: "vibration 62%, bearing_temp 20%"
    running_tag: str | None = None  # stopped: the tag the running rule reads, and its limit
    running_above: float | None = None


def company_health(
    session: Session,
    *,
    company_id: int,
    now: float | None = None,
    stale_s: float = STALE_S,
    detection: DetectionConfig | None = None,
) -> list[AssetHealth]:
    """Every asset of the company with its state, by site name then asset name."""
    return _health(session, company_id=company_id, now=now, stale_s=stale_s, detection=detection)


def cluster_state_counts(
    session: Session, *, now: float | None = None, stale_s: float = STALE_S, detection: DetectionConfig | None = None
) -> list[dict]:
    """Cross-company by design (the cluster view): per company its slug, name and the number of assets in
    each state; counts only, never an asset or an alert."""
    rows = []
    for cid, slug, name in session.execute(select(Company.id, Company.slug, Company.name).order_by(Company.slug)):
        # One company at a time: with the tenant's filter the planner starts from its tags (index seeks);
        # without one, SQLite walks every reading. A few statements per company, still none per asset.
        health = company_health(session, company_id=cid, now=now, stale_s=stale_s, detection=detection)
        counts = Counter(h.state for h in health)
        rows.append({"company_id": cid, "slug": slug, "name": name or slug, **{s: counts[s] for s in STATES}})
    return rows


def top_sensors(alert: Alert) -> str:
    """The alert's three top contributing sensors with their shares."""
    return ", ".join(
        f"{s.get('tag', '?')} {s['contribution']:.0%}" if isinstance(s.get("contribution"), (int, float)) else "?"
        for s in (alert.sensors or [])[:3]
    )


def alert_summary(alert: Alert) -> str:
    """One line: severity, status and the top contributing sensors."""
    top = top_sensors(alert)
    return f"{alert.severity} · {alert.status.replace('_', ' ').lower()}" + (f" · {top}" if top else "")


def _latest_per_tag(session: Session, company_id: int) -> dict[int, dict[str, tuple]]:
    """Per asset, per tag name: (ts, value, received_at) of the tag's newest raw reading."""
    newest = select(func.max(Reading.ts)).where(Reading.tag_id == Tag.id).correlate(Tag).scalar_subquery()
    # The company's tags first, then one primary-key look-up per tag (EXPLAIN QUERY PLAN on SQLite:
    # tags by index, readings by primary key).
    last = select(Tag.id, Tag.asset_id, Tag.name, newest.label("ts")).where(Tag.company_id == company_id).subquery()
    stmt = select(last.c.asset_id, last.c.name, Reading.ts, Reading.value, Reading.received_at).join(
        Reading, (Reading.tag_id == last.c.id) & (Reading.ts == last.c.ts)
    )
    out: dict[int, dict[str, tuple]] = {}
    for asset_id, tag, ts, value, received in session.execute(stmt):
        out.setdefault(asset_id, {})[tag] = (ts, value, received)
    return out


def _worst_ratios(session: Session, company_id: int) -> dict[int, float]:
    """Per asset: the highest score / threshold within WATCH_WINDOW_S of its newest score."""
    newest = select(func.max(Score.ts)).where(Score.asset_id == Asset.id).correlate(Asset).scalar_subquery()
    last = select(Asset.id.label("asset_id"), newest.label("last")).where(Asset.company_id == company_id).subquery()
    stmt = (
        select(Score.asset_id, func.max(Score.score / Score.threshold))
        .join(last, (Score.asset_id == last.c.asset_id) & (Score.ts >= last.c.last - WATCH_WINDOW_S))
        .where(Score.threshold > 0)  # a zero threshold would divide by zero on PostgreSQL
        .group_by(Score.asset_id)
    )
    return {asset_id: float(ratio) for asset_id, ratio in session.execute(stmt) if ratio is not None}


def _stopped(rule: DetectionConfig | None, tags: dict[str, tuple]) -> bool:
    if rule is None or rule.running_tag is None or rule.running_tag not in tags:
        return False
    value = tags[rule.running_tag][1]
    # Same comparison as pdm.models.running: running only strictly above; an unknown value says nothing.
    return value is not None and not value > rule.running_above


def _rule(
    detection: DetectionConfig | None, asset_class: str, overrides: dict | None, metrics: dict | None
) -> DetectionConfig | None:
    rule = (detection or DetectionConfig()).for_asset(asset_class, overrides)
    # Else the rule training found in the asset's rows and stored with its active model, as
    # pdm.models.running.model_rule scores with it (that layer is above this one: the same three checks).
    found = (metrics or {}).get("running") or {}
    if rule.running_tag is None and rule.running_auto and found.get("tag"):
        return rule.model_copy(update={"running_tag": found["tag"], "running_above": float(found["above"])})
    return rule if rule.running_tag is not None else None


def _health(
    session: Session, *, company_id: int, now: float | None, stale_s: float, detection: DetectionConfig | None
) -> list[AssetHealth]:
    now = time.time() if now is None else now
    assets = session.execute(
        select(Asset.id, Asset.name, Asset.slug, Asset.asset_class, Asset.detection, Site.id, Site.name, Site.slug)
        .join(Site, Site.id == Asset.site_id)
        .where(Asset.company_id == company_id)
    ).all()
    open_alerts = select(Alert).where(Alert.company_id == company_id, Alert.status.in_(OPEN_STATUSES))
    alerts = {a.asset_id: a for a in session.scalars(open_alerts)}
    active = select(ModelVersion.asset_id, ModelVersion.metrics).where(
        ModelVersion.company_id == company_id, ModelVersion.active.is_(True)
    )
    modelled: dict[int, dict | None] = {aid: metrics for aid, metrics in session.execute(active)}
    latest = _latest_per_tag(session, company_id)
    ratios = _worst_ratios(session, company_id)
    out = []
    for aid, name, slug, asset_class, overrides, site_id, site_name, site_slug in assets:
        tags = latest.get(aid, {})
        received = max((r for _ts, _v, r in tags.values() if r is not None), default=None)
        alert, ratio = alerts.get(aid), ratios.get(aid)
        common = dict(
            asset_id=aid, name=name or slug, site_id=site_id, site=site_name or site_slug,
            last_received_at=received, worst_ratio=ratio,
        )  # fmt: skip
        if alert is not None:
            health = AssetHealth(
                **common,
                state=ALERT,
                detail=alert_summary(alert),
                alert_id=alert.id,
                severity=alert.severity,
                alert_status=alert.status,
                alert_sensors=top_sensors(alert),
            )
        elif received is None:
            health = AssetHealth(**common, state=NO_DATA, detail="no reading stored")
        elif now - received > stale_s:
            health = AssetHealth(**common, state=NO_DATA, detail=f"no reading for over {stale_s / 60:g} min")
        elif (rule := _rule(detection, asset_class, overrides, modelled.get(aid))) is not None and _stopped(rule, tags):
            health = AssetHealth(
                **common,
                state=STOPPED,
                detail=f"{rule.running_tag} at or below {rule.running_above:g}",
                running_tag=rule.running_tag,
                running_above=rule.running_above,
            )
        elif aid not in modelled:
            health = AssetHealth(**common, state=NO_MODEL, detail="not enough data to train a model yet")
        elif ratio is not None and ratio >= WATCH_RATIO:
            health = AssetHealth(**common, state=WATCH, detail=f"score reached {ratio:.0%} of its threshold")
        else:
            detail = "no score yet" if ratio is None else f"score at most {ratio:.0%} of its threshold"
            health = AssetHealth(**common, state=HEALTHY, detail=detail)
        out.append(health)
    out.sort(key=lambda h: (h.site.casefold(), h.name.casefold(), h.asset_id))
    return out
