"""The company's "share our notes" switch, on its Costs page (the company's settings), for engineers and admins.

On: other members' "Seen before" panels show this company's name, site, asset and action taken on its
past cases; off (the default): its cases stay anonymous. The change goes through
``pdm.alerts.similar.set_share_notes``, which audits it (``share_notes_changed``), as
``pdmctl alerts share-notes`` does.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from pdm.access.tenancy import ADMIN, ENGINEER, Principal
from pdm.alerts.similar import set_share_notes
from pdm.errors import PdmError
from pdm.storage.tables import Company
from pdm.ui.common import CompanyRef
from pdm.ui.i18n import _

EDITORS = (ENGINEER, ADMIN)
FLASH = "pdm_share_notes_flash"


def _key(company_id: int) -> str:
    return f"share_notes_{company_id}"


def render(*, make_session: sessionmaker[Session], company: CompanyRef, principal: Principal) -> None:
    if principal.role not in EDITORS:
        return
    st.subheader(_("Sharing with the other members"))
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])
    with make_session() as session:
        # The stored value, every run: the switch never shows a state another user has since changed.
        st.session_state[_key(company.id)] = session.get_one(Company, company.id).share_notes
    st.toggle(
        _("Share our notes on similar cases"),
        key=_key(company.id),
        on_change=_changed,
        args=(make_session, company, principal),
        help=_(
            "On: other members see this company's name, site, asset and action taken on its past cases beside "
            "their similar alerts. Off: its cases stay anonymous. Every change is in the audit log."
        ),
    )


def _changed(make_session: sessionmaker[Session], company: CompanyRef, principal: Principal) -> None:
    share = bool(st.session_state.get(_key(company.id)))
    if principal.role not in EDITORS or (principal.company_id is not None and principal.company_id != company.id):
        st.session_state[FLASH] = ("error", _("Only the company's engineers and admins can change this."))
        return
    try:
        with make_session.begin() as session:
            set_share_notes(session, company_id=company.id, share=share, actor=principal.username)
    except PdmError as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    done = _("{company} now shares its notes") if share else _("{company} no longer shares its notes")
    st.session_state[FLASH] = ("success", done.format(company=company.name))
