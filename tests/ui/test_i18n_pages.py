"""A French company's technician reads the app in French, times on the site's clock; an English user in
English; the sidebar's language choice is stored for the user (AppTest on a real SQLite database)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from streamlit.util import calc_hash

from pdm.i18n import format_when
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, Company, Site, User
from tests.helpers.app import app_db, page_text
from tests.helpers.login import logged_in, seed_user


def _write(url: str, *statements) -> None:
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        for statement in statements:
            session.execute(statement)
    engine.dispose()


def _one(url: str, statement):
    engine = make_engine(url)
    with session_factory(engine)() as session:
        value = session.execute(statement).scalar_one()
    engine.dispose()
    return value


@pytest.fixture(scope="module")
def french_plant(tmp_path_factory) -> str:
    """The test plant, its company alpha French and on Paris time; bob chose English."""
    url = app_db(tmp_path_factory.mktemp("i18n") / "pdm.sqlite3")
    alpha = select(Company.id).where(Company.slug == "alpha").scalar_subquery()
    seed_user(url, "bob", "technician", "alpha")
    _write(
        url,
        update(Company).where(Company.slug == "alpha").values(locale="fr"),
        update(Site).where(Site.company_id == alpha).values(timezone="Europe/Paris"),
        update(User).where(User.username == "bob").values(language="en"),
    )
    return url


def test_a_french_company_user_reads_the_overview_and_alerts_in_french(monkeypatch, french_plant):
    at = logged_in(monkeypatch, french_plant, "ana", "technician", "alpha")
    assert at.title[0].value == "Vue d’ensemble"
    assert "dernière mesure" in page_text(at) and "last reading" not in page_text(at)
    at._page_hash = calc_hash("alerts")  # pages are callables: open one by its url path, as a link does
    at.run()
    assert at.title[0].value == "Alertes"
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["équipement", "gravité", "état"]
    assert table["état"].tolist() == ["Ouverte"] and table["gravité"].tolist() == ["haute"]
    alert_id = _one(french_plant, select(Alert.id))
    at.selectbox(key=f"alert_pick_{_one(french_plant, select(Alert.company_id))}").set_value(alert_id).run()
    assert {"Acquitter", "Prendre en charge"} <= {b.label for b in at.button}
    # Opened at T0 + 40 steps, shown on Paris time in French words ("14 nov. 2023, 23:53" style).
    opened = _one(french_plant, select(Alert.opened_at))
    assert format_when(opened, lang="fr", tz="Europe/Paris") in page_text(at)


def test_a_user_who_chose_english_reads_english(monkeypatch, french_plant):
    at = logged_in(monkeypatch, french_plant, "bob", "technician", "alpha", page="alerts")
    assert at.title[0].value == "Alerts"
    assert list(at.dataframe[0].value.columns[:3]) == ["asset", "severity", "status"]
    assert at.sidebar.selectbox(key="pdm_lang_pick").value == "en"


def test_the_language_picked_in_the_sidebar_is_stored_for_the_user(monkeypatch, tmp_path):
    url = app_db(tmp_path / "pdm.sqlite3")  # no locale: English
    at = logged_in(monkeypatch, url, "ana", "technician", "alpha")
    assert at.title[0].value == "Overview"
    at.sidebar.selectbox(key="pdm_lang_pick").set_value("fr").run()
    assert at.title[0].value == "Vue d’ensemble"
    assert _one(url, select(User.language).where(User.username == "ana")) == "fr"
