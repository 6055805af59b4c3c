"""The members' knowledge per failure mode and asset class, and the ISO 14224 filing of failure modes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from pdm.alerts.feedback import add_failure_mode
from pdm.alerts.knowledge import knowledge
from pdm.alerts.similar import set_share_notes
from pdm.config import parse_plants
from pdm.errors import InvalidInput
from pdm.storage.catalog import apply_plants, company_by_slug
from pdm.storage.tables import FailureMode
from tests.alerts.test_similar import SPEED_LOW, _alert, cli_db  # noqa: F401  (cli_db: a fixture)
from tests.helpers.overview import plant
from tests.helpers.pdmctl import run_pdmctl


def _case(s, company: str, *, cost: float, hours: float, action: str, sensors=None, lead_h: float = 10.0) -> None:
    extra = {"sensors": sensors} if sensors else {}
    _alert(
        s,
        company,
        repair_cost=cost,
        downtime_avoided_h=hours,
        action_taken=action,
        closed_data_at=lead_h * 3600,
        **extra,
    )


def test_the_starting_failure_modes_are_filed_under_iso_14224(sessions):
    with sessions.begin() as s:
        filed = {m.code: m.iso14224 for m in s.scalars(select(FailureMode))}
        assert filed["bearing_wear"] == "2.4" and filed["clogging_filter"] == "5.1" and filed["sensor_fault"] == "3.3"
        assert add_failure_mode(s, code="belt_slip", label="Belt slip", iso14224="1.5").iso14224 == "1.5"
        with pytest.raises(InvalidInput, match="iso14224 = '9.9'"):
            add_failure_mode(s, code="gear_pit", label="Gear pitting", iso14224="9.9")


def test_figures_pool_the_members_from_three_companies_and_notes_stay_with_their_owners(sessions):
    with sessions.begin() as s:
        apply_plants(s, parse_plants(plant({c: 1 for c in "abcd"}, sites=1)))
        a = company_by_slug(s, "a").id
        _case(s, "a", cost=100.0, hours=4.0, action="Bearing replaced ", lead_h=6.0)
        _case(s, "b", cost=300.0, hours=8.0, action="secret supplier fix", lead_h=20.0)
        _alert(s, "b", status="FALSE_ALARM")  # no failure: not counted
        (own,) = knowledge(s, company_id=a, min_companies=3)
        assert not own.pooled and own.cases == 1 and own.repair_cost == 100.0  # b's case is not shown to a
        _case(s, "c", cost=200.0, hours=6.0, action="bearing replaced", sensors=SPEED_LOW, lead_h=12.0)
        (pooled,) = knowledge(s, company_id=a, min_companies=3)
        assert pooled.pooled and (pooled.cases, pooled.companies) == (3, 3)
        assert (pooled.repair_cost, pooled.downtime_avoided_h, pooled.lead_time_h) == (200.0, 6.0, 12.0)
        assert pooled.signature[0] == ("vibration:+", 0.53)  # two of three cases were vibration-led
        assert pooled.iso14224 == "ISO 14224 2.4 Wear" and pooled.failure_mode == "bearing_wear"
        # Only a's own words, since nobody else shares notes.
        assert pooled.actions == [("bearing replaced", 1)]
        set_share_notes(s, company_id=company_by_slug(s, "c").id, share=True, actor="eng-c")
        assert knowledge(s, company_id=a, min_companies=3)[0].actions == [("bearing replaced", 2)]
        assert knowledge(s, company_id=a, min_companies=3, asset_class="compressor") == []


def test_pdmctl_alerts_knowledge_and_the_similar_panel(capsys, monkeypatch, cli_db):  # noqa: F811
    url, open_id = cli_db
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "alerts", "knowledge", "--company", "a", "--json", "--database", url
    )
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["failure_mode"] == "bearing_wear" and entry["cases"] == 3 and entry["pooled"]
    code, out, err = run_pdmctl(
        capsys, monkeypatch, "alerts", "similar", str(open_id), "--company", "a", "--json", "--database", url
    )
    assert code == 0 and [m["failure_mode"] for m in json.loads(out)["modes"]] == ["bearing_wear"], err
