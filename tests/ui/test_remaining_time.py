"""The asset page's "Remaining time" panel and its list of the limits within 7 days: what ``pdmctl assets
forecast`` says, in the page's language, for the company's own assets only (AppTest on SQLite)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from sqlalchemy import insert

from pdm.config import parse_plants
from pdm.models.forecast import DAY_S
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, ModelVersion, Score
from tests.helpers.app import open_page, page_text
from tests.helpers.login import logged_in
from tests.helpers.overview import plant

END = 1.75e9  # the latest score: the data's own clock
THRESHOLD = 2.0
LIMIT = 1.5  # where acme's one confirmed pump failure was stopped (peak score over threshold)
# acme-m0 wears: 0.3 + 0.2 a day, 0.9 at END, so the limit 1.5 comes 3 days after END.
TRUTH_S = (LIMIT - 0.9) / 0.2 * DAY_S


def _asset_scores(s, company_id: int, asset_id: int, ratio) -> None:
    mv = ModelVersion(
        company_id=company_id,
        asset_id=asset_id,
        version=1,
        detector="mad",
        created_at=0,
        trained_from=0,
        trained_to=0,
        threshold=THRESHOLD,
        feature_names=["vibration"],
        active=True,
        envelope=b"-",
    )
    s.add(mv)
    s.flush()
    rng = np.random.default_rng(asset_id)
    ts = np.arange(END - 3 * DAY_S, END + 1, 300.0)
    rows = [
        {"asset_id": asset_id, "ts": float(t), "company_id": company_id, "model_version_id": mv.id}
        | {"score": (ratio((t - ts[0]) / DAY_S) + rng.normal(0, 0.05)) * THRESHOLD, "threshold": THRESHOLD}
        for t in ts
    ]
    s.execute(insert(Score), rows)


@pytest.fixture(scope="module")
def db(tmp_path_factory, migrated_sqlite_template) -> tuple[str, dict[str, int]]:
    path = tmp_path_factory.mktemp("remaining-time") / "pdm.sqlite3"
    shutil.copyfile(migrated_sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        apply_plants(s, parse_plants(plant({"acme": 2, "beta": 1}, sites=1)))
        acme, beta = company_by_slug(s, "acme").id, company_by_slug(s, "beta").id
        ids = {a.slug: a.id for c in (acme, beta) for a in list_assets(s, company_id=c)}
        _asset_scores(s, acme, ids["acme-m0"], lambda d: 0.3 + 0.2 * d)
        _asset_scores(s, acme, ids["acme-m1"], lambda d: 0.4 + 0 * d)
        _asset_scores(s, beta, ids["beta-m0"], lambda d: 0.5 + 0.25 * d)  # beta's, over its limit: never acme's
        s.add(
            Alert(
                company_id=acme,
                asset_id=ids["acme-m1"],
                status="RESOLVED",
                failure_mode="bearing",
                severity="high",
                opened_at=0.0,
                last_seen_at=0.0,
                peak_score=LIMIT * THRESHOLD,
                threshold=THRESHOLD,
            )
        )
    engine.dispose()
    return url, ids


def _asset_page(monkeypatch, url: str, asset_id: int, user: str = "ana", lang: str | None = None):
    app = open_page(logged_in(monkeypatch, url, user, "technician", "acme"), "assets")
    if lang is not None:  # stored for the user: the French test logs in as its own user
        app.sidebar.selectbox(key="pdm_lang_pick").set_value(lang).run()
    return _pick(app, asset_id)


def _pick(app, asset_id: int):
    app.selectbox(key=next(s.key for s in app.selectbox if s.key and s.key.startswith("asset_pick_"))).set_value(
        asset_id
    ).run()
    assert not app.exception, app.exception
    return app


def _hours(text: str) -> list[float]:
    """The durations of a forecast's words, in seconds: ``3 days``, ``40 h``, ``12 min`` (English or French)."""
    unit = {"days": DAY_S, "jours": DAY_S, "h": 3600.0, "min": 60.0}
    return [
        float(n.replace("\u202f", "").replace(",", ".")) * unit[u]
        for n, u in re.findall(r"([\d,.]+) (days|jours|h|min)", text)
    ]


