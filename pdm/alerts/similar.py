"""Seen before: the closed alerts of other assets of the same class, across members, most like this one.

An alert's signature is what it says about the machine: which sensors carried the excursion, in
which direction (over or under their normal range) and in what share (``signature``), plus how far
it went (peak over threshold) and how long it lasted. Two alerts are alike when their signatures
point the same way (cosine of the share vectors) and their peaks are of the same order.

What another company's case shows: its failure mode, whether it turned out real, the downtime it
avoided and its repair cost. Its company, site, asset and free text (the action taken) only when
that company shares its notes (``companies.share_notes``, changed through ``set_share_notes``,
audited). And nothing at all unless at least ``min_companies`` companies have closed cases of the
class in the pool (the cluster's anonymity rule: with two, the other one is known).

The ranking learns from technicians: each "helpful" a case received (from any company) lifts it,
each "not the same" lowers it, and a case someone marked "not the same" for this very alert drops
to the bottom for it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.access import audit
from pdm.alerts.rules import get_alert
from pdm.errors import InvalidInput, NotFound
from pdm.storage.tables import Alert, Asset, Company, SimilarCaseFeedback, Site

VERDICTS = ("helpful", "not_same")
_LEARN = 0.15  # similarity moved per net verdict, up to ±3 verdicts


@dataclass(frozen=True)
class Case:
    ref: str  # an opaque handle for feedback; says nothing of the case's company
    similarity: float
    real: bool
    failure_mode: str | None
    downtime_avoided_h: float | None
    repair_cost: float | None
    helpful: int
    not_same: int
    own: bool
    company: str | None = None  # these four only for the own company's cases or a sharing one
    site: str | None = None
    asset: str | None = None
    action_taken: str | None = None


@dataclass(frozen=True)
class SeenBefore:
    shown: bool
    reason: str
    companies: int  # in the pool for this class
    cases: list[Case] = field(default_factory=list)
    real_share: float | None = None  # of the shown cases, weighted by similarity

    def as_dict(self) -> dict:
        return asdict(self)


def signature(sensors: list[dict]) -> dict[str, float]:
    """{"tag:+"|"tag:-"|"tag:~": share of the contributions} of an alert's ``sensors``."""
    shares: dict[str, float] = {}
    for s in sensors:
        value, low, high = s.get("value"), s.get("low"), s.get("high")
        way = "~"
        if value is not None and high is not None and value > high:
            way = "+"
        elif value is not None and low is not None and value < low:
            way = "-"
        key = f"{s['tag']}:{way}"
        shares[key] = shares.get(key, 0.0) + max(float(s.get("contribution") or 0.0), 0.0)
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()} if total > 0 else {}


def likeness(a: Alert, b: Alert) -> float:
    """0..1: the signatures' cosine, discounted when the peaks differ by more than a factor of e."""
    sa, sb = signature(a.sensors), signature(b.sensors)
    dot = sum(v * sb.get(k, 0.0) for k, v in sa.items())
    norm = math.sqrt(sum(v * v for v in sa.values())) * math.sqrt(sum(v * v for v in sb.values()))
    cosine = dot / norm if norm > 0 else 0.0
    gap = abs(math.log(_peak_ratio(a)) - math.log(_peak_ratio(b)))
    return cosine * (0.75 + 0.25 * math.exp(-gap))


def _peak_ratio(alert: Alert) -> float:
    return max(alert.peak_score / alert.threshold, 1e-6) if alert.threshold > 0 else 1.0


def case_ref(alert_id: int, case_id: int) -> str:
    return hashlib.sha256(f"seen-before\x1f{alert_id}\x1f{case_id}".encode()).hexdigest()[:12]


def seen_before(session: Session, *, company_id: int, alert_id: int, min_companies: int, limit: int = 5) -> SeenBefore:
    """The ``limit`` closed cases most like alert ``alert_id`` of ``company_id`` (NotFound for another's)."""
    alert = get_alert(session, company_id=company_id, alert_id=alert_id)
    asset_class = session.get_one(Asset, alert.asset_id).asset_class
    pool = _pool(session, asset_class, exclude=alert.id)
    companies = len({a.company_id for a, *_ in pool})
    if companies < min_companies:
        reason = f"{companies} companies have closed cases of this class; shown from {min_companies}"
        return SeenBefore(False, reason, companies)
    votes = _votes(session, [a.id for a, *_ in pool], alert.id)
    scored = [(_learned(likeness(alert, a), votes, a.id), a, rest) for a, *rest in pool]
    # A case marked "not the same" for this very alert goes last, whatever its score.
    ranked = sorted(scored, key=lambda r: (r[1].id in votes["rejected_here"], -r[0]))
    cases = [_case(alert, a, sim, rest, company_id, votes) for sim, a, rest in ranked[:limit]]
    weight = sum(c.similarity for c in cases)
    real = sum(c.similarity for c in cases if c.real) / weight if weight > 0 else None
    return SeenBefore(True, "", companies, cases, real)


