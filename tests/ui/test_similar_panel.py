"""The pages of "Seen before": the panel on a technician's alert, the knowledge on the Failure modes page, and
the company's share-notes switch on its Costs page (AppTest on a copy of the migrated SQLite template)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from pdm.alerts.similar import case_ref
from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, AuditEvent, Company, SimilarCaseFeedback
from tests.helpers.app import page_text
from tests.helpers.login import logged_in
from tests.helpers.overview import plant

VIB = [
    {"tag": "vibration", "contribution": 0.8, "value": 9.0, "low": 1.0, "high": 3.0},
    {"tag": "speed", "contribution": 0.2, "value": 50.0, "low": 40.0, "high": 60.0},
]
NAMES = {"a": "Alpha Pumps", "b": "Bravo Steel", "c": "Charlie Foods", "d": "Delta Paper"}


def _alert(s, company: str, status: str = "RESOLVED", **fields) -> int:
    cid = company_by_slug(s, company).id
    alert = Alert(
        company_id=cid,
        asset_id=list_assets(s, company_id=cid)[0].id,
        status=status,
        severity="high",
        opened_at=1_000.0,
        last_seen_at=2_000.0,
        closed_data_at=8_200.0 if status == "RESOLVED" else None,
        peak_score=6.0,
        threshold=2.0,
        sensors=VIB,
        failure_mode="bearing_wear" if status == "RESOLVED" else None,
        **fields,
    )
    s.add(alert)
    s.flush()
    return alert.id


def _run(url: str, step):
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as s:
            return step(s)
    finally:
        engine.dispose()


@pytest.fixture
def cluster(tmp_path, migrated_sqlite_template):
    """Companies a..d with one pump each; a has an open alert; b and c closed a bearing-wear case like it."""
    path = tmp_path / "pdm.sqlite3"
    shutil.copyfile(migrated_sqlite_template, path)
    url = f"sqlite:///{path}"
    config = plant({c: 1 for c in "abcd"}, sites=1)
    for company in config["companies"]:
        company["name"] = NAMES[company["id"]]

    def seed(s):
        apply_plants(s, parse_plants(config))
        return {
            "open": _alert(s, "a", status="OPEN"),
            "b": _alert(s, "b", action_taken="bearing replaced by Bravo", downtime_avoided_h=6.0, repair_cost=300.0),
            "c": _alert(s, "c", action_taken="greased", repair_cost=500.0),
        }

    return url, _run(url, seed)


def _add_third_company(url: str) -> None:
    _run(url, lambda s: _alert(s, "d", action_taken="new bearing", repair_cost=400.0))


def _alert_page(monkeypatch, url: str, alert_id: int):
    at = logged_in(monkeypatch, url, "tina", "technician", "a", page="alerts")
    company_id = _run(url, lambda s: company_by_slug(s, "a").id)
    at.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not at.exception, at.exception
    return at


def test_technician_sees_another_members_case_without_its_name_and_records_a_verdict(monkeypatch, cluster):
    url, ids = cluster
    _add_third_company(url)
    at = _alert_page(monkeypatch, url, ids["open"])
    text = page_text(at).replace("\\", "")  # as read: the markdown source escapes a member's words
    assert "of the most similar cases were real failures (3 companies in the pool)" in text
    assert "**found: Bearing wear**" in text and "another member" in text
    for name in ("Bravo", "Charlie", "Delta", "b-m0", "b-s0", "bearing replaced", "greased"):
        assert name not in text
    assert "Bearing wear on pump: 3 confirmed cases from 3 companies; median lead time 2 h" in text
    ref = case_ref(ids["open"], ids["b"])
    at.button(key=f"seen_helpful_{ids['open']}_{ref}").click().run()
    assert not at.exception, at.exception
    assert "Verdict recorded: Useful" in [s.value for s in at.success]
    assert "Your verdict: Useful" in page_text(at)
    assert at.button(key=f"seen_helpful_{ids['open']}_{ref}").disabled
    stored = _run(
        url,
        lambda s: s.execute(
            select(SimilarCaseFeedback.case_alert_id, SimilarCaseFeedback.verdict, SimilarCaseFeedback.by)
        ).all(),
    )
    assert stored == [(ids["b"], "helpful", "tina")]
    # A second verdict replaces the first.
    at.button(key=f"seen_not_same_{ids['open']}_{ref}").click().run()
    assert not at.exception, at.exception
    stored = _run(url, lambda s: s.execute(select(SimilarCaseFeedback.verdict, SimilarCaseFeedback.by)).all())
    assert stored == [("not_same", "tina")]


def test_nothing_is_shown_while_only_two_companies_have_cases(monkeypatch, cluster):
    url, ids = cluster
    at = _alert_page(monkeypatch, url, ids["open"])
    text = page_text(at)
    assert "Past cases hidden: only 2 companies have closed cases of this asset class; at least 3" in text
    assert "Bearing wear" not in text and "another member" not in text
    assert not [b for b in at.button if b.key and b.key.startswith("seen_")]


def test_failure_modes_page_shows_iso_codes_and_the_members_knowledge(monkeypatch, cluster):
    url, _ = cluster
    _add_third_company(url)
    at = logged_in(monkeypatch, url, "root", "admin", None, page="failure-modes")
    assert at.title[0].value == "Failure modes"
    modes, learned = (d.value for d in at.dataframe)
    assert modes.set_index("code").loc["bearing_wear", "ISO 14224"] == "2.4 Wear"
    row = learned.set_index("failure mode").loc["Bearing wear"]
    assert (row["ISO 14224"], row["asset class"], row["cases"], row["from"]) == ("2.4 Wear", "pump", 3, "3 companies")
    assert row["median lead time (h)"] == "2" and row["median repair cost"] == "€400.00"
    assert row["typical signature"].startswith("vibration:+ 80")
    # The admin's picked company (Alpha) neither shares nor has cases: no member's free text.
    assert row["actions taken"] == ""
    # The cluster reviewer has no company: pooled figures, no free text at all.
    at = logged_in(monkeypatch, url, "rev", "cluster_reviewer", None, page="failure-modes")
    _, learned = (d.value for d in at.dataframe)
    assert list(learned["cases"]) == [3] and "actions taken" not in learned.columns


def test_an_engineer_switches_note_sharing_and_the_change_is_audited(monkeypatch, cluster):
    url, _ = cluster
    at = logged_in(monkeypatch, url, "eve", "engineer", "b", page="costs")
    assert at.title[0].value == "Costs"
    b = _run(url, lambda s: company_by_slug(s, "b").id)
    switch = at.toggle(key=f"share_notes_{b}")
    assert switch.value is False
    switch.set_value(True).run()
    assert not at.exception, at.exception
    assert "Bravo Steel now shares its notes" in [s.value for s in at.success]
    assert at.toggle(key=f"share_notes_{b}").value is True
    assert _run(url, lambda s: s.get_one(Company, b).share_notes) is True
    events = _run(
        url,
        lambda s: [
            (e.actor, e.company_id, e.details)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "share_notes_changed"))
        ],
    )
    assert events == [("eve", b, {"before": False, "after": True})]


def test_a_technician_has_no_switch(monkeypatch, cluster):
    url, _ = cluster
    at = logged_in(monkeypatch, url, "tina", "technician", "a", page="costs")
    assert at.title[0].value == "Overview"  # the Costs page is not theirs: the default page instead
    assert not [t for t in at.toggle if t.key and t.key.startswith("share_notes_")]
    assert (
        _run(url, lambda s: s.scalars(select(AuditEvent).where(AuditEvent.action == "share_notes_changed")).all()) == []
    )


def test_a_member_that_shares_its_notes_is_named_on_the_panel(monkeypatch, cluster):
    from pdm.alerts.similar import set_share_notes

    url, ids = cluster
    _add_third_company(url)
    _run(url, lambda s: set_share_notes(s, company_id=company_by_slug(s, "b").id, share=True, actor="eve"))
    text = page_text(_alert_page(monkeypatch, url, ids["open"])).replace("\\", "")
    assert "b · b-s0 · b-m0" in text and "done: bearing replaced by Bravo" in text
    assert "Charlie" not in text and "greased" not in text