def test_a_rising_asset_shows_a_remaining_time_whose_interval_holds_the_truth(monkeypatch, db):
    url, ids = db
    app = _asset_page(monkeypatch, url, ids["acme-m0"])
    (found,) = [s.value for s in app.success]
    assert found.startswith("Limit in about ") and "80% interval" in found and "trend over the last" in found
    eta, low, high, _span = _hours(found)
    assert low <= TRUTH_S <= high and low <= eta <= high
    text = page_text(app)
    assert "where 1 confirmed failure of this class of this company was stopped" in text and "Limit 1.5" in text
    (chart,) = [c for c in app.get("vega_lite_chart") if "Health indicator" in c.proto.spec]
    marks = [layer["mark"]["type"] for layer in json.loads(chart.proto.spec)["layer"]]
    assert marks == ["rect", "line", "rule"]  # the interval ahead, the indicator, the limit


def test_a_flat_asset_shows_why_no_forecast_is_given(monkeypatch, db):
    url, ids = db
    app = _asset_page(monkeypatch, url, ids["acme-m1"])
    assert not app.success
    assert "No trend: the indicator is not clearly rising toward its limit." in page_text(app)


def test_the_week_list_holds_the_companys_own_soon_limits_only(monkeypatch, db):
    url, ids = db
    app = _asset_page(monkeypatch, url, ids["acme-m1"])
    app.toggle(key=next(t.key for t in app.toggle if t.key and t.key.startswith("soon_"))).set_value(True).run()
    assert not app.exception, app.exception
    (table,) = [d.value for d in app.dataframe if "remaining time" in d.value.columns]
    assert table["asset"].tolist() == ["A M0"]  # the flat A M1 and beta's B M0 are not in it
    assert table["remaining time"].iloc[0].startswith("Limit in about")


def test_another_companys_asset_shows_nothing_of_it(monkeypatch, db):
    """beta's B M0 rises over its limit: acme's page never forecasts it, even when a link names it."""
    url, ids = db
    app = open_page(logged_in(monkeypatch, url, "ana", "technician", "acme"), "assets")
    app.query_params["asset"] = str(ids["beta-m0"])
    app.run()
    assert not app.exception, app.exception
    text = page_text(app)
    assert "Ignored the link's `asset` parameter" in text
    assert "B M0" not in text and "The indicator is at" not in text
    (shown,) = [s.value for s in app.success]  # the first of acme's own assets, A M0
    assert low_high_hold(shown)


def low_high_hold(words: str) -> bool:
    _eta, low, high, _span = _hours(words)
    return low <= TRUTH_S <= high


def test_the_french_page_says_it_in_french(monkeypatch, db):
    url, ids = db
    app = _asset_page(monkeypatch, url, ids["acme-m0"], user="amelie", lang="fr")
    (found,) = [s.value for s in app.success]
    assert found.startswith("Limite dans environ ") and "intervalle à 80" in found, found
    assert low_high_hold(found)
    assert "Temps restant" in [h.value for h in app.subheader]
    flat = _pick(app, ids["acme-m1"])
    assert "Pas de tendance : l’indicateur ne monte pas nettement vers sa limite." in page_text(flat)


def test_the_french_words_come_from_the_reason_code_not_the_english_sentence(monkeypatch):
    """Each withheld case is said in French from its code and fields, whatever its English reason says."""
    import pdm.ui.i18n
    from pdm.models.forecast import Forecast, Reason
    from pdm.ui.remaining_time import forecast_words

    monkeypatch.setattr(pdm.ui.i18n, "lang", lambda: "fr")
    said = {
        code: forecast_words(Forecast("no_trend", "reworded in English", code=code, **fields))
        for code, fields in [
            (Reason.FEW_ROWS, {"n_rows": 5}),
            (Reason.FEW_BINS, {"n_bins": 2, "bins": 36}),
            (Reason.NOT_RISING, {}),
            (Reason.POOR_FIT, {"trend": "linear", "r2": 0.31}),
            (Reason.TOO_FAR, {"horizon_s": 30 * DAY_S, "based_on_s": 3 * DAY_S}),
            (Reason.REACHED, {"level": 1.25}),
        ]
    }
    assert said[Reason.FEW_ROWS] == "Pas assez de données : 5 lignes de score dans la fenêtre."
    assert said[Reason.FEW_BINS] == "Pas assez de données : 2 tranches de temps sur 36 contiennent des scores."
    assert said[Reason.NOT_RISING] == "Pas de tendance : l’indicateur ne monte pas nettement vers sa limite."
    assert said[Reason.POOR_FIT].startswith("Pas de tendance : le meilleur ajustement (linéaire) explique 31")
    assert said[Reason.TOO_FAR].startswith("Pas de tendance : la limite serait atteinte au-delà de 30 jours")
    assert said[Reason.REACHED] == "L’indicateur en est à 1,25 de sa limite."
