"""Seen before: on a technician's alert, the closed cases of the same asset class most like it, across members.

Each case shows only what ``pdm.alerts.similar.seen_before`` gives: its failure mode or "false alarm",
the downtime it avoided and its repair cost; its company, site, asset and the action taken only for
the company's own cases and those of a member that shares its notes (else "another member"). Nothing
is listed until the cluster's anonymity rule allows it (``K_MIN`` companies with closed cases of the
class). Two buttons per case record the technician's verdict (``give_feedback``: "useful" or "not
similar"; a second click replaces the first), which the ranking learns from.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts.feedback import list_failure_modes
from pdm.alerts.knowledge import ModeKnowledge, knowledge
from pdm.alerts.similar import Case, case_ref, give_feedback, seen_before
from pdm.errors import PdmError
from pdm.savings.kanon import K_MIN
from pdm.storage.tables import Alert, Asset, SimilarCaseFeedback
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _, money, ngettext, number, share

FLASH = "pdm_seen_before_flash"
LIMIT = 5
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def _plain(text: str) -> str:
    """A member's free text, shown as typed: nothing in it is read as markdown."""
    return " ".join(text.split()).translate(_MARKDOWN)


def render(
    make_session: sessionmaker[Session], session: Session, company: CompanyRef, alert: Alert, *, user: str
) -> None:
    found = seen_before(session, company_id=company.id, alert_id=alert.id, min_companies=K_MIN, limit=LIMIT)
    with st.expander(_("Seen before: similar past cases"), key=f"exp_seen_before_{alert.id}"):
        flash = st.session_state.pop(FLASH, None)
        if flash:
            (st.error if flash[0] == "error" else st.success)(flash[1])
        if not found.shown:
            st.info(
                ngettext(
                    "Past cases hidden: only {n} company has closed cases of this asset class; at least {k} are "
                    "needed so that no member can be recognised.",
                    "Past cases hidden: only {n} companies have closed cases of this asset class; at least {k} are "
                    "needed so that no member can be recognised.",
                    found.companies,
                ).format(n=found.companies, k=K_MIN)
            )
            return
        st.markdown(
            _("{share} of the most similar cases were real failures ({n} companies in the pool).").format(
                share=share(found.real_share), n=found.companies
            )
        )
        labels = {m.code: m.label for m in list_failure_modes(session)}
        mine = _my_verdicts(session, alert.id, user)
        for case in found.cases:
            st.markdown(_case_line(case, labels))
            said = mine.get(case.ref)
            if said:
                st.caption(_("Your verdict: {verdict}").format(verdict=_verdict_word(said)))
            left, right = st.columns(2)
            for col, verdict in ((left, "helpful"), (right, "not_same")):
                col.button(
                    _verdict_word(verdict),
                    key=f"seen_{verdict}_{alert.id}_{case.ref}",
                    on_click=_give,
                    args=(make_session, company.id, alert.id, case.ref, verdict, user),
                    disabled=said == verdict,
                    width="stretch",
                )
        asset_class = session.get_one(Asset, alert.asset_id).asset_class
        modes = {c.failure_mode for c in found.cases if c.real}
        for k in knowledge(session, company_id=company.id, min_companies=K_MIN, asset_class=asset_class):
            if k.failure_mode in modes:
                st.caption(knowledge_line(k))


def _verdict_word(verdict: str) -> str:
    return _("Useful") if verdict == "helpful" else _("Not similar")


def _case_line(case: Case, labels: dict[str, str]) -> str:
    if case.own:
        where = _("this company") + (f" · {_plain(case.site or '')} · {_plain(case.asset or '')}" if case.asset else "")
    elif case.company:  # a member that shares its notes
        where = " · ".join(_plain(p) for p in (case.company, case.site or "", case.asset or "") if p)
    else:
        where = _("another member")
    found = (
        _("found: {mode}").format(mode=_plain(labels.get(case.failure_mode or "", case.failure_mode or "?")))
        if case.real
        else _("false alarm")
    )
    parts = [
        f"**{found}**",
        where,
        _("similarity {value}").format(value=number(case.similarity)),
    ]
    if case.downtime_avoided_h is not None:
        parts.append(_("downtime avoided {hours} h").format(hours=number(case.downtime_avoided_h)))
    if case.repair_cost is not None:
        parts.append(_("repair cost {cost}").format(cost=money(case.repair_cost)))
    if case.action_taken:
        parts.append(_("done: {action}").format(action=_plain(case.action_taken)))
    if case.helpful or case.not_same:
        parts.append(_("{helpful} useful, {not_same} not similar").format(helpful=case.helpful, not_same=case.not_same))
    return " · ".join(parts)


def knowledge_line(k: ModeKnowledge) -> str:
    source = (
        _("{n} companies").format(n=k.companies)
        if k.pooled
        else _("this company only (fewer than {k} companies)").format(k=K_MIN)
    )
    return _(
        "{mode} on {cls}: {cases} confirmed cases from {source}; median lead time {lead} h, repair cost {cost}, "
        "downtime avoided {downtime} h"
    ).format(
        mode=k.label,
        cls=k.asset_class,
        cases=k.cases,
        source=source,
        lead=number(k.lead_time_h),
        cost=money(k.repair_cost),
        downtime=number(k.downtime_avoided_h),
    )


def _my_verdicts(session: Session, alert_id: int, user: str) -> dict[str, str]:
    rows = session.execute(
        select(SimilarCaseFeedback.case_alert_id, SimilarCaseFeedback.verdict).where(
            SimilarCaseFeedback.alert_id == alert_id, SimilarCaseFeedback.by == user
        )
    ).all()
    return {case_ref(alert_id, case_id): verdict for case_id, verdict in rows}


def _give(
    make_session: sessionmaker[Session], company_id: int, alert_id: int, ref: str, verdict: str, user: str
) -> None:
    """Callback: the verdict in its own transaction; the outcome is shown on the next draw."""
    try:
        with make_session.begin() as session:
            give_feedback(session, company_id=company_id, alert_id=alert_id, ref=ref, verdict=verdict, by=user)
        st.session_state[FLASH] = ("success", _("Verdict recorded: {verdict}").format(verdict=_verdict_word(verdict)))
    except PdmError as exc:
        st.session_state[FLASH] = ("error", str(exc))
