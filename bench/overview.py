"""The overview page at 1,000 assets: the state computation, and one AppTest run of the page beside one of the
alerts page as a reference.

    .venv/bin/python bench/overview.py [--assets 1000] [--sites 10] [--readings 60] [--scores 60]

Builds one company of ``--assets`` assets (every overview state, in turn: ``tests/helpers/overview.py``) and
two small ones, with ``--readings`` readings per tag and ``--scores`` scores per modelled asset, in a temporary
SQLite database. Prints the best of three of ``company_health`` and ``cluster_state_counts``, then the best of
three AppTest runs of the overview and of the alerts page as a technician of the big company, with their ratio.
Run by hand; the figures depend on the machine (no timed assertion in the tests).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.helpers: the same plant builder as the tests

from streamlit.testing.v1 import AppTest  # noqa: E402
from streamlit.util import calc_hash  # noqa: E402

from pdm.access import users  # noqa: E402
from pdm.alerts.overview import cluster_state_counts, company_health  # noqa: E402
from pdm.storage.catalog import company_by_slug  # noqa: E402
from pdm.storage.session import make_engine, session_factory, upgrade  # noqa: E402
from tests.helpers.app import APP  # noqa: E402
from tests.helpers.login import SECRET, seed_user  # noqa: E402
from tests.helpers.overview import fill  # noqa: E402


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _page_run(url: str, token: str, url_path: str, expect: str) -> float:
    def run() -> None:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["session"] = token
        at._page_hash = calc_hash(url_path)  # as tests/helpers/app.open_page: our pages are callables
        at.run()
        assert not at.exception and at.title[0].value == expect, (at.exception, [t.value for t in at.title])

    run()  # warm-up: imports, the engine cache, Streamlit's own first-run costs
    return _best(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--readings", type=int, default=60)
    parser.add_argument("--scores", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/overview.sqlite3"
        engine = make_engine(url)
        upgrade(engine)
        start = time.perf_counter()
        with session_factory(engine).begin() as session:
            fill(
                session,
                {"big": args.assets, "mid": 10, "small": 10},
                now=time.time(),
                sites=args.sites,
                readings=args.readings,
                scores=args.scores,
            )
        built = time.perf_counter() - start
        print(
            f"built {args.assets} + 20 assets, {args.readings} readings per tag (2 tags), "
            f"{args.scores} scores per modelled asset in {built:.1f} s"
        )
        with session_factory(engine)() as session:
            cid = company_by_slug(session, "big").id
            rows = company_health(session, company_id=cid)
            health = _best(lambda: company_health(session, company_id=cid))
            cluster = _best(lambda: cluster_state_counts(session))
        print(f"company_health, {len(rows)} assets:     {health * 1000:8.1f} ms")
        print(f"cluster_state_counts, 3 companies: {cluster * 1000:8.1f} ms")
        engine.dispose()
        os.environ["PDM_DATABASE_URL"] = url
        os.environ[users.SECRET_ENV] = SECRET
        token = seed_user(url, "ana", "technician", "big")
        overview = _page_run(url, token, "overview", "Overview")
        alerts = _page_run(url, token, "alerts", "Alerts")
        print(f"AppTest run, overview page:        {overview * 1000:8.1f} ms")
        print(f"AppTest run, alerts page:          {alerts * 1000:8.1f} ms")
        print(f"overview / alerts:                 {overview / alerts:8.2f}")


if __name__ == "__main__":
    main()
