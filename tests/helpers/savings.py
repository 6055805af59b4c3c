"""A hand-checked plant for the savings tests (imported by the savings, report, UI and CLI tests).

alpha: pump-a (pump defaults) and pump-b (emergency repair overridden to 2500).
  #1 pump-a RESOLVED bearing_wear, reported 6 h and 320.50: 6×1000 + (2000−500) − 320.50 = 7179.50
  #2 pump-a RESOLVED cavitation, nothing reported: 4 h default × 1000 + 1500 − 300 default = 5200.00
  #3 pump-b FALSE_ALARM: −150.00 inspection
  #4 pump-b RESOLVED bearing_wear, reported 0.333 h and 0: 333 + (2500−500) − 0 = 2333.00
  alpha total 14562.50, precision 3/4, lead times 2 h, 4 h, 3 h → mean 3 h.
beta: one RESOLVED on fan-x in 2026-09 (outside 2026Q4), reported 2 h and 300: 800 + (600−200) − 300 = 900.00.
gamma (only with three companies): one FALSE_ALARM in 2026Q4 at −40.
``daily_endpoint`` adds a daily tag on alpha for the coverage figures.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

from pdm.alerts import feedback
from pdm.config import parse_plants
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Alert, Endpoint, Tag

T0 = datetime(2026, 10, 5, 8, tzinfo=UTC).timestamp()
T_Q3 = datetime(2026, 9, 10, 8, tzinfo=UTC).timestamp()
H = 3600.0
ALPHA_TOTAL = Decimal("14562.50")
ALPHA_AMOUNTS = {1: Decimal("7179.50"), 2: Decimal("5200.00"), 3: Decimal("-150.00"), 4: Decimal("2333.00")}
BETA_Q3 = Decimal("900.00")  # 2 h × 400 + (600 − 200) − 300 reported
GAMMA_Q4 = Decimal("-40.00")

COST_DEFAULTS = {
    "pump": {
        "downtime_cost_per_hour": 1000,
        "unplanned_downtime_h": {"bearing_wear": 8},
        "default_downtime_h": 4,
        "planned_repair_cost": 500,
        "emergency_repair_cost": 2000,
        "intervention_cost": 300,
        "false_alarm_inspection_cost": 150,
    },
    "fan": {
        "downtime_cost_per_hour": 400,
        "planned_repair_cost": 200,
        "emergency_repair_cost": 600,
        "false_alarm_inspection_cost": 40,
    },
}


def plants(n_companies: int = 3) -> dict:
    companies = [
        {
            "id": "alpha",
            "name": "Alpha Foods",
            "sites": [
                {
                    "id": "s",
                    "assets": [
                        {"id": "pump-a", "asset_class": "pump"},
                        {"id": "pump-b", "asset_class": "pump", "costs": {"emergency_repair_cost": 2500}},
                    ],
                }
            ],
        },
        {
            "id": "beta",
            "name": "Beta Metals",
            "sites": [{"id": "s", "assets": [{"id": "fan-x", "asset_class": "fan"}]}],
        },
        {
            "id": "gamma",
            "name": "Gamma Paper",
            "sites": [{"id": "s", "assets": [{"id": "fan-g", "asset_class": "fan"}]}],
        },
    ]
    return {"companies": companies[:n_companies], "cost_defaults": copy.deepcopy(COST_DEFAULTS)}


def _alert(session, company, asset_slug, opened_at) -> Alert:
    cid = company_by_slug(session, company).id
    asset = next(a for a in list_assets(session, company_id=cid) if a.slug == asset_slug)
    alert = Alert(
        company_id=cid,
        asset_id=asset.id,
        status="OPEN",
        severity="high",
        opened_at=opened_at,
        last_seen_at=opened_at,
        peak_score=5.0,
        threshold=1.0,
        sensors=[],
    )
    session.add(alert)
    session.flush()
    return alert


def fill(session, n_companies: int = 3) -> dict[int, int]:
    """Apply the plants and close the alerts above; returns {fixture number: alert id}."""
    apply_plants(session, parse_plants(plants(n_companies)))
    ids = {}
    a = _alert(session, "alpha", "pump-a", T0)
    cid = a.company_id
    feedback.start(session, company_id=cid, alert_id=a.id, user="ana", now=T0 + 2 * H)
    feedback.resolve(
        session,
        company_id=cid,
        alert_id=a.id,
        user="ana",
        failure_mode="bearing_wear",
        action_taken="bearing",
        downtime_avoided_h=6,
        repair_cost=320.5,
        now=T0 + 5 * H,
    )
    ids[1] = a.id
    a = _alert(session, "alpha", "pump-a", T0 + 24 * H)
    feedback.resolve(
        session,
        company_id=cid,
        alert_id=a.id,
        user="ana",
        failure_mode="cavitation",
        action_taken="valve",
        now=T0 + 28 * H,
    )
    ids[2] = a.id
    a = _alert(session, "alpha", "pump-b", T0 + 48 * H)
    feedback.mark_false_alarm(session, company_id=cid, alert_id=a.id, user="bob", reason="cable", now=T0 + 49 * H)
    ids[3] = a.id
    a = _alert(session, "alpha", "pump-b", T0 + 30 * 24 * H)
    feedback.start(session, company_id=cid, alert_id=a.id, user="bob", now=T0 + 30 * 24 * H + 3 * H)
    feedback.resolve(
        session,
        company_id=cid,
        alert_id=a.id,
        user="bob",
        failure_mode="bearing_wear",
        action_taken="bearing",
        downtime_avoided_h=0.333,
        repair_cost=0,
        now=T0 + 31 * 24 * H,
    )
    ids[4] = a.id
    if n_companies >= 2:
        b = _alert(session, "beta", "fan-x", T_Q3)
        feedback.resolve(
            session,
            company_id=b.company_id,
            alert_id=b.id,
            user="eva",
            failure_mode="imbalance",
            action_taken="SECRET-BETA-ACTION",
            downtime_avoided_h=2,
            repair_cost=300,
            now=T_Q3 + H,
        )
        ids[5] = b.id
    if n_companies >= 3:
        g = _alert(session, "gamma", "fan-g", T0 + 5 * 24 * H)
        feedback.mark_false_alarm(
            session, company_id=g.company_id, alert_id=g.id, user="gus", reason="test", now=T0 + 5 * 24 * H + H
        )
        ids[6] = g.id
    return ids


def daily_endpoint(sessions):
    """One daily tag on alpha: every day of September stored, then Oct 1, 3, …, 29; last read Oct 31."""
    from datetime import datetime, timedelta

    sept = datetime(2026, 9, 1, tzinfo=UTC)
    days = [sept + timedelta(days=d) for d in range(30)] + [sept + timedelta(days=30 + d) for d in range(0, 30, 2)]
    with sessions.begin() as s:
        alpha = company_by_slug(s, "alpha")
        asset = list_assets(s, company_id=alpha.id)[0]
        ep = Endpoint(
            company_id=alpha.id,
            site_id=asset.site_id,
            name="daily",
            endpoint_url="opc.tcp://x:2",
            settings={"poll_interval_s": 86400.0},
            readings_total=len(days),
            last_read_at=datetime(2026, 10, 31, tzinfo=UTC).timestamp(),
        )
        s.add(ep)
        s.flush()
        tag = Tag(company_id=alpha.id, asset_id=asset.id, endpoint_id=ep.id, node_id="ns=2;s=d", name="d")
        s.add(tag)
        s.flush()
        # Two readings on Sept 2 in the same minute, one of them Bad: both count as received.
        insert_readings(
            s,
            [
                {
                    "tag_id": tag.id,
                    "ts": d.timestamp() + extra,
                    "value": 1.0,
                    "quality": q,
                    "received_at": d.timestamp(),
                }
                for d in days
                for extra, q in ([(0, 0), (5, 0x80000000)] if d.day == 2 and d.month == 9 else [(0, 0)])
            ],
        )
        return alpha.id
