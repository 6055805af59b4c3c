"""The health indicator read from stored scores, and each company's forecasts, on both databases and
through ``pdmctl assets forecast``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sqlalchemy import insert

from pdm.config import parse_plants
from pdm.models.forecast import DAY_S
from pdm.models.health import company_forecasts, failure_levels, indicator
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, ModelVersion, Score
from tests.helpers.overview import plant
from tests.helpers.pdmctl import run_pdmctl

END = 1.75e9  # the latest score: the window ends there, whatever the wall clock says


def _version(s, company_id: int, asset_id: int, version: int, threshold: float) -> int:
    mv = ModelVersion(
        company_id=company_id,
        asset_id=asset_id,
        version=version,
        detector="mad",
        created_at=0,
        trained_from=0,
        trained_to=0,
        threshold=threshold,
        feature_names=["vibration"],
        active=True,
        envelope=b"-",
    )
    s.add(mv)
    s.flush()
    return mv.id


def _scores(s, company_id: int, asset_id: int, ratio, *, versions=((1, 2.0),), days: float = 4.0) -> None:
    """One score every 5 minutes over ``days`` ending at END; ``ratio(day)`` of the threshold. With two versions
    the second (another threshold) takes over half-way, as a retraining does."""
    rng = np.random.default_rng(asset_id)
    ids = [(_version(s, company_id, asset_id, v, thr), thr) for v, thr in versions]
    ts = np.arange(END - days * DAY_S, END + 1, 300.0)
    rows = []
    for k, t in enumerate(ts):
        mv_id, thr = ids[0] if k < len(ts) / 2 or len(ids) == 1 else ids[1]
        value = ratio((t - ts[0]) / DAY_S) + rng.normal(0, 0.02)
        rows.append(
            {"asset_id": asset_id, "ts": float(t), "company_id": company_id, "model_version_id": mv_id}
            | {"score": value * thr, "threshold": thr}
        )
    s.execute(insert(Score), rows)


def _fill(s, small_plant) -> int:
    """acme/P-1 wears (0.2 + 0.15 a day, across a retraining), acme/C-1 holds steady, beta/S-1 is over its limit."""
    apply_plants(s, small_plant)
    acme, beta = company_by_slug(s, "acme").id, company_by_slug(s, "beta").id
    by_slug = {a.slug: a.id for c in (acme, beta) for a in list_assets(s, company_id=c)}
    _scores(s, acme, by_slug["P-1"], lambda d: 0.2 + 0.15 * d, versions=((1, 2.0), (2, 5.0)))
    _scores(s, acme, by_slug["C-1"], lambda d: 0.4 + 0 * d)
    _scores(s, beta, by_slug["S-1"], lambda d: 1.2 + 0 * d)
    return acme


def test_the_indicator_is_score_over_threshold_across_model_versions(sessions, small_plant):
    with sessions.begin() as s:
        acme = _fill(s, small_plant)
        p1 = next(a.id for a in list_assets(s, company_id=acme) if a.slug == "P-1")
        t, h = indicator(s, company_id=acme, asset_id=p1, window_s=3 * DAY_S)
    assert t[0] >= END - 3 * DAY_S and t[-1] <= END
    assert 50 <= len(t) <= 150  # binned in the database, not the 865 rows
    # Continuous over the retraining (threshold 2 → 5): 0.35 a day after the window starts, 0.8 at its end.
    assert h[0] == pytest.approx(0.35, abs=0.03) and h[-1] == pytest.approx(0.8, abs=0.03)
    assert np.abs(np.diff(h)).max() < 0.05


def test_a_company_sees_its_own_assets_soonest_limit_first(sessions, small_plant):
    with sessions.begin() as s:
        acme = _fill(s, small_plant)
        found = company_forecasts(s, company_id=acme, pool_min_companies=3)
    assert [f.asset for f in found] == ["P-1", "C-1"]  # beta's S-1 is not acme's
    wear, steady = found[0].forecast, found[1].forecast
    # 0.8 now, +0.15 a day: the limit in 1.33 days.
    assert wear.status == "forecast" and wear.low_s <= 1.333 * DAY_S <= wear.high_s
    assert steady.status == "no_trend"


def test_an_asset_without_scores_has_too_little_data(sessions, small_plant):
    with sessions.begin() as s:
        apply_plants(s, small_plant)
        acme = company_by_slug(s, "acme").id
        _version(s, acme, list_assets(s, company_id=acme)[0].id, 1, 2.0)
        (only,) = company_forecasts(s, company_id=acme, pool_min_companies=3)
    assert only.forecast.status == "too_little_data"


def _failure(s, company_id: int, asset_id: int, peak_ratio: float, *, confirmed: bool = True) -> None:
    s.add(
        Alert(
            company_id=company_id,
            asset_id=asset_id,
            status="RESOLVED" if confirmed else "FALSE_ALARM",
            failure_mode="bearing" if confirmed else None,
            severity="high",
            opened_at=0.0,
            last_seen_at=0.0,
            peak_score=peak_ratio * 2.0,
            threshold=2.0,
        )
    )


def test_the_limit_is_where_past_failures_of_the_class_were_stopped(sessions):
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plant({"a": 1, "b": 1, "c": 1}, sites=1)))
        ids = {
            slug: (company_by_slug(s, slug).id, list_assets(s, company_id=company_by_slug(s, slug).id)[0].id)
            for slug in "abc"
        }
        a, b = ids["a"], ids["b"]
        assert failure_levels(s, company_id=a[0], asset_class="pump", pool_min_companies=3)[0] == [1.0]
        _failure(s, *a, 6.0)
        _failure(s, *a, 40.0, confirmed=False)  # a false alarm is no failure
        _failure(s, *b, 8.0)
        levels, where = failure_levels(s, company_id=a[0], asset_class="pump", pool_min_companies=3)
        assert levels == [6.0] and "of this company" in where  # two companies: b's level stays b's
        _failure(s, *ids["c"], 10.0)
        levels, where = failure_levels(s, company_id=a[0], asset_class="pump", pool_min_companies=3)
        assert sorted(levels) == [6.0, 8.0, 10.0] and "across 3 members" in where
        assert failure_levels(s, company_id=a[0], asset_class="compressor", pool_min_companies=3)[0] == [1.0]


@pytest.fixture
def cli_db(tmp_path, small_plant, migrated_sqlite_template) -> str:
    shutil.copyfile(migrated_sqlite_template, tmp_path / "forecast.db")
    url = f"sqlite:///{tmp_path / 'forecast.db'}"
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        _fill(s, small_plant)
    engine.dispose()
    return url


def test_pdmctl_assets_forecast(capsys, monkeypatch, cli_db):
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "assets", "forecast", "--company", "acme", "--json", "--database", cli_db
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [r["asset"] for r in rows] == ["P-1", "C-1"]
    assert rows[0]["status"] == "forecast" and rows[0]["sentence"].startswith("limit in about")
    code, out, _ = run_pdmctl(capsys, monkeypatch, "assets", "forecast", "--company", "beta", "--database", cli_db)
    assert code == 0 and "S-1" in out and "reached" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--company", "acme", "--window-days", "0"], "--window-days = 0.0"),
        (["--company", "nobody"], "company 'nobody' not found"),
    ],
)
def test_pdmctl_assets_forecast_refuses_in_one_line(capsys, monkeypatch, cli_db, args, words):
    code, out, err = run_pdmctl(capsys, monkeypatch, "assets", "forecast", *args, "--database", cli_db)
    assert code != 0 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