def _pool(session: Session, asset_class: str, *, exclude: int) -> list[Any]:
    return list(
        session.execute(
            select(Alert, Asset.slug, Site.slug, Company.slug, Company.share_notes)
            .join(Asset, Asset.id == Alert.asset_id)
            .join(Site, Site.id == Asset.site_id)
            .join(Company, Company.id == Alert.company_id)
            .where(Asset.asset_class == asset_class, Alert.id != exclude)
            .where((Alert.status == "FALSE_ALARM") | ((Alert.status == "RESOLVED") & Alert.failure_mode.is_not(None)))
        ).all()
    )


def _votes(session: Session, case_ids: list[int], alert_id: int) -> dict:
    rows = session.execute(
        select(SimilarCaseFeedback.case_alert_id, SimilarCaseFeedback.verdict, SimilarCaseFeedback.alert_id).where(
            SimilarCaseFeedback.case_alert_id.in_(case_ids)
        )
    ).all()
    counts = Counter((case, verdict) for case, verdict, _ in rows)
    rejected_here = {case for case, verdict, for_alert in rows if verdict == "not_same" and for_alert == alert_id}
    return {"counts": counts, "rejected_here": rejected_here}


def _learned(sim: float, votes: dict, case_id: int) -> float:
    if case_id in votes["rejected_here"]:
        return 0.0
    net = votes["counts"][(case_id, "helpful")] - votes["counts"][(case_id, "not_same")]
    return min(max(sim + _LEARN * max(-3, min(3, net)), 0.0), 1.5)


def _case(alert: Alert, case: Alert, sim: float, rest: list, company_id: int, votes: dict) -> Case:
    asset, site, company, shares = rest
    own = case.company_id == company_id
    named = own or bool(shares)
    return Case(
        ref=case_ref(alert.id, case.id),
        similarity=round(sim, 3),
        real=case.status == "RESOLVED",
        failure_mode=case.failure_mode,
        downtime_avoided_h=case.downtime_avoided_h,
        repair_cost=case.repair_cost,
        helpful=votes["counts"][(case.id, "helpful")],
        not_same=votes["counts"][(case.id, "not_same")],
        own=own,
        company=company if named else None,
        site=site if named else None,
        asset=asset if named else None,
        action_taken=case.action_taken if named else None,
    )


def give_feedback(
    session: Session, *, company_id: int, alert_id: int, ref: str, verdict: str, by: str, now: float | None = None
) -> None:
    """Record ``by``'s verdict on the suggested case ``ref`` of alert ``alert_id``; a second one replaces it."""
    if verdict not in VERDICTS:
        raise InvalidInput("verdict", verdict, f"expected one of {', '.join(VERDICTS)}")
    alert = get_alert(session, company_id=company_id, alert_id=alert_id)
    asset_class = session.get_one(Asset, alert.asset_id).asset_class
    match = [a.id for a, *_ in _pool(session, asset_class, exclude=alert.id) if case_ref(alert.id, a.id) == ref]
    if not match:
        raise NotFound(f"case {ref!r} is not a past case of alert {alert_id}")
    found = session.scalar(
        select(SimilarCaseFeedback).where(
            SimilarCaseFeedback.alert_id == alert.id,
            SimilarCaseFeedback.case_alert_id == match[0],
            SimilarCaseFeedback.by == by,
        )
    )
    at = time.time() if now is None else now
    if found is None:
        session.add(
            SimilarCaseFeedback(
                company_id=company_id, alert_id=alert.id, case_alert_id=match[0], verdict=verdict, by=by, at=at
            )
        )
    else:
        found.verdict, found.at = verdict, at


def set_share_notes(session: Session, *, company_id: int, share: bool, actor: str) -> bool:
    """Whether the company's notes are shown on other members' similar cases; audited. Returns the old value."""
    company = session.get_one(Company, company_id)
    before = company.share_notes
    company.share_notes = share
    audit.record(
        session,
        actor=actor,
        action="share_notes_changed",
        company_id=company_id,
        target=company.slug,
        details={"before": before, "after": share},
    )
    return before
