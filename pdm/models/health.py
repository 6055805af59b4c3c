"""The health indicator of an asset and the forecast of when it reaches its limit.

The indicator is each scored row's score over the threshold it was scored against (1.0 = an
alert opens), read from the scores the worker already stores per scoring run; dividing by each
row's own threshold keeps the series continuous across model versions. It is averaged per time
bin in the database, so a window of 1 Hz scores comes back as a few dozen rows.

The window ends at the asset's latest score, not the wall clock: a replayed or accelerated plant
runs on its own clock, and a stopped machine's last days are still what its trend was.

The limit the forecast aims at is where past failures of the same asset class were stopped: the
peak indicator (peak score over threshold) of each resolved alert with a failure mode. The
company's own are used, and the other members' too once at least ``pool_min_companies`` companies
contributed (the cluster's anonymity rule: a level says nothing about who it came from, but a pool
of one other company would). With no such failure yet, the limit is the alert threshold itself:
the forecast then says when an alert will open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from pdm.models.forecast import DAY_S, Forecast, TrendSettings, forecast
from pdm.storage.downsample import time_bucket
from pdm.storage.tables import Alert, Asset, ModelVersion, Score

WINDOW_S = 3 * DAY_S


@dataclass(frozen=True)
class AssetForecast:
    asset: str
    name: str
    asset_class: str
    criticality: int
    downtime_cost_per_hour: float
    forecast: Forecast
    limit: str  # where the limit comes from, in words

    def as_dict(self) -> dict:
        return {
            "asset": self.asset,
            "name": self.name,
            "asset_class": self.asset_class,
            "criticality": self.criticality,
            "sentence": self.forecast.sentence(),
            "limit": self.limit,
            **self.forecast.as_dict(),
        }


def latest_score(session: Session, *, company_id: int, asset_id: int) -> float | None:
    return session.scalar(select(func.max(Score.ts)).where(Score.company_id == company_id, Score.asset_id == asset_id))


def indicator(
    session: Session, *, company_id: int, asset_id: int, window_s: float = WINDOW_S, bins: int = 36
) -> tuple[np.ndarray, np.ndarray]:
    """Bin times and mean indicator per bin over the ``window_s`` that ends at the latest score."""
    latest = latest_score(session, company_id=company_id, asset_id=asset_id)
    if latest is None:
        return np.empty(0), np.empty(0)
    start = float(latest) - window_s
    # Finer bins than the forecast's own, so it still takes medians of several values per bin.
    size = max(int(window_s / (bins * 4)), 1)
    bucket = time_bucket(Score.ts, size, session.get_bind().dialect.name)
    ratio = cast(Score.score, Float) / Score.threshold
    rows = session.execute(
        select(func.avg(Score.ts), func.avg(ratio))
        .where(
            Score.company_id == company_id,
            Score.asset_id == asset_id,
            Score.ts >= start,
            Score.threshold > 0,
        )
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    return np.array([float(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])


def failure_levels(
    session: Session, *, company_id: int, asset_class: str, pool_min_companies: int
) -> tuple[list[float], str]:
    """Peak indicator of past confirmed failures of ``asset_class``, and where they come from."""
    rows = session.execute(
        select(Alert.company_id, Alert.peak_score / Alert.threshold)
        .join(Asset, Asset.id == Alert.asset_id)
        .where(
            Asset.asset_class == asset_class,
            Alert.status == "RESOLVED",
            Alert.failure_mode.is_not(None),
            Alert.threshold > 0,
        )
    ).all()
    companies = {c for c, _ in rows}
    if len(companies) >= pool_min_companies:
        levels, where = [float(v) for _, v in rows], f"across {len(companies)} members"
    else:
        levels, where = [float(v) for c, v in rows if c == company_id], "of this company"
    if not levels:
        return [1.0], "the alert threshold (no confirmed failure of this class yet)"
    return levels, f"where {len(levels)} confirmed failure(s) of this class {where} were stopped"


def asset_forecast(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    limit: float | list[float] = 1.0,
    window_s: float = WINDOW_S,
    settings: TrendSettings | None = None,
) -> Forecast:
    t, h = indicator(session, company_id=company_id, asset_id=asset_id, window_s=window_s)
    end = latest_score(session, company_id=company_id, asset_id=asset_id)
    return forecast(t, h, limit=limit, end=end, settings=settings)


def company_forecasts(
    session: Session,
    *,
    company_id: int,
    pool_min_companies: int,
    window_s: float = WINDOW_S,
    settings: TrendSettings | None = None,
) -> list[AssetForecast]:
    """Every asset of the company with an active model, soonest limit first, then most critical."""
    assets = session.scalars(
        select(Asset)
        .where(Asset.company_id == company_id)
        .where(select(ModelVersion.id).where(ModelVersion.asset_id == Asset.id, ModelVersion.active.is_(True)).exists())
        .order_by(Asset.slug)
    ).all()
    limits = {
        c: failure_levels(session, company_id=company_id, asset_class=c, pool_min_companies=pool_min_companies)
        for c in {a.asset_class for a in assets}
    }
    found = []
    for a in assets:
        levels, where = limits[a.asset_class]
        f = asset_forecast(
            session, company_id=company_id, asset_id=a.id, limit=levels, window_s=window_s, settings=settings
        )
        found.append(AssetForecast(a.slug, a.name, a.asset_class, a.criticality, a.downtime_cost_per_hour, f, where))
    return sorted(found, key=_urgency)


def _urgency(item: AssetForecast) -> tuple[float, float]:
    f = item.forecast
    eta = 0.0 if f.status == "reached" else f.eta_s if f.eta_s is not None else float("inf")
    return eta, -item.criticality * item.downtime_cost_per_hour
