"""The health indicator of an asset and the forecast of when it reaches its limit.

The indicator is each scored row's score over the threshold it was scored against (1.0 = an
alert opens), read from the scores the worker already stores per scoring run; dividing by each
row's own threshold keeps the series continuous across model versions. It is averaged per time
bin in the database, so a window of 1 Hz scores comes back as a few dozen rows.

The window ends at the asset's latest score, not the wall clock: a replayed or accelerated plant
runs on its own clock, and a stopped machine's last days are still what its trend was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from pdm.models.forecast import DAY_S, Forecast, TrendSettings, forecast
from pdm.storage.downsample import time_bucket
from pdm.storage.tables import Asset, ModelVersion, Score

WINDOW_S = 3 * DAY_S


@dataclass(frozen=True)
class AssetForecast:
    asset: str
    name: str
    asset_class: str
    criticality: int
    downtime_cost_per_hour: float
    forecast: Forecast

    def as_dict(self) -> dict:
        return {
            "asset": self.asset,
            "name": self.name,
            "asset_class": self.asset_class,
            "criticality": self.criticality,
            "sentence": self.forecast.sentence(),
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


def asset_forecast(
    session: Session,
    *,
    company_id: int,
    asset_id: int,
    window_s: float = WINDOW_S,
    settings: TrendSettings | None = None,
) -> Forecast:
    t, h = indicator(session, company_id=company_id, asset_id=asset_id, window_s=window_s)
    end = latest_score(session, company_id=company_id, asset_id=asset_id)
    return forecast(t, h, end=end, settings=settings)


def company_forecasts(
    session: Session, *, company_id: int, window_s: float = WINDOW_S, settings: TrendSettings | None = None
) -> list[AssetForecast]:
    """Every asset of the company with an active model, soonest limit first, then most critical."""
    assets = session.scalars(
        select(Asset)
        .where(Asset.company_id == company_id)
        .where(select(ModelVersion.id).where(ModelVersion.asset_id == Asset.id, ModelVersion.active.is_(True)).exists())
        .order_by(Asset.slug)
    ).all()
    found = [
        AssetForecast(
            a.slug,
            a.name,
            a.asset_class,
            a.criticality,
            a.downtime_cost_per_hour,
            asset_forecast(session, company_id=company_id, asset_id=a.id, window_s=window_s, settings=settings),
        )
        for a in assets
    ]
    return sorted(found, key=_urgency)


def _urgency(item: AssetForecast) -> tuple[float, float]:
    f = item.forecast
    eta = 0.0 if f.status == "reached" else f.eta_s if f.eta_s is not None else float("inf")
    return eta, -item.criticality * item.downtime_cost_per_hour
