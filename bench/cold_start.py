"""Cold start with fleet models: false alarms on healthy new machines and time to catch a fault.

    .venv/bin/python bench/cold_start.py [--members 3] [--healthy 10] [--hours 4]

Per asset class: ``--members`` assets at two companies get 120 simulated minutes and their own
models; the fleet model is trained on them. Then ``--healthy`` new healthy assets run for
``--hours`` on the fleet model alone (their own models never train here), and one new asset per
applicable fault kind gets that fault from its minute 40 (10 min ramp). Prints, per class, the
healthy assets' alerts and worst score/threshold, and each fault's delay from its start to the
alert. Readings come from the simulator's physics, written to a temporary SQLite file. Run by hand.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from sqlalchemy import select

from pdm.config import DetectionConfig, FleetConfig, parse_plants
from pdm.models.fleet import train_fleets
from pdm.models.scoring import score_asset
from pdm.models.training import train_asset
from pdm.simulator.physics import APPLICABLE_FAULTS, SENSORS, AssetModel, asset_seed, fault_severity
from pdm.storage.catalog import apply_plants, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.session import make_engine, session_factory, upgrade
from pdm.storage.tables import Alert, Asset, FleetModel, Score

T0, STEP_S, FAULT_AT = 1_700_000_040.0, 60.0, 40
DETECTION = DetectionConfig(
    resample_s=60, train_min_rows=60, train_min_span_min=60, train_max_rows=400, fleet=FleetConfig(baseline_min=30)
)


def plant(asset_class: str, members: int, news: list[str]):
    def company(cid, slugs):
        nodes = [
            {"node_id": f"ns=2;s={cid}/{a}/{t}", "tag": t, "asset": a} for a in slugs for t in SENSORS[asset_class]
        ]
        return {
            "id": cid,
            "sites": [
                {
                    "id": "s",
                    "assets": [{"id": a, "asset_class": asset_class} for a in slugs],
                    "endpoints": [{"name": "e", "endpoint_url": f"opc.tcp://127.0.0.1:1/{cid}", "nodes": nodes}],
                }
            ],
        }

    half = (members + 1) // 2
    return parse_plants(
        {
            "companies": [
                company("acme", [f"M-{i}" for i in range(half)]),
                company("beta", [f"M-{i}" for i in range(half, members)]),
                company("gamma", news),
            ]
        }
    )


def feed(session, asset: Asset, company: str, minutes: int, fault=None) -> None:
    tags = {t.name: t.id for t in list_tags(session, company_id=asset.company_id, asset_id=asset.id)}
    model, rows = AssetModel(asset.asset_class, asset_seed(7, company, asset.slug)), []
    for m in range(minutes):
        faults = {fault: fault_severity(m, FAULT_AT, 10_000, 10)} if fault else {}
        ts = T0 + m * STEP_S
        rows += [
            {"tag_id": tags[n], "ts": ts, "value": v, "quality": 0, "received_at": ts}
            for n, v in model.step(m * STEP_S, STEP_S, faults).items()
        ]
    insert_readings(session, rows)


def run_class(asset_class: str, members: int, healthy: int, minutes: int) -> None:
    faults = sorted(APPLICABLE_FAULTS[asset_class])
    news = [f"H-{i}" for i in range(healthy)] + [f"F-{k}" for k in faults]
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    upgrade(engine)
    with session_factory(engine).begin() as s:
        apply_plants(s, plant(asset_class, members, news))
        assets = {(a.company_id, a.slug): a for a in s.execute(select(Asset)).scalars()}
        for (cid, slug), a in assets.items():
            if slug.startswith("M-"):
                feed(s, a, "acme" if cid == 1 else "beta", 120)
                train_asset(s, company_id=cid, asset_id=a.id, detection=DETECTION)
        train_fleets(s, detection=DETECTION)
        fleet = s.execute(select(FleetModel)).scalar_one()
        ratios, healthy_alerts, delays = [], 0, {}
        for (cid, slug), a in assets.items():
            if slug.startswith("M-"):
                continue
            fault = slug[2:] if slug.startswith("F-") else None
            feed(s, a, "gamma", minutes, fault)
            score_asset(s, company_id=cid, asset_id=a.id, detection=DETECTION)
            opened = (
                s.execute(select(Alert.opened_at).where(Alert.asset_id == a.id).order_by(Alert.opened_at))
                .scalars()
                .first()
            )
            if fault:
                delays[fault] = "missed" if opened is None else f"{(opened - T0) / 60 - FAULT_AT:+.0f} min"
            else:
                scores = s.execute(select(Score.score).where(Score.asset_id == a.id)).scalars().all()
                ratios.append(max(scores) / fleet.threshold)
                healthy_alerts += opened is not None
    print(
        f"{asset_class}: fleet of {fleet.metrics['assets']} assets/{fleet.metrics['companies']} companies; "
        f"{healthy} healthy new assets over {minutes} min: {healthy_alerts} with an alert, worst "
        f"score/threshold {max(ratios):.2f} (median {np.median(ratios):.2f}); fault from min {FAULT_AT} "
        f"caught after: " + ", ".join(f"{k} {v}" for k, v in delays.items())
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--healthy", type=int, default=10)
    parser.add_argument("--hours", type=float, default=4.0)
    args = parser.parse_args()
    for asset_class in SENSORS:
        run_class(asset_class, args.members, args.healthy, int(args.hours * 60))


if __name__ == "__main__":
    main()
