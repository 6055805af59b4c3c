"""Demo feedback: close the demo's alerts as a technician would, so the savings pages have data.

An alert whose asset had an injected fault overlapping the alert's window is a real fault:
taken in hand, then RESOLVED with the fault's kind as failure mode. An alert raised by a benign
event (a planned process change) is a FALSE_ALARM with that as its reason, as the technician who
finds the line running another product would say; every other alert is a FALSE_ALARM too.
To show both kinds of inputs on the savings page, every other resolution reports its downtime
and repair cost and the rest leave them to the cost model's defaults. Times are the alert's
own (data time), so a fast-forwarded plant stays consistent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import feedback
from pdm.alerts.rules import list_alerts
from pdm.storage.catalog import list_companies
from pdm.storage.tables import OPEN_STATUSES, Alert

ACTIONS = {
    "bearing_wear": "replaced the drive-end bearing",
    "cavitation": "opened the suction valve, cleaned strainer",
    "clogging_filter": "replaced the filter cartridge",
    "cooling_failure": "cleaned the cooler, topped up coolant",
    "imbalance": "rebalanced the impeller",
}
# Reported figures per failure mode: (downtime avoided h, repair cost).
REPORTED = {
    "bearing_wear": (8.0, 450.0),
    "cavitation": (4.0, 120.0),
    "clogging_filter": (2.0, 60.0),
    "cooling_failure": (6.0, 300.0),
    "imbalance": (5.0, 200.0),
}
FALSE_REASONS = ("load change after a recipe switch", "sensor cable loose", "maintenance test run")
BENIGN_REASONS = {"process_change": "planned process change: the line ran a low-demand product at reduced load"}


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _matching_fault(alert: Alert, company: str, asset: str, faults: list[dict]) -> dict | None:
    for f in faults:
        if (
            (f["company"], f["asset"]) == (company, asset)
            and _epoch(f["start"]) <= alert.last_seen_at
            and alert.opened_at <= _epoch(f["end"])
        ):
            return f
    return None


def _close(session: Session, alert: Alert, company_id: int, fault: dict | None, n: int, user: str) -> str:
    """Close one alert; ``n`` (its rank) alternates reported and default figures and false-alarm reasons."""
    if fault is None or fault.get("benign"):
        reason = BENIGN_REASONS.get(fault["kind"], "planned event") if fault else FALSE_REASONS[n % len(FALSE_REASONS)]
        feedback.mark_false_alarm(
            session, company_id=company_id, alert_id=alert.id, user=user, reason=reason, now=alert.last_seen_at + 600
        )
        return "FALSE_ALARM"
    kind = fault["kind"] if fault["kind"] in feedback.failure_mode_codes(session) else "other"
    hours, cost = REPORTED.get(kind, (None, None)) if n % 2 == 0 else (None, None)
    if alert.status in ("OPEN", "ACKNOWLEDGED"):
        # The intervention: a quarter of the way through the alert, at least 5 minutes after it opened.
        taken = alert.opened_at + max(300.0, (alert.last_seen_at - alert.opened_at) / 4)
        feedback.start(session, company_id=company_id, alert_id=alert.id, user=user, now=taken)
    feedback.resolve(
        session,
        company_id=company_id,
        alert_id=alert.id,
        user=user,
        failure_mode=kind,
        action_taken=ACTIONS.get(kind, "inspected and repaired"),
        downtime_avoided_h=hours,
        repair_cost=cost,
        now=max(alert.last_seen_at, alert.started_at or 0) + 1800,
    )
    return "RESOLVED"


def close_demo_alerts(
    session_factory: sessionmaker[Session], *, faults: list[dict], leave_open: int = 1, user: str = "demo-technician"
) -> dict[str, int]:
    """Close every open alert of every company but the ``leave_open`` newest (left for the technician page).

    ``faults`` is ``SimulatedPlant.faults``: [{"company", "asset", "kind", "start", "end", "benign"}], times
    as datetimes or epoch seconds; a ``benign`` event's alerts are false alarms.
    Returns how many alerts were resolved, marked false and left open.
    """
    counts = {"RESOLVED": 0, "FALSE_ALARM": 0, "open": 0}
    with session_factory.begin() as session:
        found = [
            (alert, asset, company)
            for company in list_companies(session)
            for alert, asset in list_alerts(session, company_id=company.id, statuses=OPEN_STATUSES)
        ]
        found.sort(key=lambda r: r[0].opened_at)
        keep = found[len(found) - leave_open :] if leave_open > 0 else []
        counts["open"] = len(keep)
        for n, (alert, asset, company) in enumerate(found[: len(found) - len(keep)]):
            fault = _matching_fault(alert, company.slug, asset.slug, faults)
            counts[_close(session, alert, company.id, fault, n, user)] += 1
    return counts
