"""The overview page through AppTest on a real SQLite database: each asset's tile in its state, the links to
its alert and asset page, only the user's company, and counts only (the k rule) for the cluster reviewer."""

from __future__ import annotations

import time

import pytest

from pdm.alerts.overview import STATES
from pdm.storage.session import make_engine, session_factory
from pdm.ui.overview import LOOK
from tests.helpers.app import app_db, open_page, page_text
from tests.helpers.login import logged_in
from tests.helpers.overview import fill


def _db(path, companies: dict[str, int]) -> tuple[str, dict[str, str]]:
    url = app_db(path, fill=False)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        expected = fill(session, companies, now=time.time())
    engine.dispose()
    return url, expected


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> tuple[str, dict[str, str]]:
    return _db(tmp_path_factory.mktemp("overview") / "pdm.sqlite3", {"alpha": 12, "beta": 6, "gamma": 3})


def tiles(at) -> dict[str, str]:
    """Asset name → its tile's text (a tile's markdown starts with the name in bold)."""
    return {m.value.split("**")[1]: m.value for m in at.markdown if m.value.startswith("**") and "badge[" in m.value}


def links(at) -> dict[str, str]:
    return {link.proto.label: f"{link.proto.page}?{link.proto.query_string}" for link in at.get("page_link")}


def test_technician_lands_on_the_overview_with_every_asset_in_its_state(monkeypatch, plant):
    url, expected = plant
    at = logged_in(monkeypatch, url, "ana", "technician", "alpha")
    assert at.title[0].value == "Overview"  # the default page, before any click
    got = tiles(at)
    assert set(got) == {n for n in expected if n.startswith("A ")}
    for name, text in got.items():
        # The state in words, not the colour only; every tile says when the last reading arrived.
        words = [LOOK[s][2] for s in STATES if f": {LOOK[s][2]}" in text]
        assert words == [LOOK[expected[name]][2]], (name, text)
        assert "last reading " in text and " ago" in text
    assert "high · acknowledged · vibration 80%" in got["A M0"]
    assert "2 h ago" in got["A M1"]
    # Sites are the headings, each site's alert first.
    assert [s.value for s in at.subheader] == ["Alpha site 0", "Alpha site 1"]
    first = [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**A ")]
    assert first[0] == "A M0" and first[6] == "A M1"  # site 1 starts with its no-data tile (no alert there)


def test_tiles_link_to_the_alert_and_the_asset_page(monkeypatch, plant):
    url, _ = plant
    at = logged_in(monkeypatch, url, "ana", "technician", "alpha")
    found = links(at)
    alert_links = {label: target for label, target in found.items() if label.startswith("Alert #")}
    assert len(alert_links) == 2 and all(t.startswith("alerts?alert=") for t in alert_links.values())
    assert sum(label.endswith(": asset page") for label in found) == 12
    assert found["A M3: asset page"].startswith("assets?asset=")


def test_another_companys_assets_never_appear(monkeypatch, plant):
    url, _ = plant
    at = logged_in(monkeypatch, url, "bea", "engineer", "beta")
    assert set(tiles(at)) == {f"B M{i}" for i in range(6)}
    text = page_text(at) + "\n".join(links(at))
    assert "A M" not in text and "Alpha" not in text and "G M" not in text


def test_cluster_reviewer_sees_counts_per_company_only(monkeypatch, plant):
    url, _ = plant
    at = logged_in(monkeypatch, url, "rev", "cluster_reviewer", None)
    assert at.title[0].value == "Overview"
    assert not tiles(at) and not links(at)
    text = page_text(at)
    assert " M" not in text and "#" not in text and "vibration" not in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["assets: alert"] == "4" and metrics["assets: healthy"] == "3"
    table = at.dataframe[0].value
    assert list(table["company"]) == ["Alpha", "Beta", "Gamma"]  # three companies: per company allowed
    assert list(table.columns) == ["company", *(LOOK[s][2].lower() for s in STATES)]
    assert table.set_index("company").loc["Gamma"].tolist() == [1, 1, 1, 0, 0, 0]


def test_cluster_counts_per_company_hidden_under_three_companies(monkeypatch, tmp_path):
    url, _ = _db(tmp_path / "two.sqlite3", {"alpha": 6, "beta": 6})
    at = logged_in(monkeypatch, url, "rev", "cluster_reviewer", None)
    text = page_text(at)
    assert "only 2 companies in the group" in text and not at.dataframe
    assert "Alpha" not in text and "Beta" not in text
    assert {m.label: m.value for m in at.metric}["assets: watch"] == "2"


def test_admin_sees_the_picked_company_and_the_cluster(monkeypatch, plant):
    url, _ = plant
    at = open_page(logged_in(monkeypatch, url, "root", "admin", None), "overview")
    assert set(tiles(at)) == {f"A M{i}" for i in range(12)}
    at.sidebar.selectbox(key="company_picker").set_value("gamma").run()
    assert not at.exception, at.exception
    assert set(tiles(at)) == {"G M0", "G M1", "G M2"}
    assert "Cluster" in [s.value for s in at.subheader] and at.dataframe


def test_the_french_reasons_come_from_the_rows_fields_not_their_english_words(monkeypatch):
    import pdm.ui.i18n
    from pdm.alerts.overview import ALERT, HEALTHY, NO_DATA, NO_MODEL, STOPPED, WATCH, AssetHealth
    from pdm.ui.overview import detail

    monkeypatch.setattr(pdm.ui.i18n, "lang", lambda: "fr")

    def said(state: str, **fields) -> str:
        return detail(AssetHealth(1, "A M0", 1, "Site", state, detail="reworded in English", **fields))

    assert said(WATCH, worst_ratio=0.85) == "le score a atteint 85\u00a0% de son seuil"
    assert said(HEALTHY, worst_ratio=0.4) == "score au plus à 40\u00a0% de son seuil"
    assert said(HEALTHY) == "pas encore de score"
    assert said(NO_DATA) == "aucune mesure enregistrée"
    assert said(NO_DATA, last_received_at=1.0) == "aucune mesure depuis plus de 15 min"
    assert said(NO_MODEL) == "pas encore assez de données pour apprendre un modèle"
    assert said(STOPPED, running_tag="flow", running_above=0.5) == "flow inférieur ou égal à 0,5"
    alert = said(ALERT, severity="high", alert_status="IN_PROGRESS", alert_sensors="vibration 62%")
    assert alert.endswith(" · vibration 62%") and "reworded" not in alert and not alert.startswith("high")
