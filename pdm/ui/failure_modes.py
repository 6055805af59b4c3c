"""Failure modes page: the cluster's shared list a technician names when resolving an alert.

Cluster reviewers and admins extend it here (as ``pdmctl alerts failure-modes --add`` does);
the code is validated and a duplicate is refused with the reason next to the form. Each mode shows
the ISO 14224 failure mechanism it is filed under, and below the list, what the members learned of
each mode (``pdm.alerts.knowledge``, as ``pdmctl alerts knowledge``): for the company the admin
picked, on that company's asset classes; for a cluster reviewer (no company), the pooled figures
only (three companies or more), without any member's free text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.alerts import feedback
from pdm.alerts.iso14224 import MECHANISMS
from pdm.alerts.knowledge import ModeKnowledge, knowledge
from pdm.errors import PdmError
from pdm.savings.kanon import K_MIN
from pdm.storage.catalog import list_assets
from pdm.storage.tables import Asset, CostDefault
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _, money, number, share

FLASH = "pdm_failure_modes_flash"
EVERY_CLASS = ""
# No company has id 0: the figures pooled from K_MIN companies or more, none of a company's own.
NO_COMPANY = 0
PREFIX = "ISO 14224 "


def iso_code(code: str | None) -> str:
    """``2.4 Wear``: the ISO 14224 mechanism's number and the standard's name for it."""
    return f"{code} {MECHANISMS[code]}" if code in MECHANISMS else _("not filed")


def asset_classes(session: Session) -> list[str]:
    """Asset classes known to the cluster (its assets and its cost defaults): names only, no member data."""
    found = set(session.execute(select(Asset.asset_class).distinct()).scalars())
    found |= set(session.execute(select(CostDefault.asset_class)).scalars())
    return sorted(found)


def _add(make_session: sessionmaker[Session]) -> None:
    s = st.session_state
    code, label = (s.get("fm_code") or "").strip(), (s.get("fm_label") or "").strip()
    try:
        with make_session.begin() as session:
            feedback.add_failure_mode(session, code=code, label=label, asset_class=s.get("fm_class") or None)
    except PdmError as exc:
        s[FLASH] = ("error", str(exc))
        return
    s[FLASH] = ("success", _("Failure mode {code} added").format(code=repr(code)))
    s["fm_code"] = s["fm_label"] = ""


def render(*, make_session: sessionmaker[Session], company: CompanyRef | None = None) -> None:
    st.title(_("Failure modes"))
    st.caption(_("What a technician can name when resolving an alert, shared by every company of the cluster."))
    with make_session() as session:
        modes = feedback.list_failure_modes(session)
        classes = asset_classes(session)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("code"): m.code,
                    _("label"): m.label,
                    _("asset class"): m.asset_class or _("every class"),
                    _("ISO 14224"): iso_code(m.iso14224),
                }
                for m in modes
            ],
            columns=[_("code"), _("label"), _("asset class"), _("ISO 14224")],
        ),
        hide_index=True,
    )
    _knowledge(make_session, company)
    st.subheader(_("Add a failure mode"))
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])
    # Plain widgets and a button callback (no st.form): the entered values stay after a refusal.
    st.text_input(_("Code"), key="fm_code", placeholder="belt_slip", help=_("Lowercase letters, digits and _."))
    st.text_input(_("Label"), key="fm_label", placeholder=_("Belt slip"))
    st.selectbox(_("Asset class"), [EVERY_CLASS, *classes], key="fm_class", format_func=lambda c: c or _("every class"))
    st.button(_("Add failure mode"), key="fm_add", on_click=_add, args=(make_session,))


def _knowledge(make_session: sessionmaker[Session], company: CompanyRef | None) -> None:
    st.subheader(_("What the members learned"))
    with make_session() as session:
        if company is None:
            found = [k for k in knowledge(session, company_id=NO_COMPANY, min_companies=K_MIN) if k.pooled]
        else:
            classes = {a.asset_class for a in list_assets(session, company_id=company.id)}
            found = [
                k for k in knowledge(session, company_id=company.id, min_companies=K_MIN) if k.asset_class in classes
            ]
    if company is None:
        st.caption(_("Confirmed failures pooled from at least {k} companies, on every asset class.").format(k=K_MIN))
    else:
        st.caption(
            _(
                "Confirmed failures on {company}'s asset classes: pooled from every member once at least {k} "
                "companies have such cases, else {company}'s own."
            ).format(company=company.name, k=K_MIN)
        )
    if not found:
        st.info(_("No confirmed failure yet."))
        return
    st.dataframe(knowledge_frame(found, notes=company is not None), hide_index=True)


def knowledge_frame(found: list[ModeKnowledge], *, notes: bool) -> pd.DataFrame:
    rows = []
    for k in found:
        row = {
            _("failure mode"): k.label,
            # knowledge() names the mechanism "ISO 14224 2.4 Wear" (or says it has none): the column says ISO 14224.
            _("ISO 14224"): k.iso14224.removeprefix(PREFIX) if k.iso14224.startswith(PREFIX) else _("not filed"),
            _("asset class"): k.asset_class,
            _("cases"): k.cases,
            _("from"): _("{n} companies").format(n=k.companies) if k.pooled else _("this company only"),
            _("typical signature"): ", ".join(f"{sensor} {share(part)}" for sensor, part in k.signature),
            _("median lead time (h)"): number(k.lead_time_h),
            _("median repair cost"): money(k.repair_cost),
            _("median downtime avoided (h)"): number(k.downtime_avoided_h),
        }
        if notes:
            row[_("actions taken")] = "; ".join(f"{text} ({n})" for text, n in k.actions)
        rows.append(row)
    return pd.DataFrame(rows)
