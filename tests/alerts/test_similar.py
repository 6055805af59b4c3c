"""Seen before: past cases across members, ranked by signature, anonymous unless shared, learning from verdicts."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from pdm.alerts.similar import give_feedback, seen_before, set_share_notes, signature
from pdm.config import parse_plants
from pdm.errors import InvalidInput, NotFound
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, AuditEvent
from tests.helpers.overview import plant
from tests.helpers.pdmctl import run_pdmctl

VIB = [
    {"tag": "vibration", "contribution": 0.8, "value": 9.0, "low": 1.0, "high": 3.0},
    {"tag": "speed", "contribution": 0.2, "value": 50.0, "low": 40.0, "high": 60.0},
]
SPEED_LOW = [{"tag": "speed", "contribution": 0.9, "value": 10.0, "low": 40.0, "high": 60.0}]


def _alert(s, company: str, status: str = "RESOLVED", sensors=VIB, peak: float = 6.0, **feedback) -> int:
    cid = company_by_slug(s, company).id
    asset = list_assets(s, company_id=cid)[0]
    alert = Alert(
        company_id=cid,
        asset_id=asset.id,
        status=status,
        severity="high",
        opened_at=0.0,
        last_seen_at=0.0,
        peak_score=peak,
        threshold=2.0,
        sensors=sensors,
        failure_mode="bearing_wear" if status == "RESOLVED" else None,
        **feedback,
    )
    s.add(alert)
    s.flush()
    return alert.id


@pytest.fixture
def cluster(sessions):
    """Companies a..d with one pump each; a's open alert is vibration-led."""
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plant({c: 1 for c in "abcd"}, sites=1)))
        ids = {"open": _alert(s, "a", status="OPEN", peak=5.0)}
        ids["b_same"] = _alert(s, "b", action_taken="bearing replaced", downtime_avoided_h=6.0)
        ids["c_other"] = _alert(s, "c", sensors=SPEED_LOW)
    return sessions, ids


def _shown(s, ids, **kw):
    return seen_before(s, company_id=company_by_slug(s, "a").id, alert_id=ids["open"], min_companies=3, **kw)


def test_signature_is_each_sensor_and_direction_share():
    assert signature(VIB) == {"vibration:+": 0.8, "speed:~": 0.2}
    assert signature(SPEED_LOW) == {"speed:-": 1.0}
    assert signature([]) == {}


def test_nothing_is_shown_until_three_companies_have_cases(cluster):
    sessions, ids = cluster
    with sessions() as s:
        found = _shown(s, ids)
    assert not found.shown and found.cases == [] and "2 companies" in found.reason
    with sessions.begin() as s:
        _alert(s, "d", status="FALSE_ALARM", false_alarm_reason="sensor knocked")
    with sessions() as s:
        found = _shown(s, ids)
    assert found.shown and found.companies == 3


def test_the_case_with_the_same_signature_comes_first_and_others_stay_anonymous(cluster):
    sessions, ids = cluster
    with sessions.begin() as s:
        _alert(s, "d", status="FALSE_ALARM", sensors=VIB, peak=50.0)  # same sensors, ten times the peak
        found = _shown(s, ids)
    first, second, third = found.cases
    assert first.failure_mode == "bearing_wear" and first.real and first.downtime_avoided_h == 6.0
    assert first.similarity > second.similarity > third.similarity
    assert not second.real  # the false alarm: same sensors, a peak far off
    assert third.similarity < 0.5  # speed under its range is another story
    assert all(c.company is None and c.asset is None and c.action_taken is None for c in found.cases)
    assert 0 < found.real_share < 1


def test_a_company_that_shares_its_notes_is_named_and_the_change_is_audited(cluster):
    sessions, ids = cluster
    with sessions.begin() as s:
        _alert(s, "d")
        assert set_share_notes(s, company_id=company_by_slug(s, "b").id, share=True, actor="eng-b") is False
    with sessions() as s:
        cases = {c.failure_mode and c.company: c for c in _shown(s, ids).cases}
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "share_notes_changed")).one()
    assert cases["b"].action_taken == "bearing replaced" and cases["b"].asset == "b-m0"
    assert event.actor == "eng-b" and event.details == {"before": False, "after": True}


