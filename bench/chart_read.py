"""A 30-day asset chart: every raw row (``asset_series``) against database-side buckets (``chart_series``).

    .venv/bin/python bench/chart_read.py [--days 30] [--step 10] [--tags 3] [--url sqlite:///…|postgresql+psycopg://…]

Stores ``--days`` of one reading every ``--step`` seconds for ``--tags`` tags of one asset (a temporary
SQLite file unless ``--url`` names a fresh database), then reads the whole range both ways, three
times each, and prints rows returned and the best time of each, side by side, with their ratio.
Run by hand; the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets, list_tags
from pdm.storage.downsample import chart_series
from pdm.storage.readings import asset_series, insert_reading_tuples
from pdm.storage.session import make_engine, session_factory, upgrade

T0 = 1_767_225_600.0


def _plant(tags: int):
    nodes = [{"node_id": f"ns=2;s=t{i}", "tag": f"t{i}", "asset": "a"} for i in range(tags)]
    return parse_plants(
        {
            "companies": [
                {
                    "id": "c",
                    "sites": [
                        {
                            "id": "s",
                            "assets": [{"id": "a", "asset_class": "pump"}],
                            "endpoints": [{"name": "e", "endpoint_url": "opc.tcp://127.0.0.1:1/c", "nodes": nodes}],
                        }
                    ],
                }
            ]
        }
    )


def _best(fn, runs=3):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--step", type=float, default=10.0)
    ap.add_argument("--tags", type=int, default=3)
    ap.add_argument("--url")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/chart.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        apply_plants(s, _plant(args.tags))
        cid = company_by_slug(s, "c").id
        aid = list_assets(s, company_id=cid)[0].id
        tag_ids = [t.id for t in list_tags(s, company_id=cid, asset_id=aid)]
    n = int(args.days * 86400 / args.step)
    with engine.begin() as conn:
        for tag in tag_ids:
            insert_reading_tuples(conn, [(tag, T0 + i * args.step, float(i % 97), 0, 0.0) for i in range(n)])
    end = T0 + args.days * 86400
    with sessions() as s:
        raw_t, raw = _best(lambda: asset_series(s, company_id=cid, asset_id=aid, start=T0, end=end))
        bucket_t, buckets = _best(lambda: chart_series(s, company_id=cid, asset_id=aid, start=T0, end=end))
    print(f"{engine.dialect.name}: {args.days} days x {len(tag_ids)} tags every {args.step:g} s")
    print(f"  raw     {len(raw):>9,} rows  {raw_t:8.3f} s")
    print(f"  buckets {len(buckets):>9,} rows  {bucket_t:8.3f} s  level {buckets['level'].iloc[0]}")
    print(f"  raw / buckets time ratio: {raw_t / bucket_t:.1f}x")
    engine.dispose()


if __name__ == "__main__":
    main()