def test_own_cases_are_named(cluster):
    sessions, ids = cluster
    with sessions.begin() as s:
        _alert(s, "d")
        _alert(s, "a", action_taken="realigned")
        found = _shown(s, ids)
    own = [c for c in found.cases if c.own]
    assert len(own) == 1 and own[0].company == "a" and own[0].action_taken == "realigned"


def test_verdicts_move_the_ranking(cluster):
    sessions, ids = cluster
    with sessions.begin() as s:
        _alert(s, "d", sensors=VIB, peak=6.5)
        cid = company_by_slug(s, "a").id
        before = _shown(s, ids).cases
        top, runner_up = before[0], before[1]
        # "Not the same" for this alert: that case drops to the bottom for it.
        give_feedback(s, company_id=cid, alert_id=ids["open"], ref=top.ref, verdict="not_same", by="ana")
        after = _shown(s, ids).cases
        assert after[0].ref == runner_up.ref and after[-1].ref == top.ref and after[-1].not_same == 1
        # Changing one's mind replaces the verdict rather than adding one.
        give_feedback(s, company_id=cid, alert_id=ids["open"], ref=top.ref, verdict="helpful", by="ana")
        again = _shown(s, ids).cases
    assert again[0].ref == top.ref and (again[0].helpful, again[0].not_same) == (1, 0)


def test_bad_feedback_is_refused_naming_what_is_wrong(cluster):
    sessions, ids = cluster
    with sessions.begin() as s:
        cid = company_by_slug(s, "a").id
        ref = _shown(s, ids, limit=1)
        with pytest.raises(InvalidInput, match="verdict = 'great'"):
            give_feedback(s, company_id=cid, alert_id=ids["open"], ref="x", verdict="great", by="ana")
        with pytest.raises(NotFound, match="case 'nope'"):
            give_feedback(s, company_id=cid, alert_id=ids["open"], ref="nope", verdict="helpful", by="ana")
        # Another company's alert is not found, as if it did not exist.
        with pytest.raises(NotFound, match="not found"):
            seen_before(s, company_id=company_by_slug(s, "b").id, alert_id=ids["open"], min_companies=3)
    assert ref is not None


@pytest.fixture
def cli_db(tmp_path, migrated_sqlite_template) -> tuple[str, int]:
    path = tmp_path / "similar.db"
    shutil.copyfile(migrated_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine).begin() as s:
        apply_plants(s, parse_plants(plant({c: 1 for c in "abcd"}, sites=1)))
        open_id = _alert(s, "a", status="OPEN")
        for c in "bcd":
            _alert(s, c)
    engine.dispose()
    return f"sqlite:///{path}", open_id


def test_pdmctl_similar_feedback_and_share_notes(capsys, monkeypatch, cli_db):
    url, open_id = cli_db
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "alerts", "similar", str(open_id), "--company", "a", "--json", "--database", url
    )
    assert code == 0, err
    found = json.loads(out)
    assert found["shown"] and len(found["cases"]) == 3
    ref = found["cases"][0]["ref"]
    code, out, err = run_pdmctl(
        capsys,
        monkeypatch,
        "alerts",
        "similar-feedback",
        str(open_id),
        ref,
        "not-same",
        "--company",
        "a",
        "--database",
        url,
    )
    assert code == 0 and "marked not-same" in out, err
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "alerts", "share-notes", "--company", "b", "--on", "--database", url
    )
    assert code == 0 and "notes shared on (was off)" in out, err
    code, out, _ = run_pdmctl(
        capsys, monkeypatch, "alerts", "similar", str(open_id), "--company", "a", "--database", url
    )
    assert code == 0 and "b/b-m0" in out and "100% of the most similar cases were real" in out
    code, _, err = run_pdmctl(
        capsys,
        monkeypatch,
        "alerts",
        "similar-feedback",
        str(open_id),
        ref,
        "maybe",
        "--company",
        "a",
        "--database",
        url,
    )
    assert code == 1 and "verdict = 'maybe'" in err and len(err.strip().splitlines()) == 1
